"""Tests for ServiceHandler: ids, meta, middleware, metrics and reply routing by request id."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from pysoa_like.client.client import ServiceHandler
from pysoa_like.client.middleware import ClientMiddleware
from pysoa_like.common.metrics import CountingMetricsRecorder, NoOpMetricsRecorder, records_nothing
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.types import JobRequest, JobResponse
from pysoa_like.version import __version_info__
from tests.unit.client.fakes import FakeClientTransport

CALLS: list[str] = []


class RecordingMiddleware(ClientMiddleware):
    """Records the order of the send and receive hooks and adds a meta key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, send_request: Any) -> Any:
        def handler(request_id: int, meta: dict[str, Any], job_request: JobRequest, expiry: float | None) -> None:
            CALLS.append(f"{self.name}.request")
            meta[self.name] = True
            send_request(request_id, meta, job_request, expiry)

        return handler

    def response(self, get_response: Any) -> Any:
        def handler(timeout: float | None) -> Any:
            CALLS.append(f"{self.name}.response")
            return get_response(timeout)

        return handler


class Recorder:
    """A metrics recorder remembering the timers used and publish calls."""

    def __init__(self) -> None:
        self.timers: list[str] = []
        self.published = 0

    def timer(self, name: str, **tags: Any) -> Any:
        self.timers.append(name)
        return _NullTimer()

    def counter(self, name: str, **tags: Any) -> Any:
        return _NullTimer()

    gauge = histogram = counter

    def publish_all(self) -> None:
        self.published += 1


class _NullTimer:
    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def increment(self, amount: int = 1) -> None:
        return None

    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: Any) -> None:
        return None


def make_handler(**transport_kwargs: Any) -> ServiceHandler:
    settings = {"transport": {"object": FakeClientTransport, "kwargs": transport_kwargs}, "middleware": []}
    return ServiceHandler("echo", settings)


def job(**control: Any) -> JobRequest:
    return JobRequest(
        control={"continue_on_error": False, "suppress_response": False, **control},
        context={"correlation_id": "c", "switches": []},
        actions=[{"action": "a", "body": {"t": (1, 2), "s": {3}}}],
    )


def test_request_ids_start_random_and_increase() -> None:
    """The counter starts between 1 and 1,000,000 and each send takes the next id."""
    handler = make_handler()
    first = handler.send_request(job())
    assert 1 <= first <= 1_000_000
    assert handler.send_request(job()) == first + 1


def test_request_ids_are_unique_across_threads() -> None:
    """Concurrent sends from many threads never reuse an id."""
    handler = make_handler()
    ids: list[int] = []
    lock = threading.Lock()

    def send_many() -> None:
        mine = [handler.send_request(job(suppress_response=True)) for _ in range(200)]
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=send_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1600


def test_meta_carries_client_version_and_body_is_a_plain_dict() -> None:
    """The sent meta has client_version as a list of ints and tuples/sets in bodies become lists."""
    handler = make_handler()
    handler.send_request(job(), 7.5)
    _request_id, meta, body, expiry = handler.transport.sent[0]  # type: ignore[attr-defined]
    assert meta == {"client_version": list(__version_info__)}
    assert body["actions"][0]["body"] == {"t": [1, 2], "s": [3]}
    assert expiry == 7.5


def test_middleware_first_listed_is_outermost_and_can_add_meta() -> None:
    """Middleware wrap in order (first outermost) on both paths and their meta keys reach the transport."""
    CALLS.clear()
    settings = {
        "transport": {"object": FakeClientTransport, "kwargs": {}},
        "middleware": [
            {"object": RecordingMiddleware, "kwargs": {"name": "outer"}},
            {"object": RecordingMiddleware, "kwargs": {"name": "inner"}},
        ],
    }
    handler = ServiceHandler("echo", settings)
    request_id = handler.send_request(job(), claimed=True)
    handler.get_response(request_id)
    assert CALLS == ["outer.request", "inner.request", "outer.response", "inner.response"]
    assert handler.transport.sent[0][1] == {  # type: ignore[attr-defined]
        "client_version": list(__version_info__),
        "outer": True,
        "inner": True,
    }


