"""Claiming periodic ticks in real Redis (6.2 and the system's): once per tick, no overlap, first tick skipped."""

from __future__ import annotations

import time

from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.periodic.scheduler import claim_tick
from pysoa_like.test.redis import RedisServerProcess


def test_each_tick_is_claimed_once(fleet: FleetRedis) -> None:
    """The first tick ever seen is only recorded; each later tick goes to the first claimer, never twice."""
    assert claim_tick(fleet, "svc", "t", 100.0, "a", 30) == (False, None, "first")
    assert claim_tick(fleet, "svc", "t", 100.0, "b", 30) == (False, None, "done")
    assert claim_tick(fleet, "svc", "t", 101.0, "a", 0.05) == (True, 100.0, "")
    time.sleep(0.1)
    assert claim_tick(fleet, "svc", "t", 101.0, "b", 30) == (False, None, "done")
    assert claim_tick(fleet, "svc", "t", 100.5, "b", 30) == (False, None, "done")


def test_a_tick_waits_while_the_previous_run_holds_the_lock(
    fleet: FleetRedis, fleet_server: RedisServerProcess
) -> None:
    """While a run holds the lock nobody claims a later tick; after it is gone (released or expired), one may."""
    claim_tick(fleet, "svc", "t", 100.0, "a", 30)
    assert claim_tick(fleet, "svc", "t", 101.0, "a", 0.3)[0] is True
    assert claim_tick(fleet, "svc", "t", 102.0, "b", 30) == (False, None, "running")
    with fleet_server.client() as client:
        assert client.get("pysoa:periodic:{svc/t}:lock") == b"a"
        time.sleep(0.4)
        assert client.get("pysoa:periodic:{svc/t}:lock") is None
    assert claim_tick(fleet, "svc", "t", 104.0, "b", 30) == (True, 101.0, "")


def test_tasks_of_other_services_are_separate(fleet: FleetRedis) -> None:
    """The same task name in two services is two tasks."""
    claim_tick(fleet, "one", "t", 1.0, "a", 30)
    claim_tick(fleet, "two", "t", 1.0, "a", 30)
    assert claim_tick(fleet, "one", "t", 2.0, "a", 30)[0] is True
    assert claim_tick(fleet, "two", "t", 2.0, "b", 30)[0] is True
