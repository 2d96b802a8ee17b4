"""Minimum service versions on the client, deprecated actions, and the fleet settings (no Redis)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client._fleet import VERSION_RECHECK_SECONDS, VersionGate, resolve_client_fleet
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.errors import DeprecatedActionWarning
from pysoa_like.common.settings import SettingsError
from pysoa_like.common.types import ActionResponse
from pysoa_like.fleet.errors import FleetConnectionError, FleetNotConfiguredError, ServiceVersionError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.server.action.base import Action
from pysoa_like.server.action.status import StatusActionFactory
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.server import close_client, local_client_settings
from tests.asyncio_checks import forbid_worker_threads

LOCAL_SETTINGS: dict[str, Any] = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}
REDIS_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


class NewAction(Action):
    """The current way."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"new": True}


class OldAction(Action):
    """The old way."""

    deprecated = "use new instead"

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"old": True}


class OlderAction(NewAction):
    deprecated = True


class VersionedServer(Server):
    service_name = "versioned"
    service_version = "2.3.0"
    action_class_map = {"new": NewAction, "old": OldAction, "older": OlderAction}


@pytest.fixture
def client() -> Iterator[Client]:
    client = Client(local_client_settings(VersionedServer, LOCAL_SETTINGS))
    yield client
    close_client(client)


def test_calling_a_deprecated_action_warns_the_caller(client: Client) -> None:
    """The response still comes, with a DeprecatedActionWarning naming the service, action and message."""
    with pytest.warns(DeprecatedActionWarning, match='Action "old" of service versioned is deprecated: use new'):
        assert client.call_action("versioned", "old").body == {"old": True}


def test_every_deprecated_action_of_a_job_warns_once(client: Client) -> None:
    """A job running two deprecated actions warns for each; a job running none does not warn."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.call_actions("versioned", [{"action": "old"}, {"action": "older"}, {"action": "new"}])
        client.call_action("versioned", "new")
    assert sorted(w.message.action for w in caught if isinstance(w.message, DeprecatedActionWarning)) == [
        "old",
        "older",
    ]
    assert len(caught) == 2


def test_deprecation_rides_in_the_response_context(client: Client) -> None:
    """The server lists the deprecated actions a job ran in the response context (PySOA clients ignore it)."""
    with pytest.warns(DeprecatedActionWarning):
        response = client.call_actions("versioned", [{"action": "older"}])
    assert response.context["deprecated_actions"] == {"older": "This action is deprecated"}


def test_introspection_marks_deprecated_actions(client: Client) -> None:
    """introspect gives a deprecated action a `deprecated` message and a DEPRECATED documentation prefix."""
    described = client.call_action("versioned", "introspect").body["actions"]
    assert described["old"]["deprecated"] == "use new instead"
    assert described["old"]["documentation"] == "DEPRECATED: use new instead\n\nThe old way."
    assert "deprecated" not in described["new"]
    schema = described["introspect"]["response_schema"]["contents"]["actions"]["value_type"]
    assert "deprecated" in schema["contents"] and schema["optional_keys"] == ["deprecated"]


def test_service_version_is_declared_once() -> None:
    """service_version feeds status; else a StatusActionFactory's version is the service version."""
    server = VersionedServer(LOCAL_SETTINGS)
    assert server.get_service_version() == "2.3.0"
    client = Client(local_client_settings(VersionedServer, LOCAL_SETTINGS))
    try:
        assert client.call_action("versioned", "status", {"verbose": False}).body["version"] == "2.3.0"
    finally:
        close_client(client)

    class FactoryVersioned(Server):
        service_name = "factory"
        action_class_map = {"status": StatusActionFactory("7.1")}

    assert FactoryVersioned(LOCAL_SETTINGS).get_service_version() == "7.1"


def test_minimum_version_over_the_local_transport_checks_the_local_server() -> None:
    """A minimum the in-process server meets lets calls through; a higher one refuses them clearly."""
    settings = local_client_settings(VersionedServer, LOCAL_SETTINGS)
    ok = Client({"versioned": dict(settings["versioned"], minimum_version="2.3")})
    too_new = Client({"versioned": dict(settings["versioned"], minimum_version="2.10")})
    try:
        assert ok.call_action("versioned", "new").body == {"new": True}
        with pytest.raises(ServiceVersionError) as caught:
            too_new.call_action("versioned", "new")
        assert str(caught.value) == (
            "Service versioned must be at version 2.10 or later, but only older versions are alive (2.3.0)"
        )
        assert caught.value.live_versions == ("2.3.0",)
    finally:
        close_client(ok)
        close_client(too_new)


