"""Retry rules of the sans-I/O core: what may be retried, full-jitter backoff, and the retry budget."""

from __future__ import annotations

from pysoa_like.core.retry import Failure, RetryBudget, RetryPolicy, backoff_delay, may_retry


def test_a_request_that_never_reached_a_server_may_always_be_retried() -> None:
    """NOT_SENT is retried for any action; a timeout or a server error only for idempotent ones."""
    assert may_retry(Failure.NOT_SENT, idempotent=False)
    assert not may_retry(Failure.TIMEOUT, idempotent=False)
    assert not may_retry(Failure.SERVER_ERROR, idempotent=False)
    assert may_retry(Failure.TIMEOUT, idempotent=True)
    assert may_retry(Failure.SERVER_ERROR, idempotent=True)


def test_backoff_is_a_random_share_of_a_doubling_capped_delay() -> None:
    """With base 0.1 and max 0.5 the caps are 0.1, 0.2, 0.4, 0.5; the draw picks the share of the cap."""
    policy = RetryPolicy(base_delay_seconds=0.1, max_delay_seconds=0.5)
    assert [backoff_delay(policy, n, 1.0) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
    assert backoff_delay(policy, 3, 0.5) == 0.2
    assert backoff_delay(policy, 3, 0.0) == 0.0


def test_the_budget_allows_the_minimum_plus_a_share_of_recent_calls() -> None:
    """ratio 0.2, minimum 1: after 10 calls, 3 retries (1 + 0.2 x 10) pass and the fourth is refused."""
    budget = RetryBudget(0.2, 1, 10.0)
    for _ in range(10):
        budget.called(0.0)
    assert [budget.try_spend(0.0) for _ in range(4)] == [True, True, True, False]


def test_the_budget_refills_as_old_retries_leave_its_window() -> None:
    """Retries spent 11 s ago no longer count against a 10 s budget."""
    budget = RetryBudget(0.0, 2, 10.0)
    assert budget.try_spend(0.0) and budget.try_spend(0.0)
    assert not budget.try_spend(0.0)
    assert budget.try_spend(11.0)
