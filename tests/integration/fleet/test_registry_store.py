"""The registry in real Redis: entries written, refreshed, expired, removed and read back."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.core.keys import queue_key, request_queue_name
from pysoa_like.fleet.errors import FleetConnectionError, ServiceVersionError
from pysoa_like.fleet.keys import REGISTRY_SERVICES_KEY, registry_instances_key
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry import get_service, list_services
from pysoa_like.registry.records import InstanceInfo, RecentError, ServiceInfo
from pysoa_like.registry.store import RECENT_ERRORS_KEPT, RegistryStore
from pysoa_like.test.redis import RedisRing, RedisServerProcess, pick_free_port
from tests.asyncio_checks import forbid_worker_threads

REDIS_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


@pytest.fixture(params=["blocking", "asyncio"])
def read_services(request: pytest.FixtureRequest) -> Callable[..., list[ServiceInfo]]:
    """``read(fleet, names=None)``: the registry's services, read by ``RegistryStore`` or by ``AsyncClient``."""

    def read(fleet: FleetRedis, names: list[str] | None = None) -> list[ServiceInfo]:
        if request.param == "blocking":
            return RegistryStore(fleet).list_services(names)

        async def read_async() -> list[ServiceInfo]:
            async with AsyncClient({}, fleet=fleet) as client:
                return await client.list_services(names)

        return asyncio.run(read_async())

    return read


def _instance(service: str, instance_id: str, version: str = "1.0", in_flight: int = 0) -> InstanceInfo:
    return InstanceInfo(service=service, instance_id=instance_id, version=version, in_flight=in_flight, ttl_seconds=5)


def test_registered_instances_are_listed_by_service(
    fleet: FleetRedis, read_services: Callable[..., list[ServiceInfo]]
) -> None:
    """Each live entry is read back under its service, with its expiry by the Redis clock (by either client)."""
    store = RegistryStore(fleet)
    before = time.time()
    expires = store.register(_instance("orders", "b", "1.2", in_flight=1), 5)
    store.register(_instance("orders", "a", "1.10"), 5)
    store.register(_instance("billing", "c"), 5)
    services = read_services(fleet)
    assert [s.name for s in services] == ["billing", "orders"]
    orders = services[1]
    assert [i.instance_id for i in orders.instances] == ["a", "b"]
    assert orders.versions == ("1.2", "1.10")
    assert orders.in_flight == 1
    assert orders.queue_depth == 0
    assert before + 4 < expires < time.time() + 6
    assert orders.instances[1].expires_at == pytest.approx(expires)


def test_an_entry_not_refreshed_drops_out_after_its_ttl(fleet: FleetRedis) -> None:
    """An entry lives ttl seconds from its last refresh; refreshing extends it; then it drops out."""
    store = RegistryStore(fleet)
    store.register(_instance("orders", "a"), 0.6)
    time.sleep(0.4)
    store.register(_instance("orders", "a"), 0.6)
    time.sleep(0.4)
    assert [i.instance_id for i in store.instances("orders")] == ["a"]
    time.sleep(0.4)
    assert store.instances("orders") == []
    assert store.list_services() == []
    assert [s.name for s in store.list_services(["orders"])] == ["orders"]


def test_expired_entries_are_cleaned_up_and_keys_expire(fleet_server: RedisServerProcess, fleet: FleetRedis) -> None:
    """A refresh removes dead entries; with no live worker left the service's keys expire by themselves."""
    store = RegistryStore(fleet)
    store.register(_instance("orders", "dead"), 0.3)
    time.sleep(0.4)
    store.register(_instance("orders", "alive"), 0.5)
    with fleet_server.client() as client:
        assert client.hkeys("pysoa:registry:{orders}:records") == [b"alive"]
        time.sleep(0.7)
        assert not client.exists("pysoa:registry:{orders}:records", "pysoa:registry:{orders}:instances")


def test_deregistering_removes_the_entry_at_once(fleet: FleetRedis) -> None:
    """A clean shutdown's deregister removes the entry without waiting for its ttl."""
    store = RegistryStore(fleet)
    store.register(_instance("orders", "a"), 30)
    store.register(_instance("orders", "b"), 30)
    store.deregister("orders", "a")
    assert [i.instance_id for i in store.instances("orders")] == ["b"]