def test_asyncclient_minimum_version_over_the_local_transport_checks_the_server_on_the_loop() -> None:
    """An AsyncClient's check passes or refuses as Client's does, without a worker thread."""
    settings = local_client_settings(VersionedServer, LOCAL_SETTINGS)

    async def calls() -> tuple[ActionResponse, ServiceVersionError]:
        forbid_worker_threads()
        async with AsyncClient({"versioned": dict(settings["versioned"], minimum_version="2.3")}) as ok:
            response = await ok.call_action("versioned", "new")
        async with AsyncClient({"versioned": dict(settings["versioned"], minimum_version="2.10")}) as too_new:
            with pytest.raises(ServiceVersionError) as caught:
                await too_new.call_action("versioned", "new")
        return response, caught.value

    response, refusal = asyncio.run(calls())
    assert response.body == {"new": True}
    assert refusal.live_versions == ("2.3.0",)


class _Versions:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.reads = 0

    def __call__(self) -> list[str]:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return list(answer)


def test_gate_trusts_a_pass_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a pass the registry is not read again until VERSION_RECHECK_SECONDS have gone by."""
    now = [1000.0]
    monkeypatch.setattr("pysoa_like.client._fleet.time.monotonic", lambda: now[0])
    versions = _Versions(["1.5"], ["1.0"])
    gate = VersionGate("svc", "1.4", versions)
    gate.check()
    gate.check()
    assert versions.reads == 1
    now[0] += VERSION_RECHECK_SECONDS + 1
    with pytest.raises(ServiceVersionError, match=r"only older versions are alive \(1\.0\)"):
        gate.check()


def test_gate_refusal_names_unregistered_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no live instance registered, the error says so (and why PySOA servers never appear)."""
    gate = VersionGate("svc", "1.4", _Versions([]))
    with pytest.raises(ServiceVersionError, match="no live instance is in the service registry"):
        gate.check()


def test_gate_lets_calls_through_when_the_registry_cannot_be_read(caplog: pytest.LogCaptureFixture) -> None:
    """A registry read failure blocks nothing (the call reports Redis problems itself), logged once."""
    gate = VersionGate("svc", "1.4", _Versions(FleetConnectionError("down")))
    gate.check()
    gate.check()
    assert [r.message for r in caplog.records].count(
        "Cannot check the minimum version 1.4 of service svc (calling it anyway): down"
    ) == 1


def test_registry_ttl_must_outlast_the_refresh_interval() -> None:
    """A ttl not longer than the refresh interval is refused at startup, naming the keys."""
    with pytest.raises(SettingsError, match=r"registry\.ttl_seconds: must be more than registry\.refresh_interval"):
        VersionedServer(dict(LOCAL_SETTINGS, registry={"refresh_interval_seconds": 5, "ttl_seconds": 5}))


def _redis_service(url: str) -> dict[str, Any]:
    return {"transport": {"path": REDIS_CLIENT_TRANSPORT, "kwargs": {
        "backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [url]}}}}  # fmt: skip


def test_client_fleet_comes_from_its_redis_services() -> None:
    """Services sharing one Redis make it the fleet's Redis; an explicit fleet wins; nothing to go on is an error."""
    client = Client({"a": _redis_service("redis://h:1/0"), "b": _redis_service("redis://h:1/0")})
    assert client.fleet_redis().backend_layer_kwargs == {"hosts": ["redis://h:1/0"]}
    explicit = FleetRedis("redis.standard", {"hosts": ["redis://other:2/0"]})
    assert resolve_client_fleet(explicit, client.settings) is explicit
    with pytest.raises(FleetNotConfiguredError, match="use different Redis"):
        Client({"a": _redis_service("redis://h:1/0"), "b": _redis_service("redis://h:2/0")}).fleet_redis()
    with pytest.raises(FleetNotConfiguredError, match="pass fleet="):
        Client(local_client_settings(VersionedServer, LOCAL_SETTINGS)).list_services()
