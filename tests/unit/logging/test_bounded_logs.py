"""Log lines that peers can trigger are short and throttled: short reprs, capped lines, repeated errors counted."""

from __future__ import annotations

import logging

import pytest

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._short_text import cap_line, short_repr


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_short_repr_keeps_huge_and_deep_values_short() -> None:
    """A 1 MB string, a deep list and a broken __repr__ each render in about 200 characters at most."""

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    for value in ("x" * 1_000_000, deep, {str(i): i for i in range(10_000)}):
        assert len(short_repr(value)) <= 200
    assert short_repr(Broken()).startswith("<Broken")


def test_cap_line_says_how_much_was_cut() -> None:
    """A long line keeps its start and ends saying how many characters were cut."""
    assert cap_line("short") == "short"
    assert cap_line("a" * 50, 10) == "a" * 10 + "... (40 more characters)"


def test_throttle_lets_a_burst_through_then_counts_until_the_next_window() -> None:
    """Per kind: the first lines pass, the rest are counted, and the next window's first line reports them."""
    clock = _Clock()
    throttle = LogThrottle(burst=2, interval=10, clock=clock)
    assert [throttle.admit("a") for _ in range(5)] == [0, 0, None, None, None]
    assert throttle.admit("b") == 0  # another kind has its own budget
    clock.now = 10
    assert throttle.admit("a") == 3
    assert throttle.admit("a") == 0


def test_throttle_forgets_the_oldest_kinds_beyond_its_bound() -> None:
    """Endless distinct kinds (say, one per attacker-chosen value) cannot grow its memory."""
    throttle = LogThrottle(burst=1, maximum_kinds=3, clock=_Clock())
    for kind in range(100):
        assert throttle.admit(kind) == 0
    assert len(throttle._windows) == 3


def test_log_bounded_writes_one_capped_line_and_reports_suppressed_ones(caplog: pytest.LogCaptureFixture) -> None:
    """Lines beyond the burst are dropped; the next admitted one says how many were; each is capped."""
    clock = _Clock()
    throttle = LogThrottle(burst=1, interval=5, clock=clock)
    logger = logging.getLogger("test.bounded")
    with caplog.at_level(logging.ERROR, logger="test.bounded"):
        assert log_bounded(logger, logging.ERROR, throttle, "k", "bad %s", "x" * 5000)
        assert not log_bounded(logger, logging.ERROR, throttle, "k", "bad %s", "y")
        clock.now = 5
        assert log_bounded(logger, logging.ERROR, throttle, "k", "bad %s", "z")
    first, second = (record.getMessage() for record in caplog.records)
    assert len(first) < 1100 and first.startswith("bad xxx")
    assert second == "bad z (1 similar lines suppressed)"


def test_log_bounded_costs_nothing_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    """A disabled level writes nothing and uses none of the burst."""
    throttle = LogThrottle(burst=1, clock=_Clock())
    logger = logging.getLogger("test.bounded.off")
    logger.setLevel(logging.CRITICAL)
    try:
        assert not log_bounded(logger, logging.ERROR, throttle, "k", "x")
        logger.setLevel(logging.NOTSET)
        assert throttle.admit("k") == 0
    finally:
        logger.setLevel(logging.NOTSET)
