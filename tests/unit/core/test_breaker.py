"""The circuit breaker and bulkhead state machines of the sans-I/O core, driven with explicit times."""

from __future__ import annotations

from pysoa_like.core.breaker import BreakerPolicy, BreakerState, Bulkhead, CircuitBreaker, SlidingCounts

POLICY = BreakerPolicy(failure_ratio=0.5, minimum_calls=4, window_seconds=10, cool_down_seconds=5, half_open_calls=1)


def _calls(breaker: CircuitBreaker, now: float, outcomes: list[bool]) -> list[BreakerState | None]:
    changes = []
    for failed in outcomes:
        assert breaker.admit(now)[0]
        changes.append(breaker.record(now, failed))
    return changes


def test_a_breaker_opens_at_the_failure_ratio_once_it_has_the_minimum_of_calls() -> None:
    """Three failures alone do not open it (too few calls); the fourth call, failed too, does."""
    breaker = CircuitBreaker(POLICY)
    assert _calls(breaker, 0.0, [True, True, True]) == [None, None, None]
    assert _calls(breaker, 0.1, [True]) == [BreakerState.OPEN]
    assert breaker.state is BreakerState.OPEN


def test_a_breaker_stays_closed_below_the_failure_ratio() -> None:
    """One failure in four calls (25 %) keeps a 50 % breaker closed."""
    breaker = CircuitBreaker(POLICY)
    assert _calls(breaker, 0.0, [False, False, False, True]) == [None, None, None, None]
    assert breaker.state is BreakerState.CLOSED


def test_calls_older_than_the_window_no_longer_count() -> None:
    """Failures 11 s ago are out of a 10 s window: four new failures are needed again."""
    breaker = CircuitBreaker(POLICY)
    _calls(breaker, 0.0, [True, True, True])
    assert _calls(breaker, 11.0, [True, True, True]) == [None, None, None]
    assert _calls(breaker, 11.0, [True]) == [BreakerState.OPEN]


def test_an_open_breaker_refuses_calls_until_its_cool_down_then_lets_one_probe_through() -> None:
    """Open at t=0: refused at t=4.9 (0.1 s to go), half-open at t=5 with one probe, a second call refused."""
    breaker = CircuitBreaker(POLICY)
    _calls(breaker, 0.0, [True] * 4)
    assert breaker.admit(4.9) == (False, None)
    assert abs(breaker.retry_after(4.9) - 0.1) < 1e-9
    assert breaker.admit(5.0) == (True, BreakerState.HALF_OPEN)
    assert breaker.admit(5.0) == (False, None)


def test_a_successful_probe_closes_the_breaker_and_a_failed_one_opens_it_again() -> None:
    """Half-open: success -> closed; failure -> open for another cool-down from the failure."""
    closing = CircuitBreaker(POLICY)
    _calls(closing, 0.0, [True] * 4)
    closing.admit(5.0)
    assert closing.record(5.1, False) is BreakerState.CLOSED
    reopening = CircuitBreaker(POLICY)
    _calls(reopening, 0.0, [True] * 4)
    reopening.admit(5.0)
    assert reopening.record(5.2, True) is BreakerState.OPEN
    assert reopening.admit(10.1) == (False, None)
    assert reopening.admit(10.2)[0]


def test_a_cancelled_probe_gives_its_place_back() -> None:
    """A probe that ended without an outcome (never sent) lets the next call probe instead."""
    breaker = CircuitBreaker(POLICY)
    _calls(breaker, 0.0, [True] * 4)
    assert breaker.admit(5.0)[0]
    breaker.cancel()
    assert breaker.admit(5.0)[0]


def test_several_half_open_calls_must_all_succeed_to_close() -> None:
    """With half_open_calls=2, two probes go through at once and both successes are needed."""
    breaker = CircuitBreaker(BreakerPolicy(minimum_calls=1, cool_down_seconds=1, half_open_calls=2))
    _calls(breaker, 0.0, [True])
    assert breaker.admit(1.0)[0] and breaker.admit(1.0)[0]
    assert breaker.admit(1.0) == (False, None)
    assert breaker.record(1.1, False) is None
    assert breaker.record(1.2, False) is BreakerState.CLOSED


def test_sliding_counts_sum_both_kinds_within_the_window() -> None:
    """Events within the window add up; those older than it drop out a bucket at a time."""
    counts = SlidingCounts(10.0)
    counts.add(0.0, 1, 1)
    counts.add(5.0, 2, 0)
    assert counts.totals(5.0) == (3, 1)
    assert counts.totals(10.5) == (2, 0)
    assert counts.totals(20.0) == (0, 0)


def test_a_bulkhead_admits_up_to_its_limit_and_again_after_a_call_leaves() -> None:
    """Two places: two calls enter, the third is refused until one leaves."""
    bulkhead = Bulkhead(2)
    assert bulkhead.try_enter() and bulkhead.try_enter()
    assert not bulkhead.try_enter()
    bulkhead.leave()
    assert bulkhead.try_enter()
    assert bulkhead.in_flight == 2


def test_a_call_admitted_before_the_breaker_opened_is_not_taken_for_a_probe() -> None:
    """A slow call admitted while closed ends after the breaker went half-open: its success does not close the
    breaker, its cancel frees no probe place; the probe's own outcome decides."""
    breaker = CircuitBreaker(POLICY)
    assert breaker.admit(0.0)[0]
    slow = breaker.generation
    _calls(breaker, 0.0, [True] * 4)
    assert breaker.admit(5.0) == (True, BreakerState.HALF_OPEN)
    probe = breaker.generation
    assert breaker.record(5.5, False, slow) is None
    breaker.cancel(slow)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.admit(5.6) == (False, None)  # the probe still holds the only place
    assert breaker.record(5.7, True, probe) is BreakerState.OPEN
