"""An EventConsumer (one worker's event readers) stopped during a Redis outage, against real Redis and Sentinel
processes: the start-up planning of its reads caught half-way by a proxy holding the Sentinel's answer, or a Redis
that never answered. A reader that never started, or never reached Redis, has nothing to acknowledge or leave."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from pysoa_like.events import Event
from pysoa_like.events.consumer import EventConsumer, subscriptions_for
from pysoa_like.events.publisher import RedisEventPublisher
from pysoa_like.events.testing import wait_for_event_handled
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.keys import event_stream_key, ring_index
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.server.server import Server
from pysoa_like.test.redis import RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.integration._latency_proxy import LatencyProxy

_NOT_ACKNOWLEDGED = "Events: could not acknowledge the last events at shutdown"
_DOWN = "Events: could not read events (retrying): "


handled: list[Any] = []


def _record(event: Event) -> None:
    handled.append(event.body)


class _Server(Server):
    service_name = "outages"
    action_class_map: dict[str, Any] = {}
    event_handlers = {"it.pool": _record}


def _consumer(fleet: FleetRedis, stop: threading.Event, server_class: type[Server] = _Server) -> EventConsumer:
    """An EventConsumer of ``server_class``'s handlers on ``fleet``, stopping when ``stop`` is set."""
    server = server_class(
        {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
                "kwargs": {"backend_type": fleet.backend_type, "backend_layer_kwargs": fleet.backend_layer_kwargs},
            },
            "events": {"block_seconds": 0.2},
        }
    )
    settings = server.settings["events"]
    return EventConsumer(server, fleet, subscriptions_for(server, 5), "me", settings, stop.is_set)


def _commands_seen(master: RedisServerProcess) -> set[str]:
    """The commands the master ran so far (by name, lower case)."""
    with master.client() as client:
        return {name.removeprefix("cmdstat_").lower() for name in client.info("commandstats")}


