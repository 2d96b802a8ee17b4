"""Deadline arithmetic of the sans-I/O core: the time left, and how a bounded call's wait and expiry are cut."""

from __future__ import annotations

from pysoa_like.core.deadlines import bounded_expiry, bounded_wait, time_left


def test_time_left_counts_down_to_the_deadline_and_below() -> None:
    """The time left is the deadline minus now, negative once passed, None without a deadline."""
    assert time_left(100.0, 97.5) == 2.5
    assert time_left(100.0, 101.0) == -1.0
    assert time_left(None, 101.0) is None


def test_a_wait_longer_than_the_time_left_is_cut_to_it() -> None:
    """A call's wait is replaced only when it is unknown or would outlast the deadline."""
    assert bounded_wait(5.0, 2.0) == 2.0
    assert bounded_wait(None, 2.0) == 2.0
    assert bounded_wait(1.0, 2.0) is None


def test_the_expiry_of_a_bounded_request_is_at_most_the_time_left() -> None:
    """The default expiry (None or 0) and a longer one become the time left; a shorter one stays."""
    assert bounded_expiry(None, 3.0) == 3.0
    assert bounded_expiry(0, 3.0) == 3.0
    assert bounded_expiry(60, 3.0) == 3.0
    assert bounded_expiry(1.5, 3.0) == 1.5
