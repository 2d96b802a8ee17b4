"""Workers with event handlers or periodic tasks ride out Redis outages with real processes: Redis not there yet
when they start (nothing listening, or no Sentinel answering the discovery of the services) and Redis restarted
empty while they run. Each feature logs one line when the outage starts and one when it ends, no traceback, and
the events and ticks are taken once Redis is back."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.events.testing import wait_for_event_handled
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.store import RegistryStore
from pysoa_like.test.redis import RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for
from tests.functional.fleet.conftest import (
    EVENTS_SERVER_PATH,
    EVENTS_SETTINGS_MODULE,
    PERIODIC_SERVER_PATH,
    PERIODIC_SETTINGS_MODULE,
    SERVER_PATH,
    SETTINGS_MODULE,
    answers,
    client_for,
)

_EVENTS_DOWN = "Events: could not read events (retrying): "
_EVENTS_BACK = "Events: could read events again"
_TICKS_DOWN = "Periodic tasks: could not claim ticks (retrying): "
_TICKS_BACK = "Periodic tasks: could claim ticks again"
_ACTIONS_DOWN = "Could not publish the actions in the service registry"
_DISCOVERY = "No sentinel_services configured and none could be discovered with SENTINEL MASTERS"


@pytest.fixture
def runners() -> Iterator[list[Runner]]:
    """The runners a test started: what is left of them is killed at the end."""
    started: list[Runner] = []
    yield started
    kill_runners(started)


def _serve(runners: list[Runner], tmp_path: Path, kind: str, redis_port: int, sentinel_port: int | None) -> Runner:
    """``pysoa-like serve`` of the events, periodic or plain fleet test service (one process, no fork) on that Redis,
    or on the Sentinel backend asking that Sentinel (its handlers and tasks record on the Redis of ``redis_port``)."""
    server, settings = (EVENTS_SERVER_PATH, EVENTS_SETTINGS_MODULE)
    if kind == "periodic":
        server, settings = (PERIODIC_SERVER_PATH, PERIODIC_SETTINGS_MODULE)
    if kind == "fleet":
        server, settings = (SERVER_PATH, SETTINGS_MODULE)
    command = [sys.executable, "-m", "pysoa_like", "serve", server, "--settings", settings, "--fork", "0"]
    env = {"FLEET_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "FLEET_SERVICE": kind}
    if sentinel_port is not None:
        env["FLEET_SENTINEL"] = f"127.0.0.1:{sentinel_port}"
    runner = spawn_runner(command, env, tmp_path / f"{kind}.log")
    runners.append(runner)
    return runner


def _redis_comes_up(stack: ExitStack, redis_port: int, sentinel_port: int | None) -> RedisServerProcess:
    """Start the Redis on ``redis_port`` and, for the Sentinel backend, a Sentinel monitoring it as ``main``."""
    master = stack.enter_context(RedisServerProcess(port=redis_port))
    if sentinel_port is not None:
        stack.enter_context(RedisSentinelProcess([("main", *master.address)], port=sentinel_port))
    return master


def _handled(master: RedisServerProcess) -> list[dict[str, Any]]:
    with master.client() as client:
        return [json.loads(line) for line in client.lrange("handled", 0, -1)]


def _exists(master: RedisServerProcess, key: str) -> bool:
    with master.client() as client:
        return bool(client.exists(key))


def _outage_logged_once(runner: Runner, down: str) -> None:
    """The worker, a few attempts into the outage, is alive and has said so once per feature, without a traceback."""
    runner.wait_for_log(down, timeout=30)
    time.sleep(3)  # attempts after 0.25, 0.5, 1 and 2 s
    assert runner.process.poll() is None, runner.log()
    log = runner.log()
    assert log.count(down) == 1, log
    assert log.count("Transport unavailable (") == 1, log
    assert "Traceback" not in log, log


def _outage_ended_once(runner: Runner, down: str, back: str) -> None:
    """The stopped worker logged the feature's outage once when it started and once when it ended, no traceback."""
    log = runner.log()
    assert log.count(down) == 1, log
    assert log.count(back) == 1, log
    assert "Traceback" not in log, log


