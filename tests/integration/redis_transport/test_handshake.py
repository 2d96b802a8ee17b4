"""How a connection starts, the same through both drivers: the settings the core reads, the handshake it plans.

Each test runs a real call through the blocking ``Client`` and through ``AsyncClient`` (the asyncio driver)
against a throwaway Redis, and looks at what Redis saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.test.redis import RedisServerProcess
from tests.integration.redis_transport._helpers import tls_capable_redis
from tests.integration.redis_transport.test_asyncio_client import client_of, serving

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
DRIVERS = ["blocking", "asyncio"]


def _square(driver: str, settings: dict[str, Any], number: int = 3, then: Callable[[], Any] = list) -> Any:
    """One call of the example service through ``driver``'s client: the reply's body, and what ``then()`` says
    right after the call (while the client's connections are open)."""
    if driver == "blocking":
        client = Client({"example": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": settings}}})
        return client.call_action("example", "square", {"number": number}, timeout=5).body, then()

    async def call() -> Any:
        async with client_of(settings) as client:
            return (await client.call_action("example", "square", {"number": number}, timeout=5)).body, then()

    return asyncio.run(call())


def _settings(address: Any, **connection_kwargs: Any) -> dict[str, Any]:
    layer = {"hosts": [address], "connection_kwargs": connection_kwargs}
    return {"backend_type": "redis.standard", "backend_layer_kwargs": layer}


@pytest.mark.parametrize("driver", DRIVERS)
def test_an_empty_password_means_no_password(driver: str) -> None:
    """``password=""`` against a Redis without a password works: no AUTH is sent (Redis would refuse it)."""
    with RedisServerProcess() as server:
        settings = _settings(server.address, password="")
        with serving(settings):
            assert _square(driver, settings)[0] == {"square": 9}


@pytest.mark.parametrize("driver", DRIVERS)
def test_user_database_name_and_resp3_reach_redis(driver: str) -> None:
    """An ACL user, ``db``, ``client_name`` and ``protocol=3`` are what Redis sees on the client's connections."""
    acl = ["--user", "default", "off", "--user", "svc", "on", ">pw", "~pysoa:*", "+@all"]
    with RedisServerProcess(extra_args=acl, client_kwargs={"username": "svc", "password": "pw"}) as server:
        server_settings = _settings(server.address, username="svc", password="pw", db=2)
        client_settings = _settings(
            server.address, username="svc", password="pw", db=2, client_name=f"{driver}-caller", protocol=3
        )
        with serving(server_settings), server.client() as raw:

            def named() -> list[dict[str, Any]]:
                return [entry for entry in raw.client_list() if entry.get("name") == f"{driver}-caller"]

            body, connections = _square(driver, client_settings, 4, then=named)
    assert body == {"square": 16}
    assert connections, "the client's connections carry its name"
    # Redis before 7 does not list the RESP version.
    assert {(entry["user"], entry["db"], entry.get("resp", "3")) for entry in connections} == {("svc", "2", "3")}


@pytest.mark.parametrize("driver", DRIVERS)
def test_refused_credentials_fail_the_call_saying_so(driver: str) -> None:
    """A wrong password fails the call with a transport error that says the credentials were refused."""
    acl = ["--user", "default", "off", "--user", "svc", "on", ">pw", "~pysoa:*", "+@all"]
    with (
        RedisServerProcess(extra_args=acl, client_kwargs={"username": "svc", "password": "pw"}) as server,
        pytest.raises(PySOATransportError) as failure,
    ):
        _square(driver, _settings(server.address, username="svc", password="nope"))
    text = f"{failure.value} {failure.value.__cause__}".lower()
    assert "auth" in text or "password" in text


@pytest.mark.parametrize("driver", DRIVERS)
def test_tls_verifies_the_server_and_its_host_name(driver: str) -> None:
    """Over TLS with the CA given, a call works; without the CA the server's certificate is refused."""
    with RedisServerProcess(tls=True, binary=tls_capable_redis()) as server:
        assert server.tls_files is not None
        trusted = {"ssl": True, "ssl_ca_certs": server.tls_files.ca_cert}
        with serving(_settings(server.address, **trusted)):
            assert _square(driver, _settings(server.address, **trusted))[0] == {"square": 9}
            assert _square(driver, _settings(f"rediss://localhost:{server.port}/0", **trusted))[0] == {"square": 9}
            with pytest.raises(PySOATransportError):
                _square(driver, _settings(server.address, ssl=True))


@pytest.mark.parametrize("backend_type", ["redis.standard", "redis.sentinel", "redis.cluster"])
def test_a_connection_setting_no_driver_honours_is_refused_by_name_when_the_backend_is_made(backend_type: str) -> None:
    """Every backend refuses an unknown ``connection_kwargs`` key at once, naming it (no Redis is contacted)."""
    from pysoa_like.common.transport.redis_gateway.backend import make_backend

    layer: dict[str, Any] = {"hosts": [("127.0.0.1", 1)], "connection_kwargs": {"ssl_warp_drive": True}}
    if backend_type == "redis.sentinel":
        layer["sentinel_services"] = ["svc"]
    with pytest.raises(ValueError, match="ssl_warp_drive"):
        make_backend(backend_type, layer)
