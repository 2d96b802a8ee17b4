"""How the event readers' failures are logged, and when a failure means the consumer groups are gone (no Redis).

These test the consumer's internals (``_Failure``, ``_failure_kind``, ``_groups_lost``) directly: the orders in
which readers fail, join and recover (a reader started in the middle of an outage, several failing together) cannot
be reached deterministically through ``EventConsumer`` with real Redis processes. The behaviour they add up to is
tested with real Redis in ``tests/integration/fleet/test_events_outages.py`` and
``tests/functional/fleet/test_outages.py``.
"""

from __future__ import annotations

import logging

import pytest
import redis

from pysoa_like.events.consumer import _Failure, _failure_kind, _groups_lost
from pysoa_like.fleet.errors import FleetConnectionError

_DOWN = "Events: could not read events (retrying): "
_BACK = "Events: could read events again"


def _wrapped(cause: BaseException) -> FleetConnectionError:
    """A FleetConnectionError raised from ``cause``, as FleetRedis.run raises them."""
    try:
        raise FleetConnectionError(f"Redis failed while claiming idle it.x events: {cause}") from cause
    except FleetConnectionError as exc:
        return exc


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pysoa_like.events")


def test_readers_failing_together_are_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """Readers failing the same way make one WARNING when the first fails and one INFO when the last is back."""
    failure = _Failure("read events")
    down = redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
    failure.failed("a", down)
    failure.failed("b", _wrapped(down))
    failure.failed("a", down)
    failure.recovered("a")
    assert _lines(caplog) == [(logging.WARNING, _DOWN + str(down))]
    failure.recovered("b")
    failure.recovered("b")
    assert _lines(caplog)[1:] == [(logging.INFO, _BACK)]


def test_a_reader_failing_for_its_own_reason_neither_hides_nor_is_hidden(caplog: pytest.LogCaptureFixture) -> None:
    """A failure of another kind (WRONGTYPE) during an outage has its own WARNING, and the outage's end its INFO
    naming what still fails."""
    failure = _Failure("read events")
    wrong = redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    down = redis.TimeoutError("Timeout reading from socket")
    failure.failed("a", wrong)
    failure.failed("b", down)
    failure.recovered("b")
    assert _lines(caplog) == [
        (logging.WARNING, _DOWN + str(wrong)),
        (logging.WARNING, _DOWN + str(down)),
        (logging.INFO, _BACK + " (still failing: WRONGTYPE)"),
    ]