def test_metrics_timers_and_publish() -> None:
    """The handler times initialisation, each call (send to reply), sends and receives, and publishes after each."""
    recorder = Recorder()
    settings = {
        "transport": {"object": FakeClientTransport, "kwargs": {}},
        "metrics": {"object": lambda: recorder, "kwargs": {}},
    }
    handler = ServiceHandler("echo", settings)
    handler.get_response(handler.send_request(job(), claimed=True))
    assert recorder.timers == [
        "client.transport.initialize",
        "client.middleware.initialize",
        "client.call",
        "client.send.including_middleware",
        "client.send.excluding_middleware",
        "client.receive.including_middleware",
        "client.receive.excluding_middleware",
    ]
    assert recorder.published == 2


def test_replies_are_routed_to_their_own_request() -> None:
    """Waiting for the second request first keeps the first's reply for its own call."""
    handler = make_handler(hold=True)
    first = handler.send_request(job(), claimed=True)
    second = handler.send_request(job(), claimed=True)
    handler.transport.release()  # type: ignore[attr-defined]
    assert isinstance(handler.get_response(second), JobResponse)
    assert isinstance(handler.get_response(first), JobResponse)


def test_reply_nobody_waits_for_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A reply with an unknown id is logged and never returned to a waiting call."""
    handler = make_handler()
    handler.transport.inject(424242, {"actions": [{"action": "stray"}]})  # type: ignore[attr-defined]
    request_id = handler.send_request(job(), claimed=True)
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        response = handler.get_response(request_id)
    assert response.actions[0].action == "a"
    assert "424242" in caplog.text


def test_unhashable_reply_id_is_dropped() -> None:
    """A reply whose id cannot be compared as a set member is dropped instead of crashing."""
    handler = make_handler()
    handler.transport.inject([1], {"actions": []})  # type: ignore[attr-defined]
    request_id = handler.send_request(job(), claimed=True)
    assert handler.get_response(request_id).actions[0].action == "a"


def test_empty_transport_while_waiting_raises_timeout() -> None:
    """If the transport has nothing for this thread while a reply is awaited, it times out at once."""
    handler = make_handler()
    request_id = handler.send_request(job(suppress_response=True), claimed=True)
    with pytest.raises(MessageReceiveTimeout, match="no more replies"):
        handler.get_response(request_id)


def test_total_timeout_covers_replies_for_other_requests() -> None:
    """The receive timeout passed to the transport shrinks while other replies are pulled."""
    handler = make_handler()
    first = handler.send_request(job(), claimed=True)
    second = handler.send_request(job(), claimed=True)
    handler.get_response(second, 5)
    waits = handler.transport.receive_timeouts  # type: ignore[attr-defined]
    assert len(waits) == 2 and 0 < waits[1] <= waits[0] <= 5
    handler.get_response(first, 5)
    assert len(handler.transport.receive_timeouts) == 2  # type: ignore[attr-defined]  # served from the stash


def test_get_all_responses_yields_only_send_request_ids() -> None:
    """get_all_responses yields the public send_request ids and keeps tracked replies for their callers."""
    handler = make_handler()
    tracked = handler.send_request(job(), claimed=True)
    public = [handler.send_request(job()), handler.send_request(job())]
    assert sorted(rid for rid, _ in handler.get_all_responses()) == sorted(public)
    assert handler.get_response(tracked).actions[0].action == "a"
    assert list(handler.get_all_responses()) == []


def test_forget_drops_a_later_reply(caplog: pytest.LogCaptureFixture) -> None:
    """A forgotten request's reply is dropped (and logged) instead of being kept."""
    handler = make_handler()
    forgotten = handler.send_request(job(), claimed=True)
    wanted = handler.send_request(job(), claimed=True)
    handler.forget(forgotten)
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        handler.get_response(wanted)
    assert [r.getMessage() for r in caplog.records] == [
        f"Dropped a reply from service echo for request {forgotten} that no call is waiting for (late or duplicate)"
    ]