@pytest.mark.parametrize("sentinel", [False, True], ids=["nothing-listening", "no-sentinel-answering"])
def test_an_event_worker_started_before_redis_says_so_once_then_handles_events(
    runners: list[Runner], tmp_path: Path, sentinel: bool
) -> None:
    """Redis not there yet: the worker logs one line for its event readers (not one per reader; with the Sentinel
    backend it died with a FleetConnectionError traceback), backs off, and handles events once Redis answers."""
    # Given a worker with event handlers started before its Redis (or any Sentinel)
    redis_port = pick_free_port()
    sentinel_port = pick_free_port() if sentinel else None
    runner = _serve(runners, tmp_path, "events", redis_port, sentinel_port)
    _outage_logged_once(runner, _EVENTS_DOWN)
    if sentinel:
        asked = f"(asked 127.0.0.1:{sentinel_port}: "
        assert f"{_EVENTS_DOWN}No Redis for the fleet keys: {_DISCOVERY} {asked}" in runner.log()
    with ExitStack() as stack:
        # When Redis comes up
        master = _redis_comes_up(stack, redis_port, sentinel_port)
        runner.wait_for_log(_EVENTS_BACK, timeout=20)
        client = client_for(f"redis://127.0.0.1:{redis_port}/0", "events")
        ids = [client.publish_event("test.record", {"n": n}) for n in range(3)]
        # Then the events are handled, and the outage ended with one line
        for event_id in ids:
            wait_for_event_handled(client, "test.record", event_id, service="events", timeout=15)
        assert [record["id"] for record in _handled(master)] == ids
        client.fleet_redis().close()
        assert runner.terminate() == 0
    _outage_ended_once(runner, _EVENTS_DOWN, _EVENTS_BACK)


def test_an_event_worker_makes_its_groups_again_after_redis_restarts_empty(
    runners: list[Runner], tmp_path: Path
) -> None:
    """Redis restarted without its data (the consumer groups gone): the readers make their groups again and handle
    the events published after (the group readers saw NOGROUP from their claim script and never recovered); the
    outage is logged once when it starts and once when it ends."""
    with RedisServerProcess() as master:
        # Given a worker handling events
        runner = _serve(runners, tmp_path, "events", master.port, None)
        client = client_for(master.url, "events")
        stream = "pysoa:events:{test.record}"
        wait_for(lambda: _exists(master, stream), timeout=20)
        first = client.publish_event("test.record", {"n": 0})
        wait_for_event_handled(client, "test.record", first, service="events", timeout=15)
        # When Redis goes away for a few seconds and comes back empty
        master.kill()
        runner.wait_for_log(_EVENTS_DOWN, timeout=15)
        time.sleep(2)
        master.start()
        client.fleet_redis().close()
        # Then the worker makes its group again and handles the events published from then on
        wait_for(lambda: _exists(master, stream), timeout=15)
        ids = [client.publish_event("test.record", {"n": n}) for n in range(1, 4)]
        for event_id in ids:
            wait_for_event_handled(client, "test.record", event_id, service="events", timeout=15)
        assert [record["id"] for record in _handled(master)] == ids  # the first one's record went with Redis
        runner.wait_for_log(_EVENTS_BACK, timeout=10)
        client.fleet_redis().close()
        assert runner.terminate() == 0
    _outage_ended_once(runner, _EVENTS_DOWN, _EVENTS_BACK)


