"""The outage tracker: PySOA's backoff schedule (capped), one log line per state change, readiness reported."""

from __future__ import annotations

import logging

import pytest

from pysoa_like.server._outage import MAXIMUM_BACKOFF_SECONDS, OutageTracker, outage_backoff_seconds

_LOGGER = logging.getLogger("test.outage")


def test_the_schedule_starts_at_a_quarter_second_and_doubles_up_to_the_cap() -> None:
    """0.25, 0.5, 1 s (plus up to a quarter second of jitter), then the cap: the failure is not counted twice."""
    without_jitter = [outage_backoff_seconds(n, lambda: 0.0) for n in range(6)]
    assert without_jitter == [0.25, 0.5, 1.0, MAXIMUM_BACKOFF_SECONDS, MAXIMUM_BACKOFF_SECONDS, 2.0]
    assert outage_backoff_seconds(0, lambda: 0.999) < 0.5
    assert outage_backoff_seconds(10_000, lambda: 0.5) == MAXIMUM_BACKOFF_SECONDS


def test_readiness_changes_are_reported_once_each(caplog: pytest.LogCaptureFixture) -> None:
    """Ready at the first success, not ready at the first failure of an outage, ready again after it."""
    changes: list[bool] = []
    now = [100.0]
    tracker = OutageTracker(_LOGGER, changes.append, clock=lambda: now[0], random_value=lambda: 0.0)
    with caplog.at_level(logging.INFO, logger="test.outage"):
        tracker.succeeded()
        tracker.succeeded()
        delays = [tracker.failed(ConnectionError("refused")) for _ in range(4)]
        now[0] = 103.5
        tracker.succeeded()
        assert tracker.failed(ConnectionError("again")) == 0.25  # a new outage starts the schedule over
    assert changes == [True, False, True, False]
    assert delays == [0.25, 0.5, 1.0, 2.0]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[0].startswith("Transport unavailable (refused)")
    assert messages[1] == "Transport available again after 3.5 s (4 failed attempts); serving"