def _said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def _wait(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class _Planning:
    """A consumer on the Sentinel backend whose reads are being planned: started while no Sentinel answered, its
    planning thread is now caught in the discovery of the services (a proxy holds what it sent to the Sentinel)."""

    def __init__(self, master: RedisServerProcess, proxy: LatencyProxy, fleet: FleetRedis, stop: threading.Event):
        self.master = master
        self.proxy = proxy
        self.fleet = fleet
        self.stop = stop


@pytest.fixture
def planning(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[_Planning, EventConsumer]]:
    caplog.set_level(logging.INFO, logger="pysoa_like.events")
    stop = threading.Event()
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        port = pick_free_port()
        fleet = FleetRedis("redis.sentinel", {"hosts": [f"127.0.0.1:{port}"]})
        consumer = _consumer(fleet, stop)
        # Given a consumer started while no Sentinel answered (it plans its reads in a thread, backing off)
        consumer.start()
        assert _said(caplog, _DOWN) == 1
        # and its next attempt caught in the discovery of the services
        with LatencyProxy(sentinel.address, 0.0, port=port, held=True) as proxy:
            assert proxy.wait_for_held_request(10)
            state = _Planning(master, proxy, fleet, stop)
            try:
                yield state, consumer
            finally:
                stop.set()
                proxy.release_requests()
                consumer.join(time.monotonic() + 10)
                fleet.close()


def test_a_consumer_stopped_while_planning_its_reads_starts_no_reader(
    planning: tuple[_Planning, EventConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    """Stopped while its reads are being planned, the consumer starts no reader once the plan is made: nothing is
    sent to Redis, and it does not say it could not acknowledge events it never read (its readers were started,
    left at once and tried to leave their groups, and with Redis down said they could not)."""
    state, consumer = planning
    # When the worker stops, then the discovery answers
    state.stop.set()
    state.proxy.release_requests()
    # Then the consumer ends without a reader touching Redis or saying it could not acknowledge
    assert consumer.join(time.monotonic() + 10)
    assert not {"xpending", "xgroup|delconsumer", "xgroup", "xreadgroup"} & _commands_seen(state.master)
    assert _said(caplog, _NOT_ACKNOWLEDGED) == 0


def test_a_consumer_given_up_while_planning_its_reads_leaves_the_closed_fleet_closed(
    planning: tuple[_Planning, EventConsumer], caplog: pytest.LogCaptureFixture
) -> None:
    """As a worker's shutdown does when its grace runs out: the join gave up while the reads were being planned, and
    the fleet's Redis was closed. The plan made after starts no reader, so nothing opens the fleet's connections
    again (a late reader discovered the services again to leave its group, and kept those connections)."""
    state, consumer = planning
    # When the worker stops, gives up waiting, and closes the fleet's Redis while the discovery is still held
    state.stop.set()
    assert not consumer.join(time.monotonic() + 0.2)
    closed = threading.Thread(target=state.fleet.close)
    closed.start()  # waits for the discovery (which holds the fleet's lock)
    state.proxy.release_requests()
    closed.join(10)
    # Then no reader ran: the Sentinel was asked once (the held discovery), Redis saw no command of a reader
    assert consumer.join(time.monotonic() + 10)
    assert state.proxy.connections == 1
    assert not {"xpending", "xgroup|delconsumer", "xgroup", "xreadgroup"} & _commands_seen(state.master)
    assert _said(caplog, _NOT_ACKNOWLEDGED) == 0


def test_a_consumer_joined_while_planning_its_reads_starts_no_reader_after(
    planning: tuple[_Planning, EventConsumer],
) -> None:
    """``join`` ends the consumer: reads planned after it began start no reader, even before ``stopping`` says so
    (a reader started then read on, and the join waited for it in vain)."""
    state, consumer = planning
    # When the consumer is joined while planning (its deadline runs out), then the discovery answers
    assert not consumer.join(time.monotonic() + 0.2)
    state.proxy.release_requests()
    # Then its planning thread ends without starting a reader, though nothing said stop
    assert consumer.join(time.monotonic() + 5)
    assert not state.stop.is_set()
    assert not {"xgroup", "xreadgroup"} & _commands_seen(state.master)


def test_a_consumer_that_never_reached_redis_says_nothing_about_acknowledging_at_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped before Redis ever answered, readers that never read have no events to acknowledge and no group to
    leave: the worker says so in the outage's line only (it also said it could not acknowledge its last events)."""
    caplog.set_level(logging.INFO, logger="pysoa_like.events")
    stop = threading.Event()
    fleet = FleetRedis("redis.standard", {"hosts": [f"redis://127.0.0.1:{pick_free_port()}/0"]})
    consumer = _consumer(fleet, stop)
    try:
        # Given a consumer whose Redis never answered, a few attempts into the outage
        consumer.start()
        _wait(lambda: _said(caplog, _DOWN) == 1)
        time.sleep(0.5)
        # When it stops
        stop.set()
        assert consumer.join(time.monotonic() + 10)
    finally:
        stop.set()
        fleet.close()
    # Then it said only that it could not read
    assert _said(caplog, _NOT_ACKNOWLEDGED) == 0
    assert _said(caplog, _DOWN) == 1


class _BrokenPlanningFleet(FleetRedis):
    """A real FleetRedis whose ring cannot be known at first (an outage), then fails with an error no Redis outage
    gives (a bug's), then works: the public API has no deterministic way to make the planning of the reads fail with
    anything but FleetError, so this injects it at the fleet's index_for (the planning's only use of the fleet)."""

    def __init__(self, url: str) -> None:
        super().__init__("redis.standard", {"hosts": [url]})
        self.plans = 0

    def index_for(self, key: str) -> int:
        self.plans += 1
        if self.plans == 1:
            raise FleetConnectionError("No Redis for the fleet keys: not yet")
        if self.plans == 2:
            raise RuntimeError("not an outage")
        return super().index_for(key)


def test_an_unexpected_error_planning_the_reads_is_logged_and_the_planning_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error other than the fleet's while the reads are planned (after an outage at start) is logged with its
    traceback, and the planning is tried again with the outage's backoff: the readers start and handle events (the
    planning thread died with an unhandled exception, and the worker never handled an event, saying nothing more)."""
    caplog.set_level(logging.INFO, logger="pysoa_like.events")
    handled.clear()
    stop = threading.Event()
    with RedisServerProcess() as master:
        fleet = _BrokenPlanningFleet(master.url)
        consumer = _consumer(fleet, stop)
        try:
            # Given a consumer whose first plan met an outage and whose second met an unexpected error
            consumer.start()
            _wait(lambda: fleet.plans >= 3)
            # When its readers are up and an event is published
            stream = "pysoa:events:{it.pool}"
            with master.client() as client:
                _wait(lambda: client.exists(stream))
            event_id = RedisEventPublisher(fleet).publish("it.pool", {"n": 1}, {}, None)
            # Then it is handled, and the unexpected error was logged once, with its traceback
            wait_for_event_handled(fleet, "it.pool", event_id, service="outages")
            assert handled == [{"n": 1}]
            errors = [record for record in caplog.records if record.levelno == logging.ERROR]
            assert len(errors) == 1, errors
            assert errors[0].exc_info is not None and "not an outage" in str(errors[0].exc_info[1])
            assert _said(caplog, "Events: could read events again") == 1
        finally:
            stop.set()
            consumer.join(time.monotonic() + 10)
            fleet.close()


def _name_on_slot(slot: int) -> str:
    """An event name whose stream lives on ring slot ``slot`` of a ring of two masters."""
    return next(f"it.ring{n}" for n in range(100) if ring_index(event_stream_key(f"it.ring{n}"), 2) == slot)


_ON_FIRST, _ON_SECOND = _name_on_slot(0), _name_on_slot(1)


class _RingServer(Server):
    service_name = "ring"
    action_class_map: dict[str, Any] = {}
    event_handlers = {_ON_FIRST: _record, _ON_SECOND: _record}


def test_an_outage_while_a_reader_fails_for_another_reason_is_said_when_it_starts_and_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reader failing for a reason of its own (its stream's key holds a string: WRONGTYPE) does not hide another
    reader's outage: the outage gets its WARNING when it starts and its INFO when it ends (the readers shared one
    outage, so while the first failed no other failure was said, and its end never was)."""
    caplog.set_level(logging.INFO, logger="pysoa_like.events")
    stop = threading.Event()
    with RedisServerProcess() as first, RedisServerProcess() as second:
        fleet = FleetRedis("redis.standard", {"hosts": [first.url, second.url]})
        consumer = _consumer(fleet, stop, _RingServer)
        down = "Events: could not read events from 127.0.0.1:"
        back = f"Events: could read events from 127.0.0.1:{first.port} again"
        still = f"(still failing: WRONGTYPE on 127.0.0.1:{second.port})"
        try:
            # Given a worker whose reader on the second master fails for good (a string where its stream should be)
            with second.client() as client:
                client.set(event_stream_key(_ON_SECOND), "not a stream")
            consumer.start()
            assert _said(caplog, "WRONGTYPE") == 1
            with first.client() as client:
                _wait(lambda: client.exists(event_stream_key(_ON_FIRST)))
            # When the first master goes away, and comes back (empty)
            first.kill()
            _wait(lambda: _said(caplog, down) == 2)
            first.start()
            # Then the outage ended with its line, and the reader on the first master handles events again
            _wait(lambda: _said(caplog, back) == 1)
            event_id = RedisEventPublisher(fleet).publish(_ON_FIRST, {"n": 2}, {}, None)
            wait_for_event_handled(fleet, _ON_FIRST, event_id, service="ring")
            downs = [record.getMessage() for record in caplog.records if down in record.getMessage()]
            assert f"{second.port} (retrying): WRONGTYPE" in downs[0], downs
            assert f"{first.port} (retrying): " in downs[1] and "WRONGTYPE" not in downs[1], downs
        finally:
            stop.set()
            consumer.join(time.monotonic() + 10)
            fleet.close()
    assert _said(caplog, down) == 2
    assert _said(caplog, back) == 1
    assert _said(caplog, still) == 1


@pytest.mark.parametrize("sentinel", [False, True], ids=["hosts", "sentinel-services"])
def test_over_a_ring_each_master_s_outage_is_said_on_its_own(caplog: pytest.LogCaptureFixture, sentinel: bool) -> None:
    """Over a ring of two masters (two hosts, or two Sentinel services), each master's outage has its own WARNING
    naming that master when it starts and its own INFO when that master is back (the readers' failures were grouped
    by kind only: the line did not say which master, the second master going down while the first was down said
    nothing, and the first coming back said nothing while the second was down)."""
    caplog.set_level(logging.INFO, logger="pysoa_like.events")
    stop = threading.Event()
    with ExitStack() as stack:
        first = stack.enter_context(RedisServerProcess())
        second = stack.enter_context(RedisServerProcess())
        if sentinel:
            watcher = stack.enter_context(RedisSentinelProcess([("one", *first.address), ("two", *second.address)]))
            kwargs = {"hosts": [f"{watcher.address[0]}:{watcher.address[1]}"], "sentinel_services": ["one", "two"]}
            fleet = FleetRedis("redis.sentinel", kwargs)
            names = ("the master of Sentinel service 'one'", "the master of Sentinel service 'two'")
        else:
            fleet = FleetRedis("redis.standard", {"hosts": [first.url, second.url]})
            names = (f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}")
        consumer = _consumer(fleet, stop, _RingServer)
        first_down = f"Events: could not read events from {names[0]} (retrying): "
        second_down = f"Events: could not read events from {names[1]} (retrying): "
        first_back = f"Events: could read events from {names[0]} again"
        second_back = f"Events: could read events from {names[1]} again"
        try:
            # Given a worker reading events on both masters
            consumer.start()
            for master, name in ((first, _ON_FIRST), (second, _ON_SECOND)):
                with master.client() as client:
                    _wait(lambda client=client, name=name: client.exists(event_stream_key(name)))
            # When the first master goes away, Then its outage is said, naming it
            first.kill()
            _wait(lambda: _said(caplog, first_down) == 1)
            # When the second goes away too, Then its outage is said as well
            second.kill()
            _wait(lambda: _said(caplog, second_down) == 1)
            # When the first comes back (the second still down), Then its end is said, naming what still fails
            first.start()
            _wait(lambda: _said(caplog, first_back) == 1)
            assert _said(caplog, f"(still failing: unreachable on {names[1]})") == 1
            event_id = RedisEventPublisher(fleet).publish(_ON_FIRST, {"n": 1}, {}, None)
            wait_for_event_handled(fleet, _ON_FIRST, event_id, service="ring")
            # When the second comes back, Then its end is said, and its reader handles events again
            second.start()
            _wait(lambda: _said(caplog, second_back) == 1)
            event_id = RedisEventPublisher(fleet).publish(_ON_SECOND, {"n": 2}, {}, None)
            wait_for_event_handled(fleet, _ON_SECOND, event_id, service="ring")
        finally:
            stop.set()
            consumer.join(time.monotonic() + 10)
            fleet.close()
    # Each said once, and no line spoke for the whole fleet
    assert [_said(caplog, line) for line in (first_down, second_down, first_back, second_back)] == [1, 1, 1, 1]
    assert _said(caplog, "Events: could not read events (retrying)") == 0
    assert _said(caplog, "Events: could read events again") == 0
