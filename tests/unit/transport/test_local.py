"""The local transport: a full server pipeline in-process, with a serialization round trip."""

from __future__ import annotations

import asyncio
import copy
import datetime
import threading
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.serializer.errors import InvalidField
from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import MessageTooLarge
from pysoa_like.common.transport.local import LocalClientTransport, LocalServerTransport
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

LOCAL_SERVER = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}


class Echo(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("unserializable"):
            return {"value": object()}
        if "repeat" in request.body:
            return {"x": "y" * request.body["repeat"]}
        return {"body": request.body, "context": request.context}


class Sleeper(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        async def nap() -> str:
            await asyncio.sleep(0.001)
            return "awake"

        assert request.run_coroutine is not None
        return {"state": request.run_coroutine(nap()).result(timeout=5)}


class Inner(Server):
    service_name = "inner"
    action_class_map = {"echo": Echo, "sleep": Sleeper}


class CallsInner(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        response = request.client.call_action("inner", "echo", {"from": "outer"}, context={"custom": "kept"})
        return dict(response.body)


def _inner_route() -> dict[str, Any]:
    return {
        "transport": {
            "path": "pysoa_like.common.transport.local:LocalClientTransport",
            "kwargs": {"server_class": Inner, "server_settings": LOCAL_SERVER},
        }
    }


class Outer(Server):
    service_name = "outer"
    action_class_map = {"calls_inner": CallsInner}


SETTINGS_WITH_ROUTING = {**LOCAL_SERVER, "client_routing": {"inner": _inner_route()}}


def _client(server_class: type[Server], server_settings: Any, **kwargs: Any) -> Client:
    config = {
        "transport": {
            "path": "pysoa_like.common.transport.local:LocalClientTransport",
            "kwargs": {"server_class": server_class, "server_settings": server_settings, **kwargs},
        }
    }
    return Client({server_class.service_name: config})  # type: ignore[dict-item]


def _meta() -> dict[str, Any]:
    return {"client_version": [1, 5, 0]}


def _job(action: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "c1", "switches": []},
        "actions": [{"action": action, "body": body}],
    }


def test_send_runs_the_server_and_queues_the_reply() -> None:
    """A sent request is handled at once and its reply waits for ``receive_response_message``."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    transport.send_request_message(7, _meta(), _job("echo", {"a": 1}))
    request_id, meta, body = transport.receive_response_message()
    assert request_id == 7 and meta == _meta()
    assert body is not None and body["actions"][0]["body"]["body"] == {"a": 1}
    assert transport.receive_response_message() == ReceivedMessage(None, None, None)


def test_server_settings_dict_is_not_mutated() -> None:
    """The caller's server settings keep their own transport."""
    settings = {"transport": {"path": "tests.unit.server._helpers:QueueServerTransport"}}
    original = copy.deepcopy(settings)
    transport = LocalClientTransport("inner", None, Inner, settings)
    assert settings == original
    assert transport.server.transport is transport


def test_import_paths_are_accepted() -> None:
    """``server_class`` and ``server_settings`` may be import paths."""
    transport = LocalClientTransport("inner", None, f"{__name__}:Inner", f"{__name__}.LOCAL_SERVER")
    assert isinstance(transport.server, Inner)


def test_service_name_mismatch_is_a_clear_error() -> None:
    """A server class for another service is refused, naming both services."""
    with pytest.raises(ValueError, match=r"'other'.*'inner'"):
        LocalClientTransport("other", None, Inner, LOCAL_SERVER)


def test_setup_runs_at_construction() -> None:
    """The server's ``setup`` runs when the transport is built."""
    calls: list[str] = []

    class WithSetup(Inner):
        def setup(self) -> None:
            calls.append("setup")

    LocalClientTransport("inner", None, WithSetup, LOCAL_SERVER)
    assert calls == ["setup"]


def test_unserializable_request_fails_in_the_client() -> None:
    """A request body that could not cross Redis raises ``InvalidField`` at send time."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    with pytest.raises(InvalidField):
        transport.send_request_message(1, _meta(), _job("echo", {"bad": object()}))


def test_unserializable_response_becomes_response_not_serializable() -> None:
    """A response body that could not cross Redis becomes RESPONSE_NOT_SERIALIZABLE with the correlation id."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    transport.send_request_message(1, _meta(), _job("echo", {"unserializable": True}))
    body = transport.receive_response_message().body
    assert body is not None
    assert [e["code"] for e in body["errors"]] == ["RESPONSE_NOT_SERIALIZABLE"]
    assert body["context"] == {"correlation_id": "c1"}


def test_serialization_round_trip_converts_like_redis() -> None:
    """Tuples come back as lists and datetimes survive, as over Redis."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    transport.send_request_message(1, _meta(), _job("echo", {"t": (1, 2), "when": when}))
    body = transport.receive_response_message().body
    assert body is not None and body["actions"][0]["body"]["body"] == {"t": [1, 2], "when": when}


def test_serialization_can_be_turned_off() -> None:
    """With ``serialize_messages=False`` bodies pass by reference, so unserializable values get through."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER, serialize_messages=False)
    marker = object()
    transport.send_request_message(1, _meta(), _job("echo", {"obj": marker}))
    body = transport.receive_response_message().body
    assert body is not None and body["actions"][0]["body"]["body"]["obj"] is marker


def test_maximum_message_size_applies_to_requests_and_responses() -> None:
    """Oversized requests raise ``MessageTooLarge``; oversized responses become RESPONSE_TOO_LARGE."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER, maximum_message_size_in_bytes=300)
    with pytest.raises(MessageTooLarge):
        transport.send_request_message(1, _meta(), _job("echo", {"x": "y" * 400}))
    transport.send_request_message(2, _meta(), _job("echo", {"repeat": 400}))
    body = transport.receive_response_message().body
    assert body is not None and [e["code"] for e in body["errors"]] == ["RESPONSE_TOO_LARGE"]


def test_replies_are_per_thread() -> None:
    """A reply is received only by the thread that sent the request."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    transport.send_request_message(1, _meta(), _job("echo", {}))
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.append(transport.receive_response_message()))
    thread.start()
    thread.join()
    assert seen == [ReceivedMessage(None, None, None)]
    assert transport.receive_response_message().request_id == 1


def test_local_server_transport_is_a_placeholder() -> None:
    """Using ``LocalServerTransport`` directly raises."""
    with pytest.raises(TypeError):
        LocalServerTransport("inner").receive_request_message()


def test_client_call_through_local_transport_runs_validation_and_status() -> None:
    """A real ``Client`` over the local transport gets validated, dispatched responses."""
    client = _client(Inner, LOCAL_SERVER)
    assert client.call_action("inner", "status", {"verbose": False}).body["pysoa"]
    with pytest.raises(Client.CallActionError) as info:
        client.call_action("inner", "nope")
    assert info.value.actions[0].errors[0].code == "UNKNOWN"


def test_nested_calls_chain_context_between_local_services() -> None:
    """``request.client`` carries correlation id, switches, custom keys and ``calling_service`` to the next service."""
    client = _client(Outer, SETTINGS_WITH_ROUTING)
    body = client.call_action(
        "outer", "calls_inner", correlation_id="corr-9", switches=[3], context={"auth": "token-1"}
    ).body
    context = body["context"]
    assert context["correlation_id"] == "corr-9"
    assert context["switches"] == [3]
    assert context["auth"] == "token-1" and context["custom"] == "kept"
    assert context["calling_service"] == "outer"
    assert body["body"] == {"from": "outer"}


def test_run_coroutine_works_under_the_local_transport() -> None:
    """``request.run_coroutine`` futures complete under the local transport (they never did in PySOA)."""
    transport = LocalClientTransport("inner", None, Inner, LOCAL_SERVER)
    try:
        transport.send_request_message(1, _meta(), _job("sleep", {}))
        body = transport.receive_response_message().body
        assert body is not None and body["actions"][0]["body"] == {"state": "awake"}
    finally:
        transport.close()


def test_aclose_on_one_event_loop_leaves_the_calls_of_other_loops_alone() -> None:
    """A loop closing its side of a shared asyncio local transport does not drop another loop's reply.

    Given a request sent from a loop in another thread, when the first loop closes the transport before that
    request's reply is awaited, then the other loop still receives its reply (the job ran before the close).
    """
    transport = LocalClientTransport.asyncio_transport("inner", None, server_class=Inner, server_settings=LOCAL_SERVER)
    sent, closed = threading.Event(), threading.Event()
    outcome: list[Any] = []

    async def other_loop() -> None:
        await transport.send_request_message(5, _meta(), _job("echo", {"n": 5}))
        sent.set()
        await asyncio.get_running_loop().run_in_executor(None, closed.wait, 5)
        outcome.append(await transport.receive_response_message(5, 5))

    thread = threading.Thread(target=asyncio.run, args=(other_loop(),))
    thread.start()
    try:
        assert sent.wait(5)

        async def close() -> None:
            await transport.aclose()

        asyncio.run(close())
    finally:
        closed.set()
        thread.join(10)
    [reply] = outcome
    assert reply.request_id == 5 and reply.body["actions"][0]["body"]["body"] == {"n": 5}


_LOCAL_TRANSPORT_PATH = "pysoa_like.common.transport.local:LocalClientTransport"


class _SvcServer(Server):
    service_name = "svc"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"server_class": "no_such_module:Server", "server_settings": {}},
            "server_class 'no_such_module:Server' of the local transport for service 'svc' cannot be imported: "
            "No module named 'no_such_module'",
        ),
        (
            {"server_class": "pysoa_like.server.server:NoSuchServer", "server_settings": {}},
            "server_class 'pysoa_like.server.server:NoSuchServer' of the local transport for service 'svc' cannot be "
            "imported: ",
        ),
        (
            {"server_class": _SvcServer, "server_settings": "no_such_module.SETTINGS"},
            "server_settings 'no_such_module.SETTINGS' of the local transport for service 'svc' cannot be imported: ",
        ),
    ],
)
def test_an_import_path_that_names_nothing_is_a_settings_error_naming_it(kwargs: dict[str, object], words: str) -> None:
    """A mistyped ``server_class`` or ``server_settings`` path fails the first call with a ValueError naming the setting
    and the service (it was the import's bare ModuleNotFoundError or AttributeError)."""
    client = Client({"svc": {"transport": {"path": _LOCAL_TRANSPORT_PATH, "kwargs": kwargs}}})
    with pytest.raises(ValueError) as caught:
        client.call_action("svc", "anything")
    assert str(caught.value).startswith(words), caught.value
