"""Calls go through send_request and get_all_responses when those are overridden or patched, as in PySOA."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import PySOAClientError
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.compatibility import mock
from pysoa_like.test.server import close_client, local_client_settings
from tests.unit.testing_toolkit._services import RAN, EchoServer


class RecordingClient(Client):
    """Adds a context key in send_request and records every reply get_all_responses yields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[str, list[Any]]] = []
        self.yielded: list[Any] = []

    def send_request(self, service_name: str, actions: Any, **kwargs: Any) -> int:  # type: ignore[override]
        actions = list(actions)
        self.sent.append((service_name, [a["action"] if isinstance(a, dict) else a.action for a in actions]))
        kwargs["context"] = dict(kwargs.get("context") or {}, added_by="override")
        return super().send_request(service_name, actions, **kwargs)

    def get_all_responses(  # type: ignore[override]
        self, service_name: str, receive_timeout_in_seconds: float | None = None
    ) -> Generator[tuple[int, JobResponse], None, None]:
        for request_id, response in super().get_all_responses(service_name, receive_timeout_in_seconds):
            self.yielded.append(request_id)
            yield request_id, response


@pytest.fixture
def recording() -> Iterator[RecordingClient]:
    RAN.clear()
    client = RecordingClient(local_client_settings(EchoServer, {}))
    yield client
    close_client(client)


def test_blocking_calls_go_through_overridden_methods(recording: RecordingClient) -> None:
    """call_action, call_actions, call_actions_parallel and call_jobs_parallel all use the overrides."""
    assert recording.call_action("echo", "echo", {"a": 1}).body == {"a": 1}
    assert [a.body for a in recording.call_actions("echo", [{"action": "echo", "body": {"b": 2}}]).actions] == [
        {"b": 2}
    ]
    parallel = recording.call_actions_parallel("echo", [{"action": "echo", "body": {"n": n}} for n in range(3)])
    assert [r.body for r in parallel] == [{"n": 0}, {"n": 1}, {"n": 2}]
    jobs = recording.call_jobs_parallel([{"service_name": "echo", "actions": [{"action": "echo2"}]}])
    assert [j.actions[0].action for j in jobs] == ["echo2"]
    assert [names for _, names in recording.sent] == [["echo"], ["echo"], ["echo"], ["echo"], ["echo"], ["echo2"]]
    assert len(recording.yielded) == 6


class ContextAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"added_by": request.context.get("added_by")}


class ContextServer(Server):
    service_name = "ctx"
    action_class_map = {"context": ContextAction}


def test_what_the_override_adds_reaches_the_server() -> None:
    """The context key send_request adds arrives at the server: the override really carries the call."""
    client = RecordingClient(local_client_settings(ContextServer, {}))
    try:
        assert client.call_action("ctx", "context").body == {"added_by": "override"}
        assert client.call_action_future("ctx", "context").result().body == {"added_by": "override"}
    finally:
        close_client(client)


def test_patching_the_class_methods_replaces_the_transport() -> None:
    """Patching Client.send_request/get_all_responses (PySOA-era tests do) is all a call goes through."""
    canned = JobResponse(actions=[ActionResponse(action="get", body={"patched": True})])
    with (
        mock.patch.object(Client, "send_request", return_value=41) as send_request,
        mock.patch.object(Client, "get_all_responses", return_value=iter([(41, canned)])),
    ):
        assert Client({}).call_action("nowhere", "get", {"x": 1}).body == {"patched": True}
    assert send_request.call_args.args == ("nowhere", [ActionRequest(action="get", body={"x": 1})])


def test_patching_on_the_instance_works_too() -> None:
    """A patch on one client object (mock.patch.object(client, ...)) is honoured as well."""
    client = Client({})
    canned = JobResponse(actions=[ActionResponse(action="get", body={"instance": True})])
    with (
        mock.patch.object(client, "send_request", return_value=7),
        mock.patch.object(client, "get_all_responses", side_effect=lambda *a, **k: iter([(7, canned)])),
    ):
        assert client.call_action("svc", "get").body == {"instance": True}
        assert client.call_action_future("svc", "get").result().body == {"instance": True}


def test_a_get_all_responses_without_the_reply_is_a_clear_error() -> None:
    """If the replaced get_all_responses never yields the call's reply, the call says so."""
    client = Client({})
    with (
        mock.patch.object(client, "send_request", return_value=7),
        mock.patch.object(client, "get_all_responses", return_value=iter([(8, JobResponse())])),
        pytest.raises(PySOAClientError, match=r"without the response to request 7 \(it gave responses to \[8\]\)"),
    ):
        client.call_action("svc", "get")


def test_replies_pulled_for_other_requests_are_not_lost(recording: RecordingClient) -> None:
    """A reply to an earlier send_request, pulled while a call waited for its own, is still yielded later."""
    earlier = recording.send_request("echo", [{"action": "echo", "body": {"earlier": True}}])
    assert recording.call_action("echo", "echo", {"now": True}).body == {"now": True}
    later = list(recording.get_all_responses("echo", receive_timeout_in_seconds=5))
    assert [(rid, r.actions[0].body) for rid, r in later] == [(earlier, {"earlier": True})]