def test_queue_depth_counts_waiting_requests(fleet_server: RedisServerProcess, fleet: FleetRedis) -> None:
    """queue_depth is the length of the service's request list."""
    store = RegistryStore(fleet)
    store.register(_instance("orders", "a"), 30)
    with fleet_server.client() as client:
        client.rpush("pysoa:service.orders", b"1", b"2", b"3")
    assert get_service(fleet, "orders").queue_depth == 3


def test_module_reader_takes_settings(fleet_server: RedisServerProcess) -> None:
    """list_services works from plain fleet settings, without a client."""
    settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [fleet_server.url]}}
    writer = FleetRedis.from_settings(settings)
    RegistryStore(writer).register(_instance("orders", "a", "3.0"), 30)
    writer.close()
    assert [(s.name, s.versions) for s in list_services(settings)] == [("orders", ("3.0",))]


@pytest.fixture
def ring() -> Iterator[RedisRing]:
    with RedisRing(2) as ring:
        yield ring


def test_over_a_ring_each_service_lives_on_one_master_and_queues_are_summed(
    ring: RedisRing, read_services: Callable[..., list[ServiceInfo]]
) -> None:
    """Registry keys of a service sit on its slot's master; the queue depth adds up every master's list."""
    fleet = FleetRedis("redis.standard", {"hosts": ring.urls})
    store = RegistryStore(fleet)
    names = [f"service{n}" for n in range(6)]
    for name in names:
        store.register(_instance(name, "i"), 30)
    clients = [server.client() for server in ring.servers]
    holders = {
        name: [n for n, c in enumerate(clients) if c.exists(f"pysoa:registry:{{{name}}}:records")] for name in names
    }
    assert all(len(masters) == 1 for masters in holders.values())
    assert {masters[0] for masters in holders.values()} == {0, 1}
    clients[0].rpush("pysoa:service.service0", b"x")
    clients[1].rpush("pysoa:service.service0", b"y", b"z")
    for client in clients:
        client.close()
    assert [s.name for s in read_services(fleet)] == names
    assert read_services(fleet, ["service0"])[0].queue_depth == 3
    fleet.close()


def test_a_stopped_master_leaves_the_queue_depths_unknown_and_the_listing_readable(
    ring: RedisRing, read_services: Callable[..., list[ServiceInfo]], caplog: pytest.LogCaptureFixture
) -> None:
    """With one master of the ring stopped, the services whose registry keys are on a live master are still listed;
    their queue depths, which the stopped master may hold part of, are unknown (None, not 0 nor the live part), and a
    warning names that master (by either client)."""
    # Given services registered on the master holding the catalog, with requests queued there and on the other master
    fleet = FleetRedis("redis.standard", {"hosts": ring.urls})
    store = RegistryStore(fleet)
    live = fleet.index_for(REGISTRY_SERVICES_KEY)
    stopped = 1 - live
    candidates = (f"service{n}" for n in range(20))
    names = [name for name in candidates if fleet.index_for(registry_instances_key(name)) == live][:3]
    for name in names:
        store.register(_instance(name, "i"), 30)
    with ring[live].client() as client:
        client.rpush(queue_key(request_queue_name(names[0])), b"x")
    with ring[stopped].client() as client:
        client.rpush(queue_key(request_queue_name(names[0])), b"y")
    assert [s.queue_depth for s in read_services(fleet)] == [2, 0, 0]
    stopped_address = f"127.0.0.1:{ring[stopped].address[1]}"
    # When that other master stops
    ring[stopped].stop()
    caplog.set_level(logging.WARNING, logger="pysoa_like.fleet")
    services = read_services(fleet)
    # Then the listing comes back, every depth unknown, and the warning names the stopped master only
    assert [(s.name, [i.instance_id for i in s.instances], s.queue_depth) for s in services] == [
        (name, ["i"], None) for name in names
    ]
    assert [s.queue_depth for s in read_services(fleet, names[:1])] == [None]
    warnings = [record.getMessage() for record in caplog.records if record.name == "pysoa_like.fleet"]
    assert warnings and all(f"request queues on {stopped_address}" in warning for warning in warnings)
    fleet.close()


