"""Circuit breakers, bulkheads, retries and fallbacks of the client, against in-test transports."""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import BulkheadFullError, CallActionError, CircuitOpenError
from pysoa_like.client.fallbacks import Fallback, FallbackActionResponse, FallbackJobResponse
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
    PySOATransportError,
    QueueFullSendError,
)
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import PushBackError
from pysoa_like.server.server import Server
from tests.unit.client.fakes import FakeClientTransport, ThreadedFakeTransport, echo_responder, transport_config

# A cool-down far longer than a test: an open breaker stays open however slowly a busy machine runs the test (with
# 0.2 s, a pause between the call that opened it and the next one turned that call into a probe). The test of the
# probe sets a short one.
BREAKER = {"failure_ratio": 0.5, "minimum_calls": 4, "window_seconds": 10, "cool_down_seconds": 30}


def _failing(code: str = "SERVER_ERROR", caller: bool = False) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def respond(body: dict[str, Any]) -> dict[str, Any]:
        error = {"code": code, "message": "failed", "is_caller_error": caller}
        return {
            "errors": [],
            "context": {},
            "actions": [{"action": a["action"], "errors": [error]} for a in body["actions"]],
        }

    return respond


class Switchable:
    """A responder that fails while ``failing`` is set, and echoes otherwise."""

    def __init__(self, failing: bool = True) -> None:
        self.failing = failing

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        return _failing()(body) if self.failing else echo_responder(body)


