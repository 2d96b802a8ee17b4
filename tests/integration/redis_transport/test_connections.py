"""Connections: URLs, TLS, ACL users, the backend cache, and reconnecting after Redis restarts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError
from pysoa_like.common.transport.redis_gateway.backend.base import normalize_host
from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.test.redis import RedisServerProcess
from tests.integration.redis_transport._helpers import job_request, job_response, tls_capable_redis


def _round_trip(settings: dict[str, Any]) -> None:
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.5, **settings)
    client.send_request_message(1, {}, job_request())
    request_id, meta, _ = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response())
    assert client.receive_response_message(1).request_id == 1


def test_unix_socket_url_host() -> None:
    """A unix:// URL works as a host (PySOA could not use URL hosts)."""
    with RedisServerProcess(unix_socket=True) as server:
        _round_trip({"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [server.unix_url]}})


def test_host_port_string_and_redis_db(redis_server: RedisServerProcess) -> None:
    """'host:port' strings and redis_db select the server and database."""
    redis_server.flush()
    host = f"{redis_server.host}:{redis_server.port}"
    _round_trip({"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [host], "redis_db": 3}})
    with redis_server.client(db=3) as client:
        assert client.exists("pysoa:service.echo") == 0  # consumed, but the database was reachable


def test_bare_host_uses_redis_port(redis_server: RedisServerProcess) -> None:
    """A bare host name gets redis_port (PySOA's string-host form)."""
    redis_server.flush()
    settings = {"hosts": [redis_server.host], "redis_port": redis_server.port}
    _round_trip({"backend_type": "redis.standard", "backend_layer_kwargs": settings})


def test_sentinel_string_hosts_default_to_26379() -> None:
    """Sentinel hosts given as bare names get port 26379 (PySOA gave them 6379, its bug 13)."""
    backend = SentinelRedisClient(hosts=["127.0.0.1", ("10.0.0.2", 5000)], sentinel_services=["svc"])
    assert backend.sentinel_addresses == [("127.0.0.1", 26379), ("10.0.0.2", 5000)]
    assert normalize_host("sentinel.example:26380", 26379) == ("sentinel.example", 26380)


def test_tls_with_password() -> None:
    """TLS (rediss:// with the CA in connection_kwargs) and a password both work through connection_kwargs."""
    with RedisServerProcess(tls=True, password="s3cret", binary=tls_capable_redis()) as server:
        kwargs = {**server.tls_files.client_kwargs(), "password": "s3cret"}
        for hosts in ([f"rediss://{server.host}:{server.port}/0"], [server.address]):
            layer = {"hosts": hosts, "connection_kwargs": kwargs}
            _round_trip({"backend_type": "redis.standard", "backend_layer_kwargs": layer})


def test_acl_user() -> None:
    """An ACL username and password in connection_kwargs authenticate; a wrong password fails the send."""
    acl = ["--user", "default", "off", "--user", "svc", "on", ">pw", "~pysoa:*", "+@all"]
    with RedisServerProcess(extra_args=acl, client_kwargs={"username": "svc", "password": "pw"}) as server:
        good = {"hosts": [server.address], "connection_kwargs": {"username": "svc", "password": "pw"}}
        _round_trip({"backend_type": "redis.standard", "backend_layer_kwargs": good})
        bad = {"hosts": [server.address], "connection_kwargs": {"username": "svc", "password": "nope"}}
        client = RedisClientTransport("echo", backend_type="redis.standard", backend_layer_kwargs=bad)
        with pytest.raises(MessageSendError):
            client.send_request_message(1, {}, job_request())


def test_backend_is_shared_per_settings(redis_url: str) -> None:
    """Client transports with equal backend settings share one backend, server transports another (a worker's
    connections carry only its own commands); different settings get their own."""
    settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
    first = RedisClientTransport("a", **settings)  # type: ignore[arg-type]
    second = RedisClientTransport("b", **settings)  # type: ignore[arg-type]
    server = RedisServerTransport("b", **settings)  # type: ignore[arg-type]
    other_server = RedisServerTransport("c", **settings)  # type: ignore[arg-type]
    other = RedisClientTransport(
        "a", backend_type="redis.standard", backend_layer_kwargs={"hosts": [redis_url, redis_url]}
    )
    assert first.core.backend_layer is second.core.backend_layer
    assert server.core.backend_layer is other_server.core.backend_layer
    assert server.core.backend_layer is not first.core.backend_layer
    assert first.core.backend_layer is not other.core.backend_layer


def test_redis_restart_fails_fast_then_reconnects() -> None:
    """While Redis is down, sends and receives fail with transient errors quickly; after it returns, both work."""
    with RedisServerProcess() as server:
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [server.address]}}
        client = RedisClientTransport("echo", **settings)  # type: ignore[arg-type]
        transport = RedisServerTransport("echo", receive_timeout_in_seconds=0.5, **settings)  # type: ignore[arg-type]
        _round_trip(settings)
        client.send_request_message(1, {}, job_request())
        transport.receive_request_message()

        port = server.port
        server.kill()
        started = time.monotonic()
        with pytest.raises(MessageSendError):
            client.send_request_message(2, {}, job_request())
        with pytest.raises(MessageReceiveError):
            transport.receive_request_message()
        assert time.monotonic() - started < 3.0

        server.start()
        assert server.port == port
        client.send_request_message(3, {}, job_request())
        assert transport.receive_request_message().request_id == 3


def test_pop_interrupted_by_a_dying_server_does_not_hang() -> None:
    """A blocked receive fails with MessageReceiveError when Redis dies under it, instead of hanging."""
    import threading

    with RedisServerProcess() as server:
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [server.address]}}
        transport = RedisServerTransport("echo", receive_timeout_in_seconds=10, **settings)  # type: ignore[arg-type]
        killer = threading.Timer(0.3, server.kill)
        killer.start()
        started = time.monotonic()
        with pytest.raises(MessageReceiveError):
            transport.receive_request_message()
        killer.join()
        assert time.monotonic() - started < 5.0