def test_a_stopped_master_is_warned_about_a_few_times_a_minute_however_often_the_depths_are_read(
    ring: RedisRing, caplog: pytest.LogCaptureFixture
) -> None:
    """The depths are read by every health check (the status action) and every dashboard poll: while a master is
    down its warning is written a few times a minute, not once per read."""
    fleet = FleetRedis("redis.standard", {"hosts": ring.urls})
    store = RegistryStore(fleet)
    assert store.queue_depths(["service0"]) == {"service0": 0}
    ring[1].stop()
    caplog.set_level(logging.WARNING, logger="pysoa_like.fleet")
    for _ in range(10):
        assert store.queue_depths(["service0", "service1"]) == {"service0": None, "service1": None}
    warnings = [record.getMessage() for record in caplog.records if record.name == "pysoa_like.fleet"]
    assert 1 <= len(warnings) <= 3, warnings
    fleet.close()


def test_a_sentinel_that_does_not_answer_is_asked_once_for_all_the_depths_of_its_master() -> None:
    """A master whose lookup failed leaves every service it may hold unknown at once: the Sentinels are not asked
    again for each service (each lookup of a silent Sentinel waits out its timeout)."""
    with socket.socket() as silent:  # takes connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        fleet = FleetRedis(
            "redis.sentinel",
            {
                "hosts": [f"127.0.0.1:{silent.getsockname()[1]}"],
                "sentinel_services": ["main"],
                "sentinel_kwargs": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3},
            },
        )
        store = RegistryStore(fleet)
        started = time.monotonic()
        assert store.queue_depths(["service0"]) == {"service0": None}
        one_service = time.monotonic() - started
        started = time.monotonic()
        names = [f"service{n}" for n in range(6)]
        assert store.queue_depths(names) == dict.fromkeys(names)
        six_services = time.monotonic() - started
        fleet.close()
    assert six_services < 2.5 * one_service, (one_service, six_services)


def test_redis_down_is_a_fleet_connection_error(read_services: Callable[..., list[ServiceInfo]]) -> None:
    """Reading the registry of an unreachable Redis raises FleetConnectionError naming what failed."""
    fleet = FleetRedis("redis.standard", {"hosts": ["redis://127.0.0.1:1/0"]})
    with pytest.raises(FleetConnectionError, match="Redis failed while reading the service catalog"):
        read_services(fleet)


def test_a_service_whose_instance_keys_have_the_wrong_type_has_no_instances(
    fleet_server: RedisServerProcess, fleet: FleetRedis, read_services: Callable[..., list[ServiceInfo]]
) -> None:
    """A service whose instances key holds another kind of value (WRONGTYPE) reads as having no live instance, by
    either client: left out of the live services, listed empty when named, the others read as usual (the asyncio
    client raised FleetConnectionError for the whole listing)."""
    store = RegistryStore(fleet)
    store.register(_instance("orders", "a"), 30)
    store.register(_instance("odd", "b"), 30)
    with fleet_server.client() as client:
        client.delete("pysoa:registry:{odd}:instances")
        client.set("pysoa:registry:{odd}:instances", "not a sorted set")
    assert [(s.name, len(s.instances)) for s in read_services(fleet)] == [("orders", 1)]
    assert [(s.name, len(s.instances)) for s in read_services(fleet, ["odd", "orders"])] == [("odd", 0), ("orders", 1)]


def test_sentinels_listing_no_service_are_a_fleet_connection_error(
    read_services: Callable[..., list[ServiceInfo]],
) -> None:
    """A fleet on Sentinel without sentinel_services, where no Sentinel answers the discovery of the services: each
    read raises FleetConnectionError naming the Sentinel asked (it was the backend's ValueError)."""
    sentinel = f"127.0.0.1:{pick_free_port()}"
    fleet = FleetRedis("redis.sentinel", {"hosts": [sentinel]})
    for _ in range(2):  # nothing is kept: the next read asks the Sentinels again
        with pytest.raises(
            FleetConnectionError, match=f"could be discovered with SENTINEL MASTERS \\(asked {sentinel}: "
        ):
            read_services(fleet)
    fleet.close()