@pytest.mark.parametrize("sentinel", [False, True], ids=["nothing-listening", "no-sentinel-answering"])
def test_a_periodic_worker_started_before_redis_says_so_once_then_runs_its_ticks(
    runners: list[Runner], tmp_path: Path, sentinel: bool
) -> None:
    """Redis not there yet: the worker logs one line for its periodic tasks, backs off, and runs its ticks once
    Redis answers."""
    # Given a worker with a periodic task (every second) started before its Redis (or any Sentinel)
    redis_port = pick_free_port()
    sentinel_port = pick_free_port() if sentinel else None
    runner = _serve(runners, tmp_path, "periodic", redis_port, sentinel_port)
    _outage_logged_once(runner, _TICKS_DOWN)
    with ExitStack() as stack:
        # When Redis comes up
        master = _redis_comes_up(stack, redis_port, sentinel_port)
        # Then the task runs (the first tick seen is recorded, not run: a new task starts at its next tick)
        with master.client() as store:
            wait_for(lambda: store.llen("periodic:tick") >= 2, timeout=20)
        runner.wait_for_log(_TICKS_BACK, timeout=10)
        assert runner.terminate() == 0
    _outage_ended_once(runner, _TICKS_DOWN, _TICKS_BACK)


def _published_actions(redis_url: str, service: str) -> dict[str, Any]:
    """What the registry on ``redis_url`` holds of ``service``'s ``introspect`` answers (version -> answer)."""
    fleet = FleetRedis(backend_layer_kwargs={"hosts": [redis_url]})
    try:
        return RegistryStore(fleet).actions(service)
    finally:
        fleet.close()


def test_a_worker_started_before_redis_publishes_its_actions_once_redis_answers(
    runners: list[Runner], tmp_path: Path
) -> None:
    """Redis not there yet when the worker describes its actions: it says so once, serves once Redis answers, and
    its introspect answer reaches the registry then (it was tried once at startup only, so dashboards never saw
    the service's actions until the worker restarted)."""
    # Given a worker started before its Redis
    redis_port = pick_free_port()
    runner = _serve(runners, tmp_path, "fleet", redis_port, None)
    runner.wait_for_log(_ACTIONS_DOWN, timeout=30)
    time.sleep(3)  # attempts after 0.25, 0.5, 1 and 2 s
    assert runner.process.poll() is None, runner.log()
    with RedisServerProcess(port=redis_port) as master:
        # When Redis comes up
        client = client_for(master.url, "fleet")
        wait_for(lambda: answers(client, "fleet"), timeout=20)
        # Then its actions are published, as a worker started with Redis up publishes them
        published = wait_for(lambda: _published_actions(master.url, "fleet"), timeout=20)
        assert list(published) == ["1.4.0"]
        assert published["1.4.0"] == client.call_action("fleet", "introspect", {}).body
        client.fleet_redis().close()
        assert runner.terminate() == 0
    log = runner.log()
    assert log.count(_ACTIONS_DOWN) == 1, log
    assert log.count("Published the actions in the service registry") == 1, log
    assert "Traceback" not in log, log


def test_a_worker_publishes_its_actions_again_when_redis_lost_them(runners: list[Runner], tmp_path: Path) -> None:
    """Redis restarted empty while the worker runs, then the actions key lost with Redis up (as when it expires): each
    time, the worker's next registry refresh finds its introspect answer gone and publishes it again (it was
    published once, at start, so dashboards lacked the service's actions until the worker restarted)."""
    with RedisServerProcess() as master:
        # Given a worker serving, its actions published
        runner = _serve(runners, tmp_path, "fleet", master.port, None)
        client = client_for(master.url, "fleet")
        wait_for(lambda: answers(client, "fleet"), timeout=20)
        expected = client.call_action("fleet", "introspect", {}).body
        assert wait_for(lambda: _published_actions(master.url, "fleet"), timeout=20) == {"1.4.0": expected}
        # When Redis goes away and comes back empty
        master.kill()
        runner.wait_for_log("Could not refresh the service registry entry", timeout=15)
        master.start()
        client.fleet_redis().close()
        # Then the actions are published again, as they were
        assert wait_for(lambda: _published_actions(master.url, "fleet"), timeout=20) == {"1.4.0": expected}
        # When the key goes with Redis up (its expiry, or someone deleting it), Then they are published again too
        with master.client() as raw:
            raw.delete("pysoa:registry:{fleet}:actions")
        assert wait_for(lambda: _published_actions(master.url, "fleet"), timeout=20) == {"1.4.0": expected}
        assert runner.terminate() == 0
    log = runner.log()
    assert log.count("Could not refresh the service registry entry") == 1, log
    assert log.count("The service registry no longer holds the published actions") == 2, log
    assert "Traceback" not in log, log


