"""The fleet features over the Redis Cluster: events whose streams live on different masters, periodic tasks
claimed exactly once per tick, the registry's view of queues (``SCAN`` per master)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.core.cluster import key_slot
from pysoa_like.events import Event
from pysoa_like.events.publisher import RedisEventPublisher
from pysoa_like.fleet.keys import event_stream_key, periodic_lock_key, periodic_state_key
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.periodic import PeriodicTask, TaskRun
from pysoa_like.registry.store import RegistryStore
from pysoa_like.server._fleet import FleetRuntime
from pysoa_like.server.server import Server
from pysoa_like.test.redis import RedisCluster
from tests.integration.cluster.conftest import BLOCKING, cluster_transport, startup_urls

SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
handled: list[tuple[str, Any]] = []
handled_lock = threading.Lock()


def record(event: Event) -> None:
    with handled_lock:
        handled.append((event.name, event.body))


def _event_names_on_distinct_masters(cluster: RedisCluster, count: int) -> list[str]:
    owners: dict[int, str] = {}
    for number in range(200):
        name = f"clustered.event{number}"
        owners.setdefault(cluster.key_owner(event_stream_key(name)).port, name)
        if len(owners) == count:
            return list(owners.values())
    raise AssertionError("no event names on distinct masters")


@pytest.fixture
def fleet(cluster: RedisCluster) -> Iterator[FleetRedis]:
    """The fleet's Redis: the cluster."""
    redis_fleet = FleetRedis("redis.cluster", {"hosts": startup_urls(cluster)})
    yield redis_fleet
    redis_fleet.close()


def test_events_on_every_master_are_handled(cluster: RedisCluster, fleet: FleetRedis, driver: str) -> None:
    """A worker subscribed to events whose streams live on three masters handles each one published (by the
    blocking publisher, or by AsyncClient with the asyncio driver)."""
    names = _event_names_on_distinct_masters(cluster, 3)
    handled.clear()

    class Subscriber(Server):
        service_name = "subscriber"
        action_class_map: dict[str, Any] = {}
        event_handlers = dict.fromkeys(names, record)

    settings = {
        "transport": {"path": SERVER_TRANSPORT, "kwargs": cluster_transport(cluster)},
        "events": {"block_seconds": 0.2},
    }
    server = Subscriber(settings)
    runtime = FleetRuntime(server, fleet)
    runtime.start()
    runtime.start_work()
    try:
        if driver == BLOCKING:
            publisher = RedisEventPublisher(fleet)
            for number, name in enumerate(names):
                publisher.publish(name, {"n": number}, {}, None)
        else:
            asyncio.run(_publish_from_a_loop(cluster, names))
        deadline = time.monotonic() + 15
        while len(handled) < len(names):
            assert time.monotonic() < deadline, f"handled only {handled}"
            time.sleep(0.05)
    finally:
        runtime.stop(5)
    assert sorted(handled) == sorted((name, {"n": number}) for number, name in enumerate(names))
    assert len({key_slot(event_stream_key(name)) for name in names}) == 3


def test_events_are_read_while_their_stream_slot_migrates(cluster: RedisCluster, fleet: FleetRedis) -> None:
    """While the slot of an event's stream migrates (the stream already on the new master), a subscribed worker's
    reads follow ASK there and handle what is published meanwhile, before the migration ends."""
    name = "clustered.migrating"
    handled.clear()

    class Subscriber(Server):
        service_name = "migrating-subscriber"
        action_class_map: dict[str, Any] = {}
        event_handlers = {name: record}

    settings = {
        "transport": {"path": SERVER_TRANSPORT, "kwargs": cluster_transport(cluster)},
        "events": {"block_seconds": 0.2},
    }
    runtime = FleetRuntime(Subscriber(settings), fleet)
    runtime.start()
    runtime.start_work()
    publisher = RedisEventPublisher(fleet)
    slot = key_slot(event_stream_key(name))
    source = cluster.slot_owner(slot)
    target = next(node for node in cluster.masters() if node is not source)
    try:
        publisher.publish(name, {"n": 1}, {}, None)
        _wait_handled(1)
        # Given the stream's slot migrating, the stream (and its group) already on the target
        cluster.begin_migration(slot, target)
        assert cluster.move_keys(slot, source, target) >= 1
        # When an event is published meanwhile
        publisher.publish(name, {"n": 2}, {}, None)
        # Then the worker handles it before the migration ends
        _wait_handled(2)
        assert cluster.slot_owner(slot) is source
    finally:
        if cluster.slot_owner(slot) is source:
            cluster.move_keys(slot, source, target)
            cluster.finish_migration(slot, source, target)
        runtime.stop(5)
    assert handled == [(name, {"n": 1}), (name, {"n": 2})]


def _wait_handled(count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while len(handled) < count:
        assert time.monotonic() < deadline, f"handled only {handled}"
        time.sleep(0.05)


async def _publish_from_a_loop(cluster: RedisCluster, names: list[str]) -> None:
    fleet_settings = {"backend_type": "redis.cluster", "backend_layer_kwargs": {"hosts": startup_urls(cluster)}}
    async with AsyncClient({}, fleet=fleet_settings) as client:
        await asyncio.gather(*(client.publish_event(name, {"n": number}) for number, name in enumerate(names)))


def test_each_periodic_tick_runs_once_across_workers(cluster: RedisCluster, fleet: FleetRedis) -> None:
    """Three workers with the same one-second task, their fleet on the cluster: each tick runs once, on one of them
    (the claim's script touches the task's keys, all in one slot)."""
    ticks: list[tuple[float, int]] = []

    def tick(run: TaskRun) -> None:
        with handled_lock:
            ticks.append((run.tick, run.missed_ticks))

    class Ticking(Server):
        service_name = "ticking"
        action_class_map: dict[str, Any] = {}
        periodic_tasks = [PeriodicTask("tick", tick, every=1)]

    settings = {"transport": {"path": SERVER_TRANSPORT, "kwargs": cluster_transport(cluster)}}
    runtimes = [FleetRuntime(Ticking(settings), fleet) for _ in range(3)]
    for runtime in runtimes:
        runtime.start()
        runtime.start_work()
    try:
        deadline = time.monotonic() + 20
        while len(ticks) < 5:
            assert time.monotonic() < deadline, f"ran only {ticks}"
            time.sleep(0.05)
    finally:
        for runtime in runtimes:
            runtime.stop(5)
    seen = [run_tick for run_tick, _ in ticks]
    assert len(seen) == len(set(seen)), f"a tick ran twice: {sorted(seen)}"
    # On a loaded machine a tick may come late enough to be coalesced with the next one, rarely.
    assert sum(missed for _, missed in ticks) <= 2
    assert key_slot(periodic_state_key("ticking", "tick")) == key_slot(periodic_lock_key("ticking", "tick"))


def test_queued_services_are_found_on_every_master(cluster: RedisCluster, fleet: FleetRedis) -> None:
    """The registry's SCAN of request queues visits each master once and finds queues wherever they live."""
    names = ["queued-a", "queued-b", "queued-c", "queued-d"]
    for name in names:
        RedisClientTransport(name, **cluster_transport(cluster)).send_request_message(
            1, {}, {"control": {}, "context": {}, "actions": [{"action": "a"}]}
        )
    assert len({cluster.key_owner("pysoa:service." + name).port for name in names}) > 1
    assert set(names) <= set(RegistryStore(fleet).queued_services())