def _orders_at_1_4_2(fleet_server: RedisServerProcess) -> dict[str, Any]:
    """An instance of ``orders`` at version 1.4.2 in the registry; the transport settings of a client of it."""
    writer = FleetRedis("redis.standard", {"hosts": [fleet_server.url]})
    RegistryStore(writer).register(_instance("orders", "a", "1.4.2"), 30)
    writer.close()
    return {
        "path": REDIS_CLIENT_TRANSPORT,
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [fleet_server.url]}},
    }


def test_client_minimum_version_reads_the_registry(fleet_server: RedisServerProcess) -> None:
    """Over Redis, a client's minimum_version is checked against the live instances in the registry."""
    transport = _orders_at_1_4_2(fleet_server)
    client = Client({"orders": {"transport": transport, "minimum_version": "1.5"}})
    try:
        with pytest.raises(ServiceVersionError, match=r"only older versions are alive \(1\.4\.2\)"):
            client.call_action("orders", "anything", timeout=1)
        assert client.list_services()[0].versions == ("1.4.2",)
    finally:
        client.fleet_redis().close()


def test_asyncclient_minimum_version_reads_the_registry_on_the_loop(fleet_server: RedisServerProcess) -> None:
    """An AsyncClient reads the registry from the event loop (no worker thread): gathered calls to a service
    whose live instances are too old are all refused; a minimum they meet lets the calls go to the service."""
    transport = _orders_at_1_4_2(fleet_server)

    async def calls() -> tuple[list[BaseException], BaseException]:
        forbid_worker_threads()
        async with AsyncClient({"orders": {"transport": transport, "minimum_version": "1.5"}}) as newer:
            refused = await asyncio.gather(
                *(newer.call_action("orders", "anything", timeout=1) for _ in range(20)), return_exceptions=True
            )
        async with AsyncClient({"orders": {"transport": transport, "minimum_version": "1.4"}}) as older:
            with pytest.raises(MessageReceiveTimeout) as unanswered:  # let through: no worker answers
                await older.call_action("orders", "anything", timeout=0.3)
        return [outcome for outcome in refused if isinstance(outcome, BaseException)], unanswered.value

    refused, unanswered = asyncio.run(calls())
    assert len(refused) == 20
    assert all(isinstance(error, ServiceVersionError) for error in refused)
    assert "only older versions are alive (1.4.2)" in str(refused[0])
    assert isinstance(unanswered, MessageReceiveTimeout)


def _error(number: int) -> RecentError:
    return RecentError("orders", "h:1:ab", float(number), f"r{number}", None, "create", "INVALID", f"bad {number}")


def test_recent_errors_are_read_newest_first_and_only_the_newest_are_kept(
    fleet_server: RedisServerProcess, fleet: FleetRedis
) -> None:
    """Errors recorded in batches read back newest first; past RECENT_ERRORS_KEPT the oldest go; the key expires."""
    store = RegistryStore(fleet)
    store.record_errors("orders", [_error(n) for n in range(RECENT_ERRORS_KEPT)])
    store.record_errors("orders", [_error(RECENT_ERRORS_KEPT), _error(RECENT_ERRORS_KEPT + 1)])
    store.record_errors("orders", [])
    errors = store.recent_errors("orders")
    assert len(errors) == RECENT_ERRORS_KEPT
    assert [e.request_id for e in errors[:3]] == [f"r{RECENT_ERRORS_KEPT + 1}", f"r{RECENT_ERRORS_KEPT}", "r99"]
    assert errors[-1].request_id == "r2"
    assert [e.message for e in store.recent_errors("orders", 2)] == ["bad 101", "bad 100"]
    assert store.recent_errors("billing") == []
    with fleet_server.client() as client:
        assert 0 < client.ttl("pysoa:registry:{orders}:errors") <= 24 * 3600