def test_a_worker_stopped_before_redis_answers_exits_at_once(runners: list[Runner], tmp_path: Path) -> None:
    """A worker still waiting to publish its actions (Redis never came) stops promptly and cleanly on SIGTERM."""
    # Given a worker started before its Redis, a few attempts into the outage
    runner = _serve(runners, tmp_path, "fleet", pick_free_port(), None)
    runner.wait_for_log(_ACTIONS_DOWN, timeout=30)
    time.sleep(2)
    # When it is told to stop, Then it exits with status 0 within seconds, having logged the outage once
    started = time.monotonic()
    assert runner.terminate(timeout=20) == 0
    assert time.monotonic() - started < 10, runner.log()
    log = runner.log()
    assert log.count(_ACTIONS_DOWN) == 1, log
    assert "Traceback" not in log, log


def test_a_worker_losing_its_sentinel_and_master_logs_short_lines_naming_them(
    runners: list[Runner], tmp_path: Path
) -> None:
    """The Sentinel and the master gone while the worker runs: its outage lines (the transport's and the registry's)
    are short and name the service and the Sentinel asked (they held redis-py's repr of the Sentinel's connection
    pool: over a thousand characters each)."""
    with ExitStack() as stack:
        # Given a worker on the Sentinel backend, serving
        redis_port, sentinel_port = pick_free_port(), pick_free_port()
        master = _redis_comes_up(stack, redis_port, sentinel_port)
        runner = _serve(runners, tmp_path, "fleet", redis_port, sentinel_port)
        client = client_for(master.url, "fleet")
        wait_for(lambda: answers(client, "fleet"), timeout=20)
        client.fleet_redis().close()
        # When the Sentinel and the master go away
        stack.close()
    runner.wait_for_log("Transport unavailable (", timeout=30)
    runner.wait_for_log("Could not refresh the service registry entry", timeout=30)
    time.sleep(2)
    # Then each line says which master no Sentinel knows and which Sentinel was asked, briefly
    assert runner.terminate() == 0
    log = runner.log()
    lookup = f"no Sentinel knows a master for service 'main' (asked 127.0.0.1:{sentinel_port}: "
    assert lookup in log, log
    assert "ConnectionPool" not in log, log
    assert max(len(line) for line in log.splitlines()) < 400, log
    assert "Traceback" not in log, log


def test_an_event_worker_stopped_during_an_outage_says_once_it_could_not_acknowledge(
    runners: list[Runner], tmp_path: Path
) -> None:
    """Stopped while Redis is down, a worker whose readers could not acknowledge or leave their groups says so in one
    line at most (it was one per reader) and exits 0."""
    with RedisServerProcess() as master:
        # Given a worker handling events (several readers: its groups and its broadcast)
        runner = _serve(runners, tmp_path, "events", master.port, None)
        client = client_for(master.url, "events")
        first = client.publish_event("test.record", {"n": 0})
        wait_for_event_handled(client, "test.record", first, service="events", timeout=20)
        client.fleet_redis().close()
        # When Redis goes away and the worker is stopped meanwhile
        master.kill()
        runner.wait_for_log(_EVENTS_DOWN, timeout=15)
        assert runner.terminate(timeout=30) == 0
    # Then it said at most once that it could not acknowledge its last events (it was once per reader; none when no
    # reader still had Redis work to do when the grace ran out, which depends on where each one was)
    log = runner.log()
    assert log.count("Events: could not acknowledge the last events at shutdown") <= 1, log
    assert "Traceback" not in log, log