def _client(transport: dict[str, Any] | None = None, **settings: Any) -> Client:
    config = {
        "transport": transport or transport_config(FakeClientTransport),
        "metrics": {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"},
        **settings,
    }
    return Client({"svc": config})


def _sent(client: Client) -> int:
    return len(client._get_handler("svc").transport.sent)


def _metrics(client: Client) -> CountingMetricsRecorder:
    recorder = client._get_handler("svc").metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    return recorder


def _fail_times(client: Client, times: int) -> None:
    for _ in range(times):
        with pytest.raises(CallActionError):
            client.call_action("svc", "a")


def test_an_open_breaker_refuses_calls_at_once_without_sending_them(caplog: pytest.LogCaptureFixture) -> None:
    """Four server errors open the breaker: the fifth call raises CircuitOpenError and nothing more is sent."""
    client = _client(transport_config(FakeClientTransport, responder=_failing()), circuit_breaker=BREAKER)
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        _fail_times(client, 4)
    assert _sent(client) == 4
    with pytest.raises(CircuitOpenError) as info:
        client.call_action("svc", "a")
    assert _sent(client) == 4
    assert info.value.service_name == "svc" and 0 < info.value.retry_after <= 30
    assert any("is now open" in record.getMessage() and record.levelno == logging.WARNING for record in caplog.records)
    assert _metrics(client).get_count("client.breaker.state_change") == 1
    assert _metrics(client).get_count("client.breaker.rejected") == 1


def test_caller_errors_do_not_open_the_breaker() -> None:
    """A service refusing bad input is healthy: four caller errors leave the breaker closed."""
    client = _client(
        transport_config(FakeClientTransport, responder=_failing("INVALID", caller=True)), circuit_breaker=BREAKER
    )
    _fail_times(client, 6)
    assert _sent(client) == 6


def test_timeouts_count_as_failures_for_the_breaker() -> None:
    """Four calls that get no reply open it."""
    client = _client(transport_config(FakeClientTransport, responder=lambda body: None), circuit_breaker=BREAKER)
    for _ in range(4):
        with pytest.raises(MessageReceiveTimeout):
            client.call_action("svc", "a")
    with pytest.raises(CircuitOpenError):
        client.call_action("svc", "a")


def test_after_its_cool_down_a_probe_that_succeeds_closes_the_breaker(caplog: pytest.LogCaptureFixture) -> None:
    """Open, then 0.2 s later the service is well again: the probe goes through and calls flow again."""
    responder = Switchable()
    client = _client(
        transport_config(FakeClientTransport, responder=responder),
        circuit_breaker={**BREAKER, "cool_down_seconds": 0.2},
    )
    _fail_times(client, 4)
    responder.failing = False
    time.sleep(0.25)
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        assert client.call_action("svc", "a", {"n": 1}).body == {"n": 1}
    assert client.call_action("svc", "a", {"n": 2}).body == {"n": 2}
    states = [r.getMessage().rsplit(" ", 1)[1] for r in caplog.records if "Circuit breaker" in r.getMessage()]
    assert states == ["open", "half_open", "closed"]


def test_per_action_breakers_keep_a_failing_action_from_blocking_the_others() -> None:
    """With per_action, action a's open breaker does not refuse action b."""
    responder = Switchable()
    client = _client(
        transport_config(FakeClientTransport, responder=responder), circuit_breaker={**BREAKER, "per_action": True}
    )
    _fail_times(client, 4)
    with pytest.raises(CircuitOpenError) as info:
        client.call_action("svc", "a")
    assert info.value.action == "a"
    responder.failing = False
    assert client.call_action("svc", "b").action == "b"


def test_futures_and_parallel_calls_are_refused_while_the_breaker_is_open() -> None:
    """A future or a parallel call to an open service raises CircuitOpenError at once."""
    client = _client(transport_config(FakeClientTransport, responder=_failing()), circuit_breaker=BREAKER)
    _fail_times(client, 4)
    with pytest.raises(CircuitOpenError):
        client.call_action_future("svc", "a")
    with pytest.raises(CircuitOpenError):
        client.call_actions_parallel("svc", [{"action": "a"}])
    assert _sent(client) == 4


def test_a_parallel_call_catching_transport_errors_gets_the_open_breakers_error_in_that_jobs_place() -> None:
    """catch_transport_errors: the job to the open service gets CircuitOpenError, the other job its response."""
    client = Client(
        {
            "svc": {
                "transport": transport_config(FakeClientTransport, responder=_failing()),
                "circuit_breaker": BREAKER,
            },
            "good": {"transport": transport_config(FakeClientTransport)},
        }
    )
    _fail_times(client, 4)
    results = client.call_jobs_parallel(
        [
            {"service_name": "good", "actions": [{"action": "x", "body": {"n": 1}}]},
            {"service_name": "svc", "actions": [{"action": "a"}]},
        ],
        catch_transport_errors=True,
    )
    assert results[0].actions[0].body == {"n": 1}
    assert isinstance(results[1], CircuitOpenError)
    assert _sent(client) == 4


def test_a_call_fallback_value_replaces_a_server_error_and_says_so() -> None:
    """fallback={...}: the caller gets that body, in a response marked from_fallback with the error kept."""
    client = _client(transport_config(FakeClientTransport, responder=_failing()))
    response = client.call_action("svc", "a", fallback={"price": 0})
    assert isinstance(response, FallbackActionResponse)
    assert response.from_fallback and response.body == {"price": 0} and response.action == "a"
    assert isinstance(response.fallback_error, CallActionError)
    assert ActionResponse(action="a").from_fallback is False


def test_a_callable_fallback_receives_the_error() -> None:
    """A callable fallback is called with the exception of the failed call (here a timeout)."""
    client = _client(transport_config(FakeClientTransport, responder=lambda body: None))
    seen: list[BaseException] = []

    def fallback(error: BaseException) -> dict[str, Any]:
        seen.append(error)
        return {"cached": True}

    assert client.call_action("svc", "a", fallback=fallback).body == {"cached": True}
    assert isinstance(seen[0], MessageReceiveTimeout)


def test_a_fallback_is_used_for_an_open_breaker_and_a_failed_send() -> None:
    """The settings' fallbacks answer while the breaker is open, and when the send fails."""
    client = _client(
        transport_config(FakeClientTransport, responder=_failing()),
        circuit_breaker=BREAKER,
        fallbacks={"*": {"default": True}},
    )
    for _ in range(4):
        assert client.call_action("svc", "a").body == {"default": True}
    response = client.call_action("svc", "a")
    assert isinstance(response.fallback_error, CircuitOpenError)  # type: ignore[attr-defined]
    assert _sent(client) == 4
    failing_sends = _client(transport_config(FakeClientTransport, fail_sends=True), fallbacks={"a": {"x": 1}})
    assert failing_sends.call_action("svc", "a").body == {"x": 1}
    with pytest.raises(MessageSendError):
        failing_sends.call_action("svc", "b")  # no fallback for b


def test_caller_errors_never_get_the_fallback() -> None:
    """A validation error is raised as usual, fallback or not."""
    client = _client(transport_config(FakeClientTransport, responder=_failing("INVALID", caller=True)))
    with pytest.raises(CallActionError):
        client.call_action("svc", "a", fallback={"x": 1})


def test_a_job_fallback_gives_a_job_response_of_fallback_actions() -> None:
    """call_actions with settings fallbacks per action gets a FallbackJobResponse with each action's body."""
    client = _client(
        transport_config(FakeClientTransport, responder=_failing()), fallbacks={"a": {"n": 1}, "b": {"n": 2}}
    )
    response = client.call_actions("svc", [{"action": "a"}, {"action": "b"}])
    assert isinstance(response, FallbackJobResponse) and response.from_fallback
    assert [(action.action, action.body) for action in response.actions] == [("a", {"n": 1}), ("b", {"n": 2})]


def test_a_full_bulkhead_refuses_the_call_at_once() -> None:
    """max_in_flight=1: while one call waits for its reply, a second call from another thread is refused."""
    client = _client(
        transport_config(ThreadedFakeTransport, min_delay=0.3, max_delay=0.3), bulkhead={"max_in_flight": 1}
    )
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(client.call_action("svc", "a", timeout=2)))
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(BulkheadFullError):
        client.call_action("svc", "b", timeout=2)
    assert time.monotonic() - started < 0.2  # at once: the other call holds its place 0.3 s
    thread.join(5)
    assert first[0].action == "a"
    assert _metrics(client).get_count("client.bulkhead.rejected") == 1


