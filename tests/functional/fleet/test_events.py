"""Events with real worker processes: delivery modes across services and workers, redelivery after SIGKILL,
dead-lettering, durability across restarts, order, graceful shutdown and context chaining."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.events.testing import wait_for_event_handled
from pysoa_like.fleet.errors import EventDeadLetteredError
from tests.functional.conftest import Runner, wait_for


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client of the test's Redis (the handlers record what they handle there)."""
    with redis.Redis.from_url(redis_url) as client:
        yield client


def handled(store: redis.Redis, service: str | None = None) -> list[dict[str, Any]]:
    """What the handlers recorded (of one service, or all), in order."""
    return [json.loads(line) for line in store.lrange(f"handled:{service}" if service else "handled", 0, -1)]


def test_service_pool_gives_each_event_once_to_each_service(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Two services of two workers each: every event is handled once per service, by one of its workers."""
    start_service("events", fork=2, events=True)
    start_service("events_b", fork=2, events=True)
    ids = [fleet_client.publish_event("test.record", {"n": n}) for n in range(30)]
    for event_id in ids:
        wait_for_event_handled(fleet_client, "test.record", event_id, service="events")
        wait_for_event_handled(fleet_client, "test.record", event_id, service="events_b")
    for service in ("events", "events_b"):
        records = handled(store, service)
        assert sorted(r["id"] for r in records) == sorted(ids)
        assert all(r["deliveries"] == 1 and r["mode"] == "pool" for r in records)
    # Both workers of each service took part (30 events, two readers blocking on the same group).
    assert len({r["pid"] for r in handled(store)}) == 4


def test_broadcast_reaches_every_live_worker(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Every worker of every subscribing service handles each broadcast event once."""
    start_service("events", fork=2, events=True)
    start_service("events_b", fork=2, events=True)
    pids = {i.pid for s in fleet_client.list_services(["events", "events_b"]) for i in s.instances}
    ids = [fleet_client.publish_event("test.broadcast", {"n": n}) for n in range(5)]
    wait_for(lambda: len(handled(store)) >= 20)
    time.sleep(0.5)
    records = handled(store)
    assert len(records) == 20
    assert {(r["id"], r["pid"]) for r in records} == {(i, p) for i in ids for p in pids}
    assert {r["mode"] for r in records} == {"broadcast"}


def test_singleton_is_handled_once_in_the_whole_fleet(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Across two services of two workers each, each singleton event is handled exactly once."""
    start_service("events", fork=2, events=True)
    start_service("events_b", fork=2, events=True)
    ids = [fleet_client.publish_event("test.singleton", {"n": n}) for n in range(20)]
    for event_id in ids:
        wait_for_event_handled(fleet_client, "test.singleton", event_id)
    time.sleep(0.5)
    records = handled(store)
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert {r["service"] for r in records} <= {"events", "events_b"}


def test_an_event_whose_worker_is_killed_is_redelivered_to_another(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """SIGKILL during handling: after redeliver_after (2 s here) another worker handles the event (delivery 2)."""
    start_service("events", fork=2, events=True)
    event_id = fleet_client.publish_event("test.slow", {"seconds": 60})
    started = wait_for(lambda: [r for r in handled(store) if r.get("phase") == "start"])
    victim = started[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    # The redelivered handler also sleeps 60 s: its start shows the redelivery.
    again = wait_for(lambda: [r for r in handled(store) if r.get("phase") == "start" and r["deliveries"] == 2], 15)
    assert again[0]["pid"] != victim and again[0]["id"] == event_id
    assert time.monotonic() - killed_at >= 1.5


def test_a_failing_event_is_dead_lettered_after_max_deliveries(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """A handler failing every time sees 3 deliveries (max_deliveries 3); then the event is dead-lettered and
    the worker logs it."""
    runner = start_service("events", fork=2, events=True)
    event_id = fleet_client.publish_event("test.fail", {"n": 1})
    with pytest.raises(EventDeadLetteredError, match=r"RuntimeError: failing on purpose \(delivery 3\)"):
        wait_for_event_handled(fleet_client, "test.fail", event_id, service="events", timeout=15)
    assert [r["deliveries"] for r in handled(store)] == [1, 2, 3]
    runner.wait_for_log(
        f"Event test.fail {event_id} dead-lettered to pysoa:events:{{test.fail}}:dead after 3 deliveries"
    )
    retried = fleet_client.publish_event("test.fail", {"succeed_on": 2})
    wait_for_event_handled(fleet_client, "test.fail", retried, service="events", timeout=15)


def test_events_published_while_the_service_is_down_are_handled_when_it_returns(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Durability: the service's group keeps events published while none of its workers runs."""
    runner = start_service("events", fork=2, events=True)
    assert runner.terminate() == 0
    ids = [fleet_client.publish_event("test.record", {"n": n}) for n in range(5)]
    assert handled(store) == []
    start_service("events", fork=1, events=True)
    for event_id in ids:
        wait_for_event_handled(fleet_client, "test.record", event_id, service="events")
    assert [r["id"] for r in handled(store)] == ids


def test_one_consumer_handles_an_event_name_in_publish_order(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """With one worker, 50 events of one name are handled in the order they were published."""
    start_service("events", fork=1, events=True)
    ids = [fleet_client.publish_event("test.record", {"n": n}) for n in range(50)]
    wait_for_event_handled(fleet_client, "test.record", ids[-1], service="events")
    assert [r["body"]["n"] for r in handled(store)] == list(range(50))


def test_sigterm_finishes_and_acknowledges_the_event_in_hand(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """A graceful stop stops taking events, lets the running handler finish, and acknowledges its event."""
    runner = start_service("events", fork=1, events=True)
    event_id = fleet_client.publish_event("test.slow", {"seconds": 1.5})
    wait_for(lambda: handled(store))
    later = fleet_client.publish_event("test.record", {"n": "after"})
    assert runner.terminate() == 0
    assert [r.get("phase") for r in handled(store)] == ["start", "end"]
    wait_for_event_handled(fleet_client, "test.slow", event_id, service="events", timeout=1)
    # The event published during the shutdown was not taken: it waits for the next worker.
    with pytest.raises(TimeoutError, match="not yet delivered"):
        wait_for_event_handled(fleet_client, "test.record", later, service="events", timeout=0.5)


def test_actions_and_clients_chain_their_context_into_events(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """An event published by an action carries the job's correlation id and switches; coroutine and method
    handlers run in the workers too."""
    start_service("events", fork=1, events=True)
    event_id = fleet_client.call_action("events", "publish", {"n": 1}, correlation_id="corr-42", switches=[7]).body[
        "id"
    ]
    wait_for_event_handled(fleet_client, "test.record", event_id, service="events")
    coroutine_id = fleet_client.publish_event("test.async", {"n": 2}, correlation_id="corr-43")
    method_id = fleet_client.publish_event("test.method", {"n": 3})
    wait_for_event_handled(fleet_client, "test.async", coroutine_id, service="events")
    wait_for_event_handled(fleet_client, "test.method", method_id, service="events")
    first, second, third = handled(store)
    assert (first["correlation_id"], first["switches"], first["publisher"]) == ("corr-42", [7], "events")
    assert (second["correlation_id"], second.get("coroutine")) == ("corr-43", True)
    assert third.get("method") is True


def test_the_registry_lists_the_events_a_service_handles(
    start_service: Callable[..., Runner], fleet_client: Client
) -> None:
    """Each worker's registry entry names its events and their delivery modes."""
    start_service("events", fork=1, events=True)
    (service,) = fleet_client.list_services(["events"])
    assert ("test.broadcast", "broadcast") in service.events and ("test.singleton", "singleton") in service.events
    assert ("test.record", "pool") in service.events


def test_a_concurrent_worker_handles_events_of_every_mode(
    start_service: Callable[..., Runner], fleet_client: Client, store: redis.Redis
) -> None:
    """Workers running 4 jobs at once handle pool, coroutine, broadcast and singleton events like sync ones."""
    start_service("events", fork=2, events=True, FLEET_CONCURRENCY="4")
    (service,) = fleet_client.list_services(["events"])
    assert {(i.worker, i.concurrency) for i in service.instances} == {("asyncio", 4)}
    pids = {i.pid for i in service.instances}
    pool = [fleet_client.publish_event("test.record", {"n": n}) for n in range(10)]
    coroutine = [fleet_client.publish_event("test.async", {"n": n}) for n in range(5)]
    singleton = [fleet_client.publish_event("test.singleton", {"n": n}) for n in range(5)]
    broadcast = [fleet_client.publish_event("test.broadcast", {"n": n}) for n in range(3)]
    for name, ids in (("test.record", pool), ("test.async", coroutine)):
        for event_id in ids:
            wait_for_event_handled(fleet_client, name, event_id, service="events")
    for event_id in singleton:
        wait_for_event_handled(fleet_client, "test.singleton", event_id)
    wait_for(lambda: len([r for r in handled(store) if r["mode"] == "broadcast"]) >= 6)
    time.sleep(0.5)
    records = handled(store)
    by_name = {name: sorted(r["id"] for r in records if r["name"] == name) for name in {r["name"] for r in records}}
    assert by_name == {
        "test.record": sorted(pool),
        "test.async": sorted(coroutine),
        "test.singleton": sorted(singleton),
        "test.broadcast": sorted(broadcast * 2),
    }
    assert all(r.get("coroutine") is True for r in records if r["name"] == "test.async")
    assert {(r["id"], r["pid"]) for r in records if r["name"] == "test.broadcast"} == {
        (i, p) for i in broadcast for p in pids
    }