def test_get_all_responses_timeout_forgets_the_remaining_requests(caplog: pytest.LogCaptureFixture) -> None:
    """A timeout in get_all_responses forgets what is left, so a later reply is dropped."""
    handler = make_handler(hold=True)
    late = handler.send_request(job())
    with pytest.raises(MessageReceiveTimeout):
        list(handler.get_all_responses(0.01))
    handler.transport.release()  # type: ignore[attr-defined]
    handler.transport.hold = False  # type: ignore[attr-defined]
    assert list(handler.get_all_responses()) == []
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        assert handler.get_response(handler.send_request(job(), claimed=True)).actions[0].action == "a"
    assert [r.getMessage() for r in caplog.records] == [
        f"Dropped a reply from service echo for request {late} that no call is waiting for (late or duplicate)"
    ]


def test_records_nothing_only_for_the_noop_recorder_itself() -> None:
    """Only NoOpMetricsRecorder itself lets callers skip instruments; subclasses and other recorders do not."""

    class Subclass(NoOpMetricsRecorder):
        pass

    assert records_nothing(NoOpMetricsRecorder())
    assert not records_nothing(Subclass())
    assert not records_nothing(CountingMetricsRecorder())
    assert not records_nothing(Recorder())


def test_noop_recorder_subclass_still_gets_every_timer_and_publish() -> None:
    """Instruments are skipped only for the plain no-op recorder; a subclass sees every call any recorder sees."""
    used: list[str] = []

    class Watching(NoOpMetricsRecorder):
        def timer(self, name: str, **tags: Any) -> Any:
            used.append(name)
            return super().timer(name, **tags)

        def publish_all(self) -> None:
            used.append("publish")

    settings = {
        "transport": {"object": FakeClientTransport, "kwargs": {}},
        "metrics": {"object": Watching, "kwargs": {}},
    }
    handler = ServiceHandler("echo", settings)
    response = handler.get_response(handler.send_request(job(), claimed=True))
    assert response.actions[0].body == {"t": [1, 2], "s": [3]}
    assert used == [
        "client.transport.initialize",
        "client.middleware.initialize",
        "client.call",
        "client.send.including_middleware",
        "client.send.excluding_middleware",
        "publish",
        "client.receive.including_middleware",
        "client.receive.excluding_middleware",
        "publish",
    ]


def test_default_recorder_path_sends_and_receives_the_same_messages() -> None:
    """With the default no-op recorder (instruments skipped) the wire messages and the reply are unchanged."""
    quiet = make_handler()
    counted = ServiceHandler(
        "echo",
        {"transport": {"object": FakeClientTransport, "kwargs": {}}, "metrics": {"object": CountingMetricsRecorder}},
    )
    assert records_nothing(quiet.metrics) and not records_nothing(counted.metrics)
    replies = [h.get_response(h.send_request(job(), claimed=True)) for h in (quiet, counted)]
    assert replies[0] == replies[1]
    quiet_sent, counted_sent = (h.transport.sent[0][1:] for h in (quiet, counted))  # type: ignore[attr-defined]
    assert quiet_sent == counted_sent  # meta, body and expiry (the request ids start at random)
    assert counted.metrics.get_values("timer", "client.send.excluding_middleware")  # type: ignore[attr-defined]


@pytest.mark.parametrize("recorder", [None, "counting"])
def test_a_request_whose_send_failed_is_not_waited_for(recorder: str | None) -> None:
    """A send the transport refuses leaves nothing to wait for: collecting open replies asks the transport nothing."""
    settings: dict[str, Any] = {"transport": {"object": FakeClientTransport, "kwargs": {"fail_sends": True}}}
    if recorder:
        settings["metrics"] = {"object": CountingMetricsRecorder}
    handler = ServiceHandler("echo", settings)
    with pytest.raises(MessageSendError):
        handler.send_request(job())
    with pytest.raises(MessageSendError):
        handler.send_request(job(), claimed=True)
    assert list(handler.get_all_responses()) == []
    assert handler.transport.receive_timeouts == []  # type: ignore[attr-defined]
