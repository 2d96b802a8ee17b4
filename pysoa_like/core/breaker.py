"""Circuit breakers and bulkheads: pure state machines that take the time as a value.

A :class:`CircuitBreaker` guards one service (or one action of it) for one client process::

    closed --(failure ratio >= failure_ratio over >= minimum_calls in window_seconds)--> open
    open --(cool_down_seconds later, on the next call)--> half_open
    half_open --(half_open_calls probe calls all succeed)--> closed
    half_open --(a probe fails)--> open (for another cool_down_seconds)

While open, calls are refused without being sent; while half-open, only ``half_open_calls`` probe calls
are let through at a time. A :class:`Bulkhead` counts the calls in flight to one service and refuses
more than its limit. Neither locks: the client holds a lock around them (the sync client) or runs on one
event loop (an asyncio client), and it reads the clock.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Final

__all__ = [
    "ADMITTED",
    "REFUSED",
    "BreakerPolicy",
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "SlidingCounts",
]

# A window is kept as this many buckets: old calls leave it a tenth of the window at a time.
_BUCKETS: Final = 10


class BreakerState(enum.Enum):
    """The state of a circuit breaker (its ``value`` is what logs and metrics show)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: What :meth:`CircuitBreaker.admit` says of a call it lets through.
ADMITTED: Final = True
#: What :meth:`CircuitBreaker.admit` says of a call it refuses.
REFUSED: Final = False


@dataclasses.dataclass(frozen=True)
class BreakerPolicy:
    """When a circuit breaker opens and closes (the ``circuit_breaker`` client setting).

    Args:
        failure_ratio: Open when at least this fraction of the calls in the window failed.
        minimum_calls: ... and the window holds at least this many calls.
        window_seconds: How far back calls count.
        cool_down_seconds: How long the breaker stays open before letting a probe through.
        half_open_calls: Probe calls let through at a time while half-open; that many successes close it.
    """

    failure_ratio: float = 0.5
    minimum_calls: int = 20
    window_seconds: float = 10.0
    cool_down_seconds: float = 5.0
    half_open_calls: int = 1


class SlidingCounts:
    """Counts of events (calls, failures, retries...) over the last ``window_seconds``, in buckets.

    Two kinds of events are counted (calls and failures, calls and retries).

    Args:
        window_seconds: How far back events count.
    """

    __slots__ = ("_buckets", "_width")

    def __init__(self, window_seconds: float) -> None:
        self._width = window_seconds / _BUCKETS
        # (bucket number, counts per kind), oldest first.
        self._buckets: list[tuple[int, list[int]]] = []

    def _current(self, now: float) -> list[int]:
        number = int(now // self._width)
        buckets = self._buckets
        if buckets and buckets[-1][0] == number:
            return buckets[-1][1]
        first_kept = number - _BUCKETS + 1
        while buckets and buckets[0][0] < first_kept:
            del buckets[0]
        counts = [0, 0]
        buckets.append((number, counts))
        return counts

    def add(self, now: float, first: int = 1, second: int = 0) -> None:
        """Count ``first`` events of the first kind and ``second`` of the second at ``now``."""
        counts = self._current(now)
        counts[0] += first
        counts[1] += second

    def totals(self, now: float) -> tuple[int, int]:
        """The counts of both kinds within the window ending at ``now``."""
        first_kept = int(now // self._width) - _BUCKETS + 1
        first = second = 0
        for number, counts in self._buckets:
            if number >= first_kept:
                first += counts[0]
                second += counts[1]
        return first, second

    def clear(self) -> None:
        """Forget every event."""
        self._buckets.clear()


class CircuitBreaker:
    """The state machine of one circuit breaker (see the module docstring).

    Every call it admits must be followed by exactly one :meth:`record` (the call's outcome) or
    :meth:`cancel` (the call ended without one: it was never sent, or failed on the caller's side). A caller
    that may see the state change while its call runs (calls from several threads) passes the
    :attr:`generation` read right after :meth:`admit`, so that a call admitted before the breaker opened, and
    ending after it went half-open, is neither taken for a probe nor frees a probe's place.

    Args:
        policy: When to open and close.
    """

    __slots__ = ("_calls", "_opened_at", "_probes", "_successes", "generation", "policy", "state")

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.state = BreakerState.CLOSED
        self._calls = SlidingCounts(policy.window_seconds)
        self._opened_at = 0.0
        self._probes = 0
        self._successes = 0
        #: How many times the state changed: the outcome of a call admitted in another generation is ignored.
        self.generation = 0

    def admit(self, now: float) -> tuple[bool, BreakerState | None]:
        """Whether a call made at ``now`` may go ahead, and the state the breaker moved to (``None``: no change).

        An open breaker whose cool-down is over moves to half-open and admits the call as a probe.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return ADMITTED, None
        changed = None
        if state is BreakerState.OPEN:
            if now < self._opened_at + self.policy.cool_down_seconds:
                return REFUSED, None
            changed = self._move(BreakerState.HALF_OPEN)
        if self._probes >= self.policy.half_open_calls:
            return REFUSED, changed
        self._probes += 1
        return ADMITTED, changed

    def retry_after(self, now: float) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(self._opened_at + self.policy.cool_down_seconds - now, 0.0)

    def record(self, now: float, failed: bool, generation: int | None = None) -> BreakerState | None:
        """Take the outcome of an admitted call that ended at ``now``; the state moved to, or ``None``.

        ``generation``: the :attr:`generation` the call was admitted in; a call of an earlier one changes nothing.
        """
        if generation is not None and generation != self.generation:
            return None
        state = self.state
        if state is BreakerState.CLOSED:
            self._calls.add(now, 1, 1 if failed else 0)
            if not failed:
                return None
            calls, failures = self._calls.totals(now)
            policy = self.policy
            if calls >= policy.minimum_calls and failures >= policy.failure_ratio * calls:
                return self._open(now)
            return None
        if state is BreakerState.HALF_OPEN:
            self._probes = max(self._probes - 1, 0)
            if failed:
                return self._open(now)
            self._successes += 1
            if self._successes >= self.policy.half_open_calls:
                return self._move(BreakerState.CLOSED)
        # Open: a call admitted before the breaker opened ended late; it changes nothing.
        return None

    def cancel(self, generation: int | None = None) -> None:
        """An admitted call ended without an outcome: give its probe slot back (half-open).

        ``generation``: the :attr:`generation` the call was admitted in; a call of an earlier one held no slot.
        """
        if generation is not None and generation != self.generation:
            return
        if self.state is BreakerState.HALF_OPEN:
            self._probes = max(self._probes - 1, 0)

    def _open(self, now: float) -> BreakerState:
        self._opened_at = now
        return self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> BreakerState:
        self.state = state
        self.generation += 1
        self._probes = 0
        self._successes = 0
        self._calls.clear()
        return state


class Bulkhead:
    """The calls in flight to one service from one client process, at most ``max_in_flight``.

    Args:
        max_in_flight: The limit.
    """

    __slots__ = ("in_flight", "max_in_flight")

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    def try_enter(self) -> bool:
        """Count one more call in flight if there is room; whether there was."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """One call in flight ended."""
        self.in_flight = max(self.in_flight - 1, 0)