def test_a_reader_joining_during_an_outage_counts_in_it_until_its_first_step_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reader started while the planning step fails is part of that outage: the outage ends when it is back too;
    a reader joining when nothing fails is not counted."""
    failure = _Failure("read events")
    failure.joined("early")
    failure.recovered("early")
    assert _lines(caplog) == []
    failure.failed("planning", FleetConnectionError("No Redis for the fleet keys: no Sentinel answered"))
    failure.joined("reader")
    failure.recovered("planning")
    assert [line for line in _lines(caplog) if line[0] == logging.INFO] == []
    failure.recovered("reader")
    assert _lines(caplog)[-1] == (logging.INFO, _BACK)


def test_each_master_of_a_ring_has_its_own_outage(caplog: pytest.LogCaptureFixture) -> None:
    """Failures naming a master are said per master, and a reader joining during one master's outage is not counted
    in it when it reads another master (that master's end was said only after the new reader's first step)."""
    failure = _Failure("read events")
    down = redis.ConnectionError("Connection closed by server.")
    failure.failed("a1", down, "10.0.0.1:6379")
    failure.joined("b1", "10.0.0.2:6379")
    failure.joined("a2", "10.0.0.1:6379")
    failure.failed("b1", down, "10.0.0.2:6379")
    failure.recovered("a1")
    assert _lines(caplog) == [
        (logging.WARNING, f"Events: could not read events from 10.0.0.1:6379 (retrying): {down}"),
        (logging.WARNING, f"Events: could not read events from 10.0.0.2:6379 (retrying): {down}"),
    ]
    failure.recovered("a2")
    failure.recovered("b1")
    assert _lines(caplog)[2:] == [
        (
            logging.INFO,
            "Events: could read events from 10.0.0.1:6379 again (still failing: unreachable on 10.0.0.2:6379)",
        ),
        (logging.INFO, "Events: could read events from 10.0.0.2:6379 again"),
    ]
    failure.failed("b2", down, "10.0.0.2:6379")
    failure.joined("a3", "10.0.0.1:6379")
    failure.recovered("b2")
    assert _lines(caplog)[-1] == (logging.INFO, "Events: could read events from 10.0.0.2:6379 again")


def test_a_fleet_wide_outage_ends_when_its_last_reader_fails_on_its_master(caplog: pytest.LogCaptureFixture) -> None:
    """Readers of a ring started during a fleet-wide outage (the reads planned once the Sentinels answered) count in
    it; the last of them then failing on its own master ends it with its INFO (it vanished without one: the WARNING
    for the whole fleet was never answered)."""
    failure = _Failure("read events")
    down = redis.ConnectionError("Error 111 connecting to 10.0.0.2:6379. Connection refused.")
    failure.failed("planning", down)
    failure.joined("a1", "10.0.0.1:6379")
    failure.joined("b1", "10.0.0.2:6379")
    failure.recovered("planning")
    failure.recovered("a1")
    failure.failed("b1", down, "10.0.0.2:6379")
    failure.recovered("b1")
    assert _lines(caplog) == [
        (logging.WARNING, f"{_DOWN}{down}"),
        (logging.WARNING, f"Events: could not read events from 10.0.0.2:6379 (retrying): {down}"),
        (logging.INFO, f"{_BACK} (still failing: unreachable on 10.0.0.2:6379)"),
        (logging.INFO, "Events: could read events from 10.0.0.2:6379 again"),
    ]


def test_groups_lost_during_an_outage_are_part_of_it(caplog: pytest.LogCaptureFixture) -> None:
    """A failing reader that then finds its groups gone (Redis back empty) says nothing more; the same answer to a
    reader that was not failing is a failure of its own."""
    failure = _Failure("read events")
    lost = redis.ResponseError("NOGROUP No such key 'pysoa:events:{it.x}' or consumer group 'pool:s'")
    failure.failed("a", redis.ConnectionError("Connection closed by server."))
    failure.failed("a", _wrapped(lost))
    failure.recovered("a")
    assert [level for level, _ in _lines(caplog)] == [logging.WARNING, logging.INFO]
    failure.failed("b", lost)
    assert _lines(caplog)[-1] == (logging.WARNING, _DOWN + str(lost))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."), "unreachable"),
        (_wrapped(redis.TimeoutError("Timeout reading from socket")), "unreachable"),
        (FleetConnectionError("No Redis for the fleet keys: no Sentinel answered"), "unreachable"),
        (_wrapped(redis.AuthenticationError("invalid username-password pair")), "refused credentials"),
        (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), "WRONGTYPE"),
        (
            _wrapped(
                redis.ResponseError(
                    "Command # 1 (XREADGROUP GROUP g me COUNT 1 BLOCK 200 STREAMS k >) of pipeline caused error: "
                    "NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option"
                )
            ),
            "NOGROUP",
        ),
        (
            # Redis 6's wrapping of a script's error (the claim script finding the groups gone)
            _wrapped(
                redis.ResponseError(
                    "Error running script (call to f_c01cda35a70921c2e21ce0b619165c8701a3b838): @user_script:2: "
                    "NOGROUP No such key 'k' or consumer group 'g'"
                )
            ),
            "NOGROUP",
        ),
        (redis.ResponseError("something unusual"), "ERR"),
    ],
)
def test_failures_are_told_apart_by_what_redis_answered(error: Exception, kind: str) -> None:
    """The kind of a failure looks through FleetError to its cause, and through a pipeline's wrapping."""
    assert _failure_kind(error) == kind


def test_groups_are_lost_when_redis_answers_nogroup_even_through_a_fleet_error() -> None:
    """NOGROUP means the groups are gone, whether raised by redis-py or wrapped by the fleet (a claim script's)."""
    lost = redis.ResponseError("NOGROUP No such key 'k' or consumer group 'g'")
    assert _groups_lost(lost)
    assert _groups_lost(_wrapped(lost))
    assert not _groups_lost(_wrapped(redis.ConnectionError("Connection refused")))
    assert not _groups_lost(redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert not _groups_lost(FleetConnectionError("NOGROUP in a message but no cause"))
