"""Periodic tasks with real worker processes: exactly once per tick across 3 processes x 2 workers, missed
ticks run once, no self-overlap, a dead runner's lock expiring, coroutine and method tasks."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from tests.functional.conftest import Runner, wait_for


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as client:
        yield client


def runs(store: redis.Redis, task: str) -> list[dict[str, Any]]:
    """The recorded runs of a task, in the order they ended."""
    return [json.loads(line) for line in store.lrange(f"periodic:{task}", 0, -1)]


def _check_once_per_tick(records: list[dict[str, Any]], interval: float = 1.0) -> None:
    """No tick ran twice, and every gap between consecutive runs is accounted for as missed ticks."""
    ticks = [r["tick"] for r in records]
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {sorted(ticks)}"
    ordered = sorted(records, key=lambda r: r["tick"])
    for before, after in itertools.pairwise(ordered):
        assert after["missed"] == round((after["tick"] - before["tick"]) / interval) - 1


def test_each_tick_runs_exactly_once_across_three_processes_of_two_workers(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Six workers in three supervised processes: every 1 s tick runs once, on some worker, none twice."""
    for _ in range(3):
        start_service("periodic", fork=2, periodic=True)
    (service,) = fleet_client.list_services(["periodic"])
    assert len(service.instances) == 6
    assert all(i.periodic_tasks == ("tick",) for i in service.instances)
    wait_for(lambda: len(runs(store, "tick")) >= 6, timeout=20)
    records = runs(store, "tick")
    _check_once_per_tick(records)
    # On a loaded machine a tick may be late enough to be coalesced with the next, never more than rarely.
    assert sum(r["missed"] for r in records) <= 2
    assert all(r["start"] >= r["tick"] for r in records)


def test_ticks_missed_while_the_fleet_was_down_run_once(
    start_service: Callable[..., Runner], store: redis.Redis
) -> None:
    """After the whole fleet was down for about 3 ticks, one run catches up (counting them), not three."""
    runner = start_service("periodic", fork=2, periodic=True)
    wait_for(lambda: len(runs(store, "tick")) >= 2, timeout=20)
    assert runner.terminate() == 0
    before = runs(store, "tick")
    time.sleep(3.5)
    start_service("periodic", fork=2, periodic=True)
    wait_for(lambda: len(runs(store, "tick")) >= len(before) + 2, timeout=20)
    after = runs(store, "tick")
    catch_up = after[len(before)]
    assert catch_up["missed"] >= 2
    _check_once_per_tick(after)


def test_a_run_slower_than_its_interval_never_overlaps_itself(
    start_service: Callable[..., Runner], store: redis.Redis
) -> None:
    """A 1 s task running 2.5 s, on two processes of two workers: runs never overlap; the ticks that fell
    during a run are run once, right after it."""
    start_service("periodic", fork=2, periodic=True, PERIODIC_TASKS="slow")
    start_service("periodic", fork=2, periodic=True, PERIODIC_TASKS="slow")
    wait_for(lambda: len(runs(store, "slow")) >= 3, timeout=30)
    records = sorted(runs(store, "slow"), key=lambda r: r["start"])
    for before, after in itertools.pairwise(records):
        assert after["start"] >= before["end"], f"runs overlap: {before} {after}"
        assert after["missed"] >= 1
        assert after["start"] - before["end"] < 1.5
    _check_once_per_tick(records)


def test_a_killed_runner_frees_the_task_when_its_lock_expires(
    start_service: Callable[..., Runner], store: redis.Redis
) -> None:
    """SIGKILL of the worker running a task: after lock_ttl_seconds (2 s here) another worker runs the task."""
    start_service(
        "periodic", fork=2, periodic=True, PERIODIC_TASKS="slow", PERIODIC_SLOW_SECONDS="30", PERIODIC_LOCK_TTL="2"
    )
    holder = wait_for(lambda: store.get("pysoa:periodic:{periodic/slow}:lock"), timeout=20).decode()
    victim = int(holder.split(":")[1])
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(
        lambda: (lambda owner: owner and owner.decode() != holder)(store.get("pysoa:periodic:{periodic/slow}:lock")),
        timeout=10,
    )
    assert time.monotonic() - killed_at >= 1.0


def test_coroutine_and_method_tasks_run_in_workers(start_service: Callable[..., Runner], store: redis.Redis) -> None:
    """A coroutine task and a task naming a server method run like the others."""
    start_service("periodic", fork=1, periodic=True, PERIODIC_TASKS="coroutine,method")
    wait_for(lambda: runs(store, "coroutine") and runs(store, "method"), timeout=20)
    assert runs(store, "coroutine")[0]["coroutine"] is True
    assert runs(store, "method")[0]["method"] is True


def test_each_tick_runs_once_across_concurrent_workers(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Two processes of two workers running 3 jobs at once each: every tick (coroutine ones too) runs once."""
    for _ in range(2):
        start_service("periodic", fork=2, periodic=True, PERIODIC_TASKS="tick,coroutine", FLEET_CONCURRENCY="3")
    (service,) = fleet_client.list_services(["periodic"])
    assert {(i.worker, i.concurrency) for i in service.instances} == {("asyncio", 3)}
    assert len(service.instances) == 4
    wait_for(lambda: len(runs(store, "tick")) >= 5 and len(runs(store, "coroutine")) >= 2, timeout=20)
    _check_once_per_tick(runs(store, "tick"))
    coroutine_runs = runs(store, "coroutine")
    assert len({r["tick"] for r in coroutine_runs}) == len(coroutine_runs)
    assert all(r["coroutine"] is True for r in coroutine_runs)