def test_a_waiting_bulkhead_holds_the_call_until_there_is_room() -> None:
    """With wait, the second call waits for the first to finish (about 0.2 s), then goes through."""
    client = _client(
        transport_config(ThreadedFakeTransport, min_delay=0.3, max_delay=0.3),
        bulkhead={"max_in_flight": 1, "wait": True},
    )
    thread = threading.Thread(target=lambda: client.call_action("svc", "a", timeout=2))
    thread.start()
    time.sleep(0.1)
    assert client.call_action("svc", "b", timeout=2).action == "b"
    thread.join(5)


class FlakySends(FakeClientTransport):
    """Refuses the first ``refusals`` sends as a full queue (the request never reached Redis)."""

    def __init__(self, *args: Any, refusals: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refusals = itertools.count()
        self.limit = refusals

    def send_request_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any], expiry: Any = None
    ) -> None:
        if next(self.refusals) < self.limit:
            raise MessageSendError("Redis queue pysoa:service.svc was full after 10 retries")
        super().send_request_message(request_id, meta, body, expiry)


RETRY = {"attempts": 3, "base_delay_seconds": 0.01, "max_delay_seconds": 0.02}


class FullQueue(FakeClientTransport):
    """Refuses the first send as a full queue that says when to come back (``come_back`` seconds)."""

    def __init__(self, *args: Any, come_back: float = 0.3, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.come_back = come_back
        self.refused = False

    def send_request_message(
        self, request_id: int, meta: dict[str, Any], body: dict[str, Any], expiry: Any = None
    ) -> None:
        if not self.refused:
            self.refused = True
            raise QueueFullSendError("Redis queue svc was full after 0 retries", self.come_back)
        super().send_request_message(request_id, meta, body, expiry)


def test_a_full_queue_is_retried_when_it_says_to_come_back_within_the_deadline() -> None:
    """The retry after a full queue waits the queue's come-back time (0.3 s), not the policy's 10 ms backoff; when
    that is past the call's deadline there is no retry: the fallback answers at once."""
    client = _client(transport_config(FullQueue, come_back=0.3), retry=RETRY)
    started = time.monotonic()
    assert client.call_action("svc", "a", {"n": 1}, timeout=2).body == {"n": 1}
    assert 0.3 <= time.monotonic() - started < 1.5
    hurried = _client(transport_config(FullQueue, come_back=0.3), retry=RETRY)
    started = time.monotonic()
    response = hurried.call_action("svc", "a", timeout=0.2, fallback={"later": True})
    assert time.monotonic() - started < 0.15
    assert response.body == {"later": True}
    assert isinstance(response.fallback_error, QueueFullSendError)  # type: ignore[attr-defined]
    assert _metrics(hurried).get_count("client.retry") == 0


def test_a_request_that_never_reached_redis_is_retried() -> None:
    """A full queue on the first try: the retry goes through, and the caller gets the reply."""
    client = _client(transport_config(FlakySends, refusals=2), retry=RETRY)
    assert client.call_action("svc", "a", {"n": 1}).body == {"n": 1}
    assert _metrics(client).get_count("client.retry") == 2


def test_server_errors_are_retried_only_for_idempotent_actions() -> None:
    """A server error is not retried for a plain action, and is for one marked idempotent (settings or call)."""
    client = _client(
        transport_config(FakeClientTransport, responder=_failing()), retry={**RETRY, "idempotent_actions": ["read"]}
    )
    _fail_times(client, 1)
    assert _sent(client) == 1
    with pytest.raises(CallActionError):
        client.call_action("svc", "read")
    assert _sent(client) == 4
    with pytest.raises(CallActionError):
        client.call_action("svc", "a", idempotent=True)
    assert _sent(client) == 7


def test_the_retry_budget_caps_retries_during_an_outage() -> None:
    """Budget of 2 retries plus 0 per call: of 5 failing idempotent calls, only 2 retries happen in all."""
    client = _client(
        transport_config(FakeClientTransport, responder=_failing()),
        retry={**RETRY, "budget_ratio": 0.0, "budget_minimum": 2, "idempotent_actions": ["a"]},
    )
    _fail_times(client, 5)
    assert _sent(client) == 7
    assert _metrics(client).get_count("client.retry.budget_exhausted") >= 1


def test_a_retry_never_goes_past_the_calls_deadline() -> None:
    """With a backoff longer than the time left, the call fails at its timeout instead of retrying."""
    client = _client(
        transport_config(FlakySends, refusals=5),
        retry={"attempts": 5, "base_delay_seconds": 10, "max_delay_seconds": 10},
    )
    started = time.monotonic()
    with pytest.raises(PySOATransportError):
        client.call_action("svc", "a", timeout=0.2)
    assert time.monotonic() - started < 0.3


class _Busy(Action):
    """Pushes back (retry after 0.15 s) on its first call of each test, then answers."""

    calls: ClassVar[list[int]] = []

    def run(self, request: Any) -> dict[str, Any]:
        _Busy.calls.append(1)
        if len(_Busy.calls) == 1:
            raise PushBackError(0.15)
        return {"calls": len(_Busy.calls)}


class _BusyServer(Server):
    service_name = "svc"
    action_class_map = {"busy": _Busy}


def _busy_client(**settings: Any) -> Client:
    _Busy.calls.clear()
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": _BusyServer, "server_settings": {}},
    }
    return Client({"svc": {"transport": transport, **settings}})


