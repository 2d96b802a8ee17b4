"""Retries: which failures may be retried, how long to wait before each retry, and a budget that caps them.

Pure: the caller passes the time and the random draw. A retry is always safe when the request never
reached a server (it could not be pushed, or the queue was full); after a timeout or a server error it
is safe only for idempotent actions, since the first attempt may have run. A :class:`RetryBudget` lets
retries be at most ``budget_ratio`` of the calls in a sliding window (plus ``budget_minimum``), so a
failing service sees at most that much more traffic, never a multiple of it (gRPC's gRFC A6 and
Finagle's retry budgets work the same way).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from pysoa_like.core.breaker import SlidingCounts

__all__ = ["Failure", "RetryBudget", "RetryPolicy", "backoff_delay", "may_retry", "pushback_of", "retry_policy_of"]

# The response context key of a server's pushback: milliseconds before the client may send again.
_RETRY_AFTER_KEY = "retry_after_ms"


class Failure(enum.Enum):
    """What went wrong with one attempt of a call, as far as retrying goes."""

    #: The request never reached a server: it could not be pushed, or the service's queue was full.
    NOT_SENT = "not_sent"
    #: No reply in time (the request may have run).
    TIMEOUT = "timeout"
    #: The server answered with an error that is not the caller's (the request may have done part of its work).
    SERVER_ERROR = "server_error"
    #: The server was overloaded and did not run the job; it said when to come back (pushback).
    PUSHED_BACK = "pushed_back"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How a service's calls are retried (the ``retry`` client setting).

    Args:
        attempts: Tries in all, the first one included (1: no retry).
        base_delay_seconds: The backoff before the first retry is drawn from 0 to this; it doubles each retry.
        max_delay_seconds: ... up to this.
        budget_ratio: Retries may be at most this fraction of the calls of the last ``budget_window_seconds``...
        budget_minimum: ... plus this many.
        budget_window_seconds: The window of the budget.
        idempotent_actions: Actions that may be retried after a timeout or a server error too.
    """

    attempts: int = 3
    base_delay_seconds: float = 0.05
    max_delay_seconds: float = 1.0
    budget_ratio: float = 0.2
    budget_minimum: int = 10
    budget_window_seconds: float = 10.0
    idempotent_actions: frozenset[str] = frozenset()


def retry_policy_of(values: Any) -> RetryPolicy:
    """A :class:`RetryPolicy` from a mapping of its fields (the ``retry`` setting or call keyword).

    Raises:
        TypeError: ``values`` is not a mapping, or names a field a policy does not have.
    """
    if not isinstance(values, dict):
        raise TypeError(f"A retry policy must be a dict of its settings, got {type(values).__name__}")
    fields = dict(values)
    fields["idempotent_actions"] = frozenset(fields.get("idempotent_actions") or ())
    return RetryPolicy(**fields)


def may_retry(failure: Failure, idempotent: bool) -> bool:
    """Whether an attempt that failed so may be tried again (budget and deadline aside)."""
    return failure is Failure.NOT_SENT or failure is Failure.PUSHED_BACK or idempotent


def pushback_of(context: Any) -> float | None:
    """The seconds a reply's context asks the client to wait before sending again (``retry_after_ms``), or ``None``.

    Only a non-negative integer (or float) of milliseconds counts; anything else is no pushback.
    """
    if not isinstance(context, dict):
        return None
    value = context.get(_RETRY_AFTER_KEY)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        return None
    return float(value) / 1000.0


def backoff_delay(policy: RetryPolicy, retry_number: int, draw: float) -> float:
    """The wait before retry ``retry_number`` (1 for the first): "full jitter", ``draw`` (0 to 1) of the cap.

    The cap is ``base_delay_seconds * 2 ** (retry_number - 1)``, at most ``max_delay_seconds``.
    """
    cap: float = min(policy.max_delay_seconds, policy.base_delay_seconds * 2.0 ** max(retry_number - 1, 0))
    return draw * cap


class RetryBudget:
    """The retries a client may still make to one service: at most ``ratio`` of its recent calls, plus ``minimum``.

    Args:
        ratio: Retries per call allowed over the window.
        minimum: Retries allowed over the window whatever the number of calls.
        window_seconds: How far back calls and retries count.
    """

    __slots__ = ("_counts", "minimum", "ratio")

    def __init__(self, ratio: float, minimum: int, window_seconds: float) -> None:
        self.ratio = ratio
        self.minimum = minimum
        # First kind: calls (first attempts); second kind: retries.
        self._counts = SlidingCounts(window_seconds)

    def called(self, now: float) -> None:
        """Count a call (its first attempt) made at ``now``."""
        self._counts.add(now, 1, 0)

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget if there is one left; whether there was."""
        calls, retries = self._counts.totals(now)
        if retries >= self.minimum + self.ratio * calls:
            return False
        self._counts.add(now, 0, 1)
        return True