def test_published_actions_are_read_per_version(fleet: FleetRedis) -> None:
    """Each version's published introspection reads back as it was published."""
    store = RegistryStore(fleet)
    store.publish_actions("orders", "1.0", {"action_names": ["a"], "actions": {"a": {"documentation": "A"}}})
    store.publish_actions("orders", "2.0", {"action_names": ["b"], "actions": {}})
    assert store.actions("orders") == {
        "1.0": {"action_names": ["a"], "actions": {"a": {"documentation": "A"}}},
        "2.0": {"action_names": ["b"], "actions": {}},
    }
    assert store.actions("billing") == {}


def test_heartbeats_keep_the_published_actions_and_say_when_they_are_missing(
    fleet: FleetRedis, fleet_server: RedisServerProcess
) -> None:
    """A heartbeat keeps the actions of its version alive (they expired 24 hours after they were published, however
    long the worker ran) and says whether they are there, so a worker can publish them again."""
    store = RegistryStore(fleet)
    description = {"action_names": ["a"], "actions": {"a": {"documentation": "A"}}}
    assert store.heartbeat(_instance("orders", "a", "1.0"), 5)[1] is False
    store.publish_actions("orders", "1.0", description)
    with fleet_server.client() as client:
        client.expire("pysoa:registry:{orders}:actions", 60)  # as if published nearly 24 hours ago
    expires, published = store.heartbeat(_instance("orders", "a", "1.0"), 5)
    assert published is True and expires > time.time()
    with fleet_server.client() as client:  # the expiry is pushed back (read, not slept on: no race with a slow host)
        assert client.ttl("pysoa:registry:{orders}:actions") > 23 * 3600
    assert store.actions("orders") == {"1.0": description}
    assert store.heartbeat(_instance("orders", "b", "2.0"), 5)[1] is False  # not the answer of its version
    with fleet_server.client() as client:
        assert client.ttl("pysoa:registry:{orders}:actions") > 23 * 3600


def test_a_heartbeat_beside_actions_of_another_kind_refreshes_the_entry(
    fleet: FleetRedis, fleet_server: RedisServerProcess
) -> None:
    """The service's actions key holding another kind of value (readers skip it) leaves the heartbeat working: the
    entry is refreshed, the actions count as published (publishing again could not fix them) and keep their expiry."""
    store = RegistryStore(fleet)
    with fleet_server.client() as client:
        client.set("pysoa:registry:{orders}:actions", "not a hash", ex=60)
    expires, published = store.heartbeat(_instance("orders", "a", "1.0"), 5)
    assert published is True and expires > time.time()
    assert [instance.instance_id for instance in store.instances("orders")] == ["a"]
    with fleet_server.client() as client:
        assert 0 < client.ttl("pysoa:registry:{orders}:actions") <= 60


def test_a_heartbeat_refused_the_read_of_the_actions_is_an_error(fleet_server: RedisServerProcess) -> None:
    """A Redis user that may not read the actions (no ``+hget``) makes the heartbeat fail, naming the refusal: the
    refusal was taken for a key of another kind, and the actions were said to be published."""
    user = "u" + uuid.uuid4().hex[:8]
    rules = "~pysoa:registry:* +evalsha +eval +time +zadd +zrem +zremrangebyscore +zrangebyscore +hset +hdel +pttl"
    with fleet_server.client() as client:
        client.execute_command("ACL", "SETUSER", user, "reset", "on", ">pw", *f"{rules} +pexpire +script|load".split())
    fleet = FleetRedis("redis.standard", {"hosts": [f"redis://{user}:pw@127.0.0.1:{fleet_server.port}/0"]})
    try:
        with pytest.raises(FleetConnectionError, match="registering orders") as caught:
            RegistryStore(fleet).heartbeat(_instance("orders", "a", "1.0"), 5)
        assert "the Redis user may not run HGET on pysoa:registry:{orders}:actions" in str(caught.value)
    finally:
        fleet.close()
        with fleet_server.client() as client:
            client.execute_command("ACL", "DELUSER", user)
