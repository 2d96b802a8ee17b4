"""The client against a real Server over the local transport."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.client.middleware import ClientMiddleware
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.local import LocalClientTransport
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server

SERVER_SETTINGS: dict[str, Any] = {}


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"body": request.body, "switches": sorted(request.switches), "cid": request.context["correlation_id"]}


class Fail(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise ActionError([Error(code="NOPE", message="failed on purpose")])


class Nested(Action):
    def run(self, request: Any) -> dict[str, Any]:
        inner = request.client.call_action("echo", "echo", {"from": "nested"})
        return {"inner": inner.body}


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {"echo": Echo, "fail": Fail}


class FrontServer(Server):
    service_name = "front"
    action_class_map = {"nested": Nested}


ECHO_TRANSPORT = {
    "path": "pysoa_like.common.transport.local:LocalClientTransport",
    "kwargs": {"server_class": EchoServer, "server_settings": {}},
}


class MetaMiddleware(ClientMiddleware):
    def request(self, send_request: Any) -> Any:
        def handler(request_id: int, meta: dict[str, Any], job_request: Any, expiry: float | None) -> None:
            meta["from_middleware"] = True
            send_request(request_id, meta, job_request, expiry)

        return handler


@pytest.fixture
def client() -> Client:
    front_transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {
            "server_class": FrontServer,
            "server_settings": {"client_routing": {"echo": {"transport": ECHO_TRANSPORT}}},
        },
    }
    return Client(
        {
            "echo": {"transport": ECHO_TRANSPORT, "middleware": [{"path": f"{__name__}:MetaMiddleware"}]},
            "front": {"transport": front_transport},
        }
    )


def test_call_action_round_trip(client: Client) -> None:
    """A call reaches the real server and returns its response, with switches and correlation id."""
    response = client.call_action("echo", "echo", {"x": (1, 2)}, switches=[3], correlation_id="cid-1")
    assert response.body == {"body": {"x": [1, 2]}, "switches": [3], "cid": "cid-1"}
    assert isinstance(client.handlers["echo"].transport, LocalClientTransport)


def test_action_errors_from_the_server(client: Client) -> None:
    """An ActionError in the service becomes CallActionError on the client."""
    with pytest.raises(CallActionError) as info:
        client.call_action("echo", "fail")
    assert info.value.actions[0].errors[0].code == "NOPE"


def test_futures_resolved_in_reverse_order(client: Client) -> None:
    """Two futures on the local transport resolve in reverse order with their own replies."""
    first = client.call_action_future("echo", "echo", {"n": 1})
    second = client.call_action_future("echo", "echo", {"n": 2})
    assert second.result().body["body"] == {"n": 2}
    assert first.result().body["body"] == {"n": 1}


def test_suppressed_then_blocking_and_parallel(client: Client) -> None:
    """A suppressed request does not disturb the blocking and parallel calls that follow."""
    client.send_request("echo", [{"action": "echo"}], suppress_response=True)
    assert client.call_action("echo", "echo", {"n": 1}).body["body"] == {"n": 1}
    results = client.call_actions_parallel("echo", [{"action": "echo", "body": {"n": i}} for i in range(3)])
    assert [r.body["body"] for r in results] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_unknown_local_reply_means_timeout(client: Client) -> None:
    """Waiting on the local transport for a reply that will never come times out at once."""
    from pysoa_like.common.transport.errors import MessageReceiveTimeout

    handler = client._get_handler("echo")
    with pytest.raises(MessageReceiveTimeout):
        handler.get_response(-1)


def test_nested_call_through_request_client(client: Client) -> None:
    """An action calling another service through request.client passes the correlation id on."""
    response = client.call_action("front", "nested", correlation_id="outer-cid")
    assert response.body["inner"] == {"body": {"from": "nested"}, "switches": [], "cid": "outer-cid"}