def test_a_servers_pushback_tells_the_caller_when_to_come_back() -> None:
    """Without a retry policy the caller gets OVERLOADED, and the response context says retry_after_ms=150."""
    client = _busy_client()
    response = client.call_actions("svc", [{"action": "busy"}], raise_job_errors=False)
    assert [error.code for error in response.errors] == ["OVERLOADED"]
    assert response.context["retry_after_ms"] == 150


def test_a_retry_policy_honours_the_pushback_even_for_an_action_not_marked_idempotent() -> None:
    """The job did not run, so it is retried, after the 0.15 s the server asked for (not the tiny backoff)."""
    client = _busy_client(retry=RETRY)
    started = time.monotonic()
    assert client.call_action("svc", "busy").body == {"calls": 2}
    assert time.monotonic() - started >= 0.15


def test_a_call_can_bring_its_own_retry_policy_or_refuse_the_services() -> None:
    """retry={...} retries on a service with no policy; retry=False does not retry on one with a policy."""
    client = _client(transport_config(FlakySends, refusals=1))
    assert client.call_action("svc", "a", {"n": 1}, retry=RETRY).body == {"n": 1}
    refusing = _client(transport_config(FlakySends, refusals=1), retry=RETRY)
    with pytest.raises(MessageSendError):
        refusing.call_action("svc", "a", retry=False)


def test_a_call_retry_policy_with_an_unknown_key_is_refused_before_sending() -> None:
    """A misspelt key raises TypeError and nothing is sent."""
    client = _client()
    with pytest.raises(TypeError):
        client.call_action("svc", "a", retry={"atempts": 2})
    assert _sent(client) == 0


def test_a_future_gets_its_fallback_for_a_failed_send_a_timeout_or_a_server_error() -> None:
    """The future's result is the fallback response in each case; a caller error is still raised."""
    failing_sends = _client(transport_config(FakeClientTransport, fail_sends=True))
    assert failing_sends.call_action_future("svc", "a", fallback={"x": 1}).result().body == {"x": 1}
    silent = _client(transport_config(FakeClientTransport, responder=lambda body: None))
    assert silent.call_action_future("svc", "a", fallback={"x": 2}).result().from_fallback
    broken = _client(transport_config(FakeClientTransport, responder=_failing()), fallbacks={"a": {"x": 3}})
    response = broken.call_actions_future("svc", [{"action": "a"}]).result()
    assert isinstance(response, FallbackJobResponse) and response.actions[0].body == {"x": 3}
    refusing = _client(transport_config(FakeClientTransport, responder=_failing("INVALID", caller=True)))
    with pytest.raises(CallActionError):
        refusing.call_action_future("svc", "a", fallback={"x": 4}).result()


