"""The pause before popping a busy reply list (``pysoa_like.core.message.batch_pause``), which both drivers follow."""

from __future__ import annotations

from pysoa_like.core.message import BATCH_PAUSE_SECONDS, BATCH_WAITING, batch_pause


def test_a_serial_call_or_a_few_calls_in_flight_never_pause() -> None:
    assert [batch_pause(awaited) for awaited in (0, 1, 2, BATCH_WAITING - 1)] == [0.0, 0.0, 0.0, 0.0]


def test_a_busy_reply_list_pauses_briefly_so_one_pop_takes_many_replies() -> None:
    assert batch_pause(BATCH_WAITING) == batch_pause(1000) == BATCH_PAUSE_SECONDS
    assert 0 < BATCH_PAUSE_SECONDS <= 0.005  # brief next to any call's round trip under load
