"""Deadline arithmetic of the sans-I/O core: the time left, and how a bounded call's wait and expiry are cut."""

from __future__ import annotations

import copy
import pickle

from pysoa_like.core.deadlines import DeadlineExpiry, bounded_expiry, bounded_wait, time_left
from pysoa_like.core.message import expiry_time


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


def test_a_deadline_expiry_is_its_seconds_to_code_that_knows_nothing_of_it() -> None:
    """It compares, rounds and adds as its number of seconds; arithmetic on it gives a plain float."""
    expiry = DeadlineExpiry(2.5, deadline=100.0)
    assert expiry == 2.5
    assert expiry + 1 == 3.5
    assert type(expiry + 1) is float
    assert expiry.deadline == 100.0


def test_a_deadline_expiry_keeps_its_deadline_when_copied_or_pickled() -> None:
    """A copy (middleware may deep-copy what it is given) and a pickle round trip keep both values."""
    expiry = DeadlineExpiry(2.5, deadline=100.0)
    for copied in (copy.copy(expiry), copy.deepcopy(expiry), pickle.loads(pickle.dumps(expiry))):
        assert isinstance(copied, DeadlineExpiry)
        assert (copied, copied.deadline) == (2.5, 100.0)


def test_the_expiry_time_of_a_message_never_passes_the_deadline_its_lifetime_carries() -> None:
    """``now + lifetime``, cut to the deadline of a DeadlineExpiry (even one already passed); a plain number is
    not cut."""
    assert expiry_time(5.0, 10.0) == 15.0
    assert expiry_time(DeadlineExpiry(5.0, deadline=14.0), 10.0) == 14.0
    assert expiry_time(DeadlineExpiry(5.0, deadline=16.0), 10.0) == 15.0
    assert expiry_time(DeadlineExpiry(5.0, deadline=9.0), 10.0) == 9.0


def test_an_integer_deadline_is_stamped_as_a_float_expiry() -> None:
    """A deadline set as an int (``client.deadline = 1002``) still gives the float ``__expiry__`` every envelope has."""
    stamped = expiry_time(DeadlineExpiry(5.0, deadline=1002), 1000.0)
    assert (stamped, type(stamped)) == (1002.0, float)