def test_futures_are_retried_and_their_failures_open_the_breaker() -> None:
    """A future goes through the service's retries (a full queue, then the reply) and its failures count for the
    breaker: four failed futures open it, so the next call is refused without being sent."""
    flaky = _client(transport_config(FlakySends, refusals=2), retry=RETRY)
    assert flaky.call_action_future("svc", "a", {"n": 1}).result().body == {"n": 1}
    assert _metrics(flaky).get_count("client.retry") == 2
    client = _client(transport_config(FakeClientTransport, responder=_failing()), circuit_breaker=BREAKER)
    futures = [client.call_action_future("svc", "a") for _ in range(4)]
    for future in futures:
        with pytest.raises(CallActionError):
            future.result()
    with pytest.raises(CircuitOpenError):
        client.call_action("svc", "a")
    assert _sent(client) == 4


def test_a_future_holds_its_bulkhead_place_until_its_result_or_until_it_is_dropped() -> None:
    """max_in_flight=1: a pending future keeps its place (another call is refused) until its result is taken; a
    future dropped without its result gives the place back."""
    client = _client(transport_config(FakeClientTransport), bulkhead={"max_in_flight": 1})
    future = client.call_action_future("svc", "a", {"n": 1})
    with pytest.raises(BulkheadFullError):
        client.call_action("svc", "b")
    assert future.result().body == {"n": 1}
    assert client.call_action("svc", "b", {"n": 2}).body == {"n": 2}
    dropped = client.call_action_future("svc", "a")
    del dropped
    gc.collect()
    assert client.call_action("svc", "b", {"n": 3}).body == {"n": 3}


def test_a_guarded_futures_short_wait_can_be_asked_again() -> None:
    """result(timeout) shorter than the call's time left raises MessageReceiveTimeout and decides nothing: the
    reply that comes later is still the result (no fallback, no failure counted)."""
    client = _client(transport_config(FakeClientTransport, hold=True), circuit_breaker=BREAKER)
    future = client.call_action_future("svc", "a", {"n": 1}, timeout=5, fallback={"fallback": True})
    with pytest.raises(MessageReceiveTimeout):
        future.result(0.05)
    client._get_handler("svc").transport.release()  # type: ignore[attr-defined]
    assert future.result().body == {"n": 1}


def test_parallel_calls_retry_fall_back_and_count_for_the_breaker() -> None:
    """Each job of a parallel call goes through the resilience steps: a refused push is retried, a failed job gets
    its fallback in its place, and failed jobs open the breaker."""
    flaky = _client(transport_config(FlakySends, refusals=2), retry=RETRY)
    results = list(flaky.call_actions_parallel("svc", [{"action": "a", "body": {"n": n}} for n in range(3)]))
    assert [result.body for result in results] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert _metrics(flaky).get_count("client.retry") == 2
    failing = _client(transport_config(FakeClientTransport, responder=_failing()), circuit_breaker=BREAKER)
    answers = list(failing.call_actions_parallel("svc", [{"action": "a"}] * 4, fallback={"cached": True}))
    assert [(answer.body, answer.from_fallback) for answer in answers] == [({"cached": True}, True)] * 4
    assert isinstance(answers[0].fallback_error, CallActionError)  # type: ignore[attr-defined]
    with pytest.raises(CircuitOpenError):
        failing.call_jobs_parallel([{"service_name": "svc", "actions": [{"action": "a"}]}])
    assert _sent(failing) == 4


def test_a_parallel_calls_jobs_beyond_the_bulkhead_are_refused_not_left_waiting() -> None:
    """max_in_flight=2 (even with wait): of three jobs at once two are sent, the third refused in its place."""
    client = _client(transport_config(FakeClientTransport), bulkhead={"max_in_flight": 2, "wait": True})
    started = time.monotonic()
    results = client.call_jobs_parallel(
        [{"service_name": "svc", "actions": [{"action": "a", "body": {"n": n}}]} for n in range(3)],
        catch_transport_errors=True,
        timeout=2,
    )
    assert time.monotonic() - started < 1
    assert [r.actions[0].body for r in results[:2]] == [{"n": 0}, {"n": 1}]
    assert isinstance(results[2], BulkheadFullError)
    assert _sent(client) == 2


