"""The server loop's operational rules: riding out outages, bounded receives, lifecycle hooks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import MessageReceiveError, MessageReceiveTimeout
from pysoa_like.server.action import Action
from tests.unit.server._helpers import QueueServerTransport, job, make_server


class _Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return dict(request.body)


class SliceableTransport(QueueServerTransport):
    """A queue transport whose receive accepts a per-call timeout, recording what it was given."""

    receive_timeout_in_seconds = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeouts: list[float | None] = []

    def receive_request_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:  # type: ignore[override]
        self.timeouts.append(receive_timeout_in_seconds)
        return super().receive_request_message()


def test_a_worker_rides_out_any_number_of_transient_failures(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Fifty receive errors in a row (PySOA gave up after six) back off, then the next request is served.

    The outage is logged twice in all: when it starts and when it ends.
    """
    sleeps: list[float] = []
    monkeypatch.setattr("pysoa_like.server.server.time.sleep", sleeps.append)
    server = make_server(metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"})
    server.transport.add_request(job())
    for _ in range(50):
        server.transport.requests.append(MessageReceiveError("redis down"))
    server.transport.add_request(job())
    original_idle = server.perform_idle_actions

    def stop_when_idle() -> None:
        original_idle()
        server.shutting_down = True

    server.perform_idle_actions = stop_when_idle
    with caplog.at_level(logging.INFO, logger="pysoa_like.server"):
        server.run()
    assert len(server.transport.responses) == 2
    assert server.metrics.get_values("gauge", "server.worker.ready") == [1, 0, 1]
    # 0.25-0.5 s, 0.5-0.75 s, 1-1.25 s, then 2 s each time: about 1.75 + 47 * 2 s of backoff in all.
    assert 95 < sum(sleeps) < 97
    assert max(sleeps) <= 0.25
    outage_lines = [r.getMessage() for r in caplog.records if "Transport" in r.getMessage()]
    assert len(outage_lines) == 2
    assert outage_lines[0].startswith("Transport unavailable (redis down)")
    assert outage_lines[1].startswith("Transport available again after")


def test_a_shutdown_signal_during_a_backoff_is_acted_on_within_a_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shutdown requested while the worker backs off ends the wait at the next quarter second."""
    sleeps: list[float] = []
    server = make_server()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        server.shutting_down = True

    monkeypatch.setattr("pysoa_like.server.server.time.sleep", sleep)
    for _ in range(10):
        server.transport.requests.append(MessageReceiveError("redis down"))
    server.run()
    assert len(sleeps) == 1


def test_receive_is_bounded_to_one_second_when_the_transport_allows_it() -> None:
    """A transport taking receive_timeout_in_seconds is asked for at most 1 s, so shutdown is noticed fast."""
    server = make_server(transport={"path": "tests.unit.server.test_worker_loop:SliceableTransport"})
    server.handle_next_request()
    assert server.transport.timeouts == [1]


def test_receive_is_unchanged_for_transports_without_a_timeout_argument() -> None:
    """Transports whose receive takes no arguments are called as before (no keyword they would refuse)."""
    server = make_server({"echo": _Echo})
    server.transport.add_request(job("echo"))
    server.handle_next_request()
    assert server.transport.responses[0][2]["actions"][0]["action"] == "echo"


class AnnouncedTransport(SliceableTransport):
    """A sliceable transport recording what :meth:`receive_follows` was told, among its receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.events: list[tuple[str, float | None]] = []

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        self.events.append(("receive_follows", receive_timeout_in_seconds))

    def receive_request_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:  # type: ignore[override]
        self.events.append(("receive", receive_timeout_in_seconds))
        return super().receive_request_message(receive_timeout_in_seconds)


def test_a_worker_serving_one_request_at_a_time_announces_that_each_response_is_followed_by_a_receive() -> None:
    """Before its first receive, with the receive's slice: the transport may send the next wait with a response."""
    server = make_server({"echo": _Echo}, transport={"path": "tests.unit.server.test_worker_loop:AnnouncedTransport"})
    server.transport.add_request(job("echo"))
    server.perform_idle_actions = lambda: setattr(server, "shutting_down", True)
    server.run()
    assert server.transport.events[:3] == [("receive_follows", 1), ("receive", 1), ("receive", 1)]
    assert len(server.transport.responses) == 1


class QuickTransport(SliceableTransport):
    """A sliceable transport configured below one second."""

    receive_timeout_in_seconds = 0.25


def test_shorter_configured_timeouts_are_kept() -> None:
    """A transport configured below one second keeps its own shorter timeout."""
    server = make_server(transport={"path": "tests.unit.server.test_worker_loop:QuickTransport"})
    server.handle_next_request()
    assert server.transport.timeouts == [0.25]


def test_hooks_run_in_order_around_a_request() -> None:
    """setup, pre-request, post-request, idle and teardown hooks run at their points of the loop."""
    calls: list[str] = []
    server = make_server()
    server.setup = lambda: calls.append("setup")
    server.teardown = lambda: calls.append("teardown")
    server.perform_pre_request_actions = lambda: calls.append("pre")
    server.perform_post_request_actions = lambda: calls.append("post")

    def idle() -> None:
        calls.append("idle")
        server.shutting_down = True

    server.perform_idle_actions = idle
    server.transport.add_request({"control": {}, "context": {}, "actions": []})
    server.run()
    assert calls == ["setup", "pre", "post", "idle", "teardown"]


def test_idle_receive_timeout_is_not_an_error() -> None:
    """A receive timeout runs the idle hook and sends nothing."""
    server = make_server()
    server.transport.requests.append(MessageReceiveTimeout("idle"))
    server.handle_next_request()
    assert server.transport.responses == []
