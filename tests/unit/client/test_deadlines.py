"""Deadlines end to end over the local transport: a job's deadline, nested calls bounded by it, late actions."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError, DeadlineExceededError
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from tests.async_middleware_probes import HOLD_SECONDS
from tests.unit.client.conftest import MakeClient, transport_of
from tests.unit.client.fakes import ThreadedFakeTransport

LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"


class Report(Action):
    """Returns what the action knows of its deadline."""

    def run(self, request: Any) -> dict[str, Any]:
        return {"deadline": request.deadline, "remaining": request.time_remaining()}


class Sleep(Action):
    def run(self, request: Any) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {}


class BackServer(Server):
    service_name = "back"
    action_class_map = {"report": Report, "sleep": Sleep}


class Forward(Action):
    """Sleeps ``body["sleep"]`` seconds, then calls back.report through request.client (with ``body["timeout"]``)."""

    def run(self, request: Any) -> dict[str, Any]:
        time.sleep(float(request.body.get("sleep", 0)))
        options = {"timeout": request.body["timeout"]} if "timeout" in request.body else {}
        try:
            inner = request.client.call_action("back", "report", **options)
        except DeadlineExceededError as exc:
            return {"refused": str(exc), "client_deadline": request.client.deadline}
        return {"own": request.time_remaining(), "inner": inner.body, "client_deadline": request.client.deadline}


def _local(server_class: type[Server], routing: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "transport": {
            "path": LOCAL,
            "kwargs": {"server_class": server_class, "server_settings": {"client_routing": routing or {}}},
        }
    }


class FrontServer(Server):
    service_name = "front"
    action_class_map = {"forward": Forward}


@pytest.fixture
def client() -> Client:
    return Client({"back": _local(BackServer), "front": _local(FrontServer, {"back": _local(BackServer)})})


def test_an_action_knows_its_jobs_deadline_and_the_time_remaining(client: Client) -> None:
    """With timeout=3 the action sees a deadline about 3 s ahead and a time remaining just under 3 s."""
    before = time.time()
    body = client.call_action("back", "report", timeout=3).body
    assert before + 3 <= body["deadline"] <= time.time() + 3
    assert 2.5 < body["remaining"] <= 3


def test_an_action_called_with_no_expiry_has_no_deadline() -> None:
    """A request without an expiry (the local transport's default) carries no deadline: both are None."""
    client = Client({"back": _local(BackServer)})
    assert client.call_action("back", "report").body == {"deadline": None, "remaining": None}


def test_a_nested_call_gets_the_time_left_less_the_margin(client: Client) -> None:
    """The nested call's own deadline is the outer job's minus the server's nested-call margin."""
    body = client.call_action("front", "forward", {"sleep": 0.3}, timeout=3).body
    assert body["own"] < 2.75
    outer_deadline = body["client_deadline"] + Server.nested_call_margin_seconds
    assert body["inner"]["deadline"] <= outer_deadline - Server.nested_call_margin_seconds
    assert body["inner"]["remaining"] < body["own"]


class AsyncForward(Action):
    """Calls back.report through request.async_client, as :class:`Forward` does through request.client."""

    async def run(self, request: Any) -> dict[str, Any]:
        inner = await request.async_client.call_action("back", "report")
        return {"inner": inner.body, "client_deadline": request.async_client.deadline}


class TwoClientsFrontServer(Server):
    """Calls back.report through its blocking client (``forward``) or its asyncio client (``async_forward``)."""

    service_name = "front"
    action_class_map = {"forward": Forward, "async_forward": AsyncForward}


@pytest.mark.parametrize("action", ["forward", "async_forward"])
def test_a_nested_calls_deadline_ends_with_its_callers_less_the_margin_however_slow_its_send(action: str) -> None:
    """A nested call whose request spends 0.2 s in client middleware still carries the outer deadline less the
    margin, not 0.2 s more: its expiry is worked out from that deadline when its envelope is stamped."""
    # Given a service whose nested calls pass through a middleware that holds each request 0.2 s
    back = {**_local(BackServer), "middleware": [{"path": "tests.async_middleware_probes:HeldSend"}]}
    client = Client({"front": _local(TwoClientsFrontServer, {"back": back})})
    # When one of its jobs, with 3 s to run, calls the next service (blocking or asyncio client)
    body = client.call_action("front", action, timeout=3).body
    # Then the next service's deadline is no later than the caller's deadline less the margin
    assert body["inner"]["deadline"] <= body["client_deadline"]
    assert body["inner"]["deadline"] > body["client_deadline"] - HOLD_SECONDS / 2


def test_a_nested_calls_longer_timeout_is_cut_but_a_shorter_one_is_kept(client: Client) -> None:
    """timeout=30 inside a job with 2 s left gets under 2 s; timeout=0.5 keeps its 0.5 s."""
    cut = client.call_action("front", "forward", {"timeout": 30}, timeout=2).body
    assert cut["inner"]["remaining"] < 2
    kept = client.call_action("front", "forward", {"timeout": 0.5}, timeout=2).body
    assert 0.3 < kept["inner"]["remaining"] <= 0.5


def test_a_nested_call_with_no_time_left_fails_at_once_without_sending(client: Client) -> None:
    """Once the outer deadline (less the margin) has passed, the nested call raises DeadlineExceededError at once."""
    body = client.call_action("front", "forward", {"sleep": 0.5}, timeout=0.5).body
    assert "deadline" in body["refused"]
    assert body["client_deadline"] is not None


class CachingFrontServer(FrontServer):
    """Hands every job the same client (a cache in ``make_client``, as services do to keep connections)."""

    cached: Any = None

    def make_client(self, context: Any, extra_context: Any = None, **kwargs: Any) -> Any:
        if CachingFrontServer.cached is None:
            CachingFrontServer.cached = super().make_client(context, extra_context, **kwargs)
        return CachingFrontServer.cached


def test_a_client_that_make_client_caches_gets_each_jobs_deadline_not_an_old_one() -> None:
    """A job without a deadline after one whose deadline passed: its nested call is made (it was refused with
    the earlier job's deadline)."""
    CachingFrontServer.cached = None
    client = Client({"front": _local(CachingFrontServer, {"back": _local(BackServer)})})
    # Given a job whose deadline passed before its nested call
    assert "refused" in client.call_action("front", "forward", {"sleep": 0.3}, timeout=0.3).body
    # When the next job, with no deadline, gets the same client
    body = client.call_action("front", "forward", {}).body
    # Then its nested call is made, with no deadline
    assert body["client_deadline"] is None
    assert body["inner"] == {"deadline": None, "remaining": None}


def test_a_client_with_a_passed_deadline_refuses_every_kind_of_call(make_client: MakeClient) -> None:
    """Blocking, future, parallel and raw sends all raise DeadlineExceededError and send nothing."""
    client = make_client()
    client.deadline = time.time() - 0.01
    calls = [
        lambda: client.call_action("echo", "a"),
        lambda: client.call_actions_future("echo", [{"action": "a"}]),
        lambda: client.call_actions_parallel("echo", [{"action": "a"}]),
        lambda: client.send_request("echo", [{"action": "a"}]),
    ]
    for call in calls:
        with pytest.raises(DeadlineExceededError):
            call()
    assert transport_of(client).sent == []


def test_a_deadline_exceeded_error_is_a_receive_timeout() -> None:
    """Code that catches MessageReceiveTimeout (PySOA's) also catches the deadline error."""
    assert issubclass(DeadlineExceededError, MessageReceiveTimeout)


def test_a_bounded_call_without_a_timeout_sends_the_time_left_as_its_expiry(make_client: MakeClient) -> None:
    """A client bounded by a deadline 2 s away sends its request with an expiry of at most 2 s."""
    client = make_client()
    client.deadline = time.time() + 2
    client.call_action("echo", "a")
    _request_id, _meta, body, expiry = transport_of(client).sent[0]
    assert expiry is not None and 1.5 < expiry <= 2
    assert body["control"]["timeout"] == 2


def test_a_server_does_not_start_an_action_after_its_jobs_deadline() -> None:
    """Of a job whose first action outlives the deadline, the next action is not run: DEADLINE_EXCEEDED."""
    client = Client({"back": _local(BackServer)})
    with pytest.raises(CallActionError) as info:
        client.call_actions("back", [{"action": "sleep", "body": {"seconds": 0.4}}, {"action": "report"}], timeout=0.3)
    (failed,) = info.value.actions
    assert failed.action == "report"
    assert [e.code for e in failed.errors] == ["DEADLINE_EXCEEDED"]
    assert failed.errors[0].is_caller_error is False


def test_a_futures_result_waits_only_until_the_calls_deadline(make_client: MakeClient) -> None:
    """result() called 0.3 s after a call with timeout=0.5 gives up about 0.2 s later, not 0.5 s later."""
    client = make_client(services={"echo": {"min_delay": 5.0, "max_delay": 5.0}}, transport_class=ThreadedFakeTransport)
    future = client.call_action_future("echo", "a", timeout=0.5)
    time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        future.result()
    assert time.monotonic() - started < 0.4


def test_a_parallel_calls_timeout_bounds_all_its_replies_together(make_client: MakeClient) -> None:
    """Three jobs that never answer in time end one call with timeout=0.3 after about 0.3 s, not 0.9 s."""
    client = make_client(services={"echo": {"min_delay": 5.0, "max_delay": 5.0}}, transport_class=ThreadedFakeTransport)
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.call_actions_parallel("echo", [{"action": "a"}] * 3, timeout=0.3)
    assert time.monotonic() - started < 0.6


def test_a_client_shared_by_jobs_running_at_once_bounds_each_call_by_its_own_jobs_deadline() -> None:
    """Two jobs at once share a cached ``request.client``: each nested call gets its own job's deadline.

    Given a job with 30 s left that calls out after 0.5 s, and a job with 3 s left that starts meanwhile, when
    the first job calls, then its call is bounded by its own deadline (not the 3 s one set last).
    """
    CachingFrontServer.cached = None
    settings = {"front": _local(CachingFrontServer, {"back": _local(BackServer)})}
    started = time.time()
    results: dict[str, Any] = {}

    def call(name: str, timeout: float, sleep: float) -> None:
        body = Client(settings).call_action("front", "forward", {"sleep": sleep}, timeout=timeout).body
        results[name] = body

    long_job = threading.Thread(target=call, args=("long", 30, 0.5))
    long_job.start()
    time.sleep(0.1)
    call("short", 3, 0)
    long_job.join(10)
    assert results["short"]["client_deadline"] < started + 3.5
    assert results["long"]["client_deadline"] > started + 25, "the long job's call got the short job's deadline"
    assert results["long"]["inner"]["deadline"] > started + 25