class _Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"size": len(request.body.get("blob", ""))}


class _Hour(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise PushBackError(3600)


class _EchoServer(Server):
    service_name = "svc"
    action_class_map = {"a": _Echo, "busy": _Hour}


def _local_client(**settings: Any) -> Client:
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {
            "server_class": _EchoServer,
            "server_settings": {},
            "serialize_messages": True,
            "maximum_message_size_in_bytes": 2000,
        },
    }
    return Client({"svc": {"transport": transport, **settings}})


def test_a_request_too_big_to_send_is_the_callers_error_not_the_services() -> None:
    """MessageTooLarge neither opens the breaker nor is retried, and no fallback hides it (future or not)."""
    client = _local_client(
        circuit_breaker={**BREAKER, "minimum_calls": 2, "cool_down_seconds": 30},
        retry={**RETRY, "idempotent_actions": ["a"]},
        fallbacks={"a": {"fallback": True}},
        metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"},
    )
    for _ in range(3):
        with pytest.raises(MessageTooLarge):
            client.call_action("svc", "a", {"blob": "x" * 5000})
    with pytest.raises(MessageTooLarge):
        client.call_action("svc", "a", {"blob": "x" * 5000}, fallback={"x": 1})
    with pytest.raises(MessageTooLarge):
        client.call_action_future("svc", "a", {"blob": "x" * 5000}).result()
    assert client.call_action("svc", "a", {"blob": "x"}).body == {"size": 1}  # the breaker stayed closed
    assert _metrics(client).get_count("client.retry") == 0
    assert _metrics(client).get_count("client.fallback") == 0


def test_a_pushback_longer_than_a_call_without_timeout_waits_is_not_waited_for() -> None:
    """No timeout: the call waits at most its transport's default wait (5 s), not the hour the server asks."""
    client = _local_client(retry=RETRY)
    started = time.monotonic()
    response = client.call_actions("svc", [{"action": "busy"}], raise_job_errors=False)
    assert time.monotonic() - started < 2.0
    assert [error.code for error in response.errors] == ["OVERLOADED"]
    assert response.context["retry_after_ms"] == 3_600_000


def test_a_slow_call_admitted_before_the_breaker_opened_does_not_close_it_in_a_probes_place() -> None:
    """A call sent while closed succeeds late, while a half-open probe is out: the probe's failure, not the old
    call's success, decides (the breaker opens again)."""

    def respond(body: dict[str, Any]) -> dict[str, Any]:
        action = body["actions"][0]["action"]
        if action == "slow":
            time.sleep(1.0)
            return echo_responder(body)
        if action == "probe":
            time.sleep(1.2)
        return _failing()(body)

    client = _client(
        transport_config(FakeClientTransport, responder=respond), circuit_breaker={**BREAKER, "cool_down_seconds": 0.3}
    )
    slow = threading.Thread(target=lambda: client.call_action("svc", "slow", timeout=5))
    slow.start()
    time.sleep(0.05)
    _fail_times(client, 4)  # opens the breaker
    time.sleep(0.55)

    def probe() -> None:
        with pytest.raises(CallActionError):
            client.call_action("svc", "probe", timeout=5)

    prober = threading.Thread(target=probe)
    prober.start()
    slow.join(5)
    prober.join(5)
    with pytest.raises(CircuitOpenError):
        client.call_action("svc", "a")


def test_a_fallback_marked_for_caller_errors_replaces_them_too() -> None:
    """Fallback(value, caller_errors=True) answers a validation error; the plain one still lets it raise."""
    client = _client(transport_config(FakeClientTransport, responder=_failing("INVALID", caller=True)))
    response = client.call_action("svc", "a", fallback=Fallback({"x": 1}, caller_errors=True))
    assert response.from_fallback and response.body == {"x": 1}
    assert isinstance(response.fallback_error, CallActionError)  # type: ignore[attr-defined]
    assert client.call_action_future("svc", "a", fallback=Fallback({"x": 2}, caller_errors=True)).result().body == {
        "x": 2
    }
    configured = _client(
        transport_config(FakeClientTransport, responder=_failing("INVALID", caller=True)),
        fallbacks={"a": Fallback(lambda error: {"x": 3}, caller_errors=True)},
    )
    assert configured.call_action("svc", "a").body == {"x": 3}
    with pytest.raises(CallActionError):
        client.call_action("svc", "a", fallback=Fallback({"x": 4}))
