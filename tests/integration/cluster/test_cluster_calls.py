"""Calls of every kind over a real Redis Cluster (3 masters, 1 replica each), workers run by ``pysoa-like serve``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.transport.redis_gateway._aio_ring import aio_ring_of
from pysoa_like.common.transport.redis_gateway.backend import make_backend
from pysoa_like.common.transport.redis_gateway.backend.cluster import ClusterRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.cluster import key_slot
from pysoa_like.core.keys import request_queue_key
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry import list_services
from pysoa_like.registry.records import ServiceInfo
from pysoa_like.test.redis import RedisCluster, RedisServerProcess
from tests.functional.conftest import Runner
from tests.integration.cluster.conftest import (
    BLOCKING,
    LoopClient,
    client_settings,
    cluster_transport,
    send_one,
    services_on_distinct_masters,
    slot_of_service,
    startup_urls,
)


def test_single_serial_and_parallel_calls(
    cluster: RedisCluster, start_workers: Callable[..., Runner], make_client: Callable[..., Client | LoopClient]
) -> None:
    """call_action, several actions in one job, call_actions_parallel and (Client) futures all get their replies."""
    start_workers("clustered")
    client = make_client("clustered")
    assert client.call_action("clustered", "echo", {"n": 1}, timeout=5).body["body"] == {"n": 1}
    serial = client.call_actions(
        "clustered", [{"action": "echo", "body": {"n": n}} for n in range(3)], timeout=5
    ).actions
    assert [action.body["body"] for action in serial] == [{"n": 0}, {"n": 1}, {"n": 2}]
    parallel = list(
        client.call_actions_parallel("clustered", [{"action": "echo", "body": {"n": n}} for n in range(6)], timeout=5)
    )
    assert [response.body["body"] for response in parallel] == [{"n": n} for n in range(6)]
    if isinstance(client, LoopClient):
        return  # AsyncClient has no futures: its calls are coroutines
    futures = [client.call_action_future("clustered", "echo", {"f": n}, timeout=5) for n in range(3)]
    assert [future.result().body["body"] for future in futures] == [{"f": 0}, {"f": 1}, {"f": 2}]


def test_parallel_jobs_to_services_on_every_master(
    cluster: RedisCluster, start_workers: Callable[..., Runner], make_client: Callable[..., Client | LoopClient]
) -> None:
    """A parallel call to services whose queues live on three different masters gets each service's replies."""
    names = services_on_distinct_masters(cluster, 3)
    for name in names:
        start_workers(name, fork=1)
    client = make_client(*names)
    jobs = [
        {"service_name": name, "actions": [{"action": "echo", "body": {"to": name, "n": n}}]}
        for n in range(2)
        for name in names
    ]
    results = client.call_jobs_parallel(jobs, timeout=5)
    assert [result.actions[0].body["body"] for result in results] == [job["actions"][0]["body"] for job in jobs]


def test_big_requests_and_chunked_replies(
    cluster: RedisCluster, start_workers: Callable[..., Runner], make_client: Callable[..., Client | LoopClient]
) -> None:
    """A 1 MiB request and a 3 MiB reply (sent in chunks) cross the cluster intact."""
    start_workers("clustered")
    client = make_client("clustered", maximum_message_size_in_bytes=2 * 1024 * 1024)
    body = {"fill": "ab", "size": 1_500_000, "payload": "z" * (1024 * 1024)}
    response = client.call_action("clustered", "big", body, timeout=10)
    assert response.body == {"data": "ab" * 1_500_000, "received": 1024 * 1024}
    # Several at once, each chunked reply whole.
    bodies = [{"fill": letter, "size": 400_000} for letter in "xyz"]
    replies = list(
        client.call_actions_parallel("clustered", [{"action": "big", "body": b} for b in bodies], timeout=10)
    )
    assert [reply.body["data"] for reply in replies] == [letter * 400_000 for letter in "xyz"]


def test_queues_keep_pysoa_key_names(cluster: RedisCluster, driver: str) -> None:
    """A request waits in ``pysoa:service.<name>`` on the master of that key's slot (no hash tag, no rename)."""
    send_one(driver, "keys", **cluster_transport(cluster))
    key = request_queue_key("keys")
    with cluster.key_owner(key).client() as owner:
        assert owner.llen(key) == 1
    backend = make_backend("redis.cluster", {"hosts": startup_urls(cluster)})
    assert backend.queue_indexes(key) == [slot_of_service("keys")]


def test_one_connection_per_master_for_all_its_slots(cluster: RedisCluster) -> None:
    """Every slot a master serves shares that master's connection (what groups a parallel send per master)."""
    backend = ClusterRedisClient(hosts=startup_urls(cluster))
    try:
        lanes = {id(backend.lane_at(slot)) for slot in range(0, 16384, 97)}
        assert len(lanes) == 3
        masters = backend.master_indexes()
        assert len({id(backend.lane_at(slot)) for slot in masters}) == 3
        assert backend.shares_lane(0, 1) and not backend.shares_lane(0, 16383)
    finally:
        backend.close()


def test_a_startup_node_that_is_down_is_skipped(cluster: RedisCluster, driver: str) -> None:
    """The topology is read from the first startup node that answers."""
    settings = cluster_transport(cluster)
    settings["backend_layer_kwargs"]["hosts"] = ["redis://127.0.0.1:1/0", *startup_urls(cluster, 2)]
    send_one(driver, "skip", **settings)
    with cluster.key_owner(request_queue_key("skip")).client() as owner:
        assert owner.llen(request_queue_key("skip")) == 1


def test_the_standard_backend_on_a_cluster_node_says_to_use_the_cluster_backend(
    cluster: RedisCluster, driver: str
) -> None:
    """Pointing redis.standard at a cluster node fails with MOVED and says which backend_type to use."""
    names = services_on_distinct_masters(cluster, 3, prefix="std")
    node = cluster.key_owner(request_queue_key(names[0]))
    elsewhere = next(name for name in names if cluster.key_owner(request_queue_key(name)) is not node)
    with pytest.raises(MessageSendError, match=r"MOVED .*backend_type 'redis\.cluster'"):
        send_one(driver, elsewhere, backend_type="redis.standard", backend_layer_kwargs={"hosts": [node.url]})


def test_the_cluster_backend_on_a_standalone_redis_says_so(driver: str) -> None:
    """Pointing redis.cluster at a Redis that is not in cluster mode fails with a message saying so."""
    with RedisServerProcess() as server, pytest.raises(MessageSendError, match="does not run in cluster mode"):
        send_one(driver, "alone", backend_type="redis.cluster", backend_layer_kwargs={"hosts": [server.url]})


@pytest.mark.parametrize(
    "build",
    [
        lambda kwargs: make_backend("redis.cluster", kwargs),
        lambda kwargs: aio_ring_of("redis.cluster", kwargs),
    ],
    ids=["blocking", "asyncio"],
)
def test_bad_cluster_settings_are_refused(build: Callable[[dict[str, Any]], object]) -> None:
    """A database other than 0, a unix socket or another backend's setting cannot name a cluster (both drivers)."""
    with pytest.raises(ValueError, match="only database 0"):
        build({"hosts": ["redis://127.0.0.1:7000/3"]})
    with pytest.raises(ValueError, match="only database 0"):
        build({"hosts": ["127.0.0.1:7000"], "redis_db": 2})
    with pytest.raises(ValueError, match="over TCP"):
        build({"hosts": ["unix:///tmp/redis.sock"]})
    with pytest.raises(ValueError, match=r"sentinel_services do not apply to backend_type 'redis\.cluster'"):
        build({"hosts": ["127.0.0.1:7000"], "sentinel_services": ["orders"]})


def test_a_wrong_password_is_a_clear_error(cluster: RedisCluster, driver: str) -> None:
    """A startup URL whose password is wrong fails the call, naming the authentication problem."""
    node = cluster.nodes[0]
    with pytest.raises(MessageSendError) as failure:
        send_one(
            driver,
            "auth",
            backend_type="redis.cluster",
            backend_layer_kwargs={"hosts": [f"redis://svc:wrong@{node.host}:{node.port}/0"]},
        )
    assert "password" in str(failure.value).lower() or isinstance(failure.value.__cause__, redis.AuthenticationError)


def test_the_registry_and_queue_depths_run_over_the_cluster(
    cluster: RedisCluster, start_workers: Callable[..., Runner], driver: str
) -> None:
    """Workers register in the registry on the cluster; its reader (or AsyncClient's) lists them and reads the
    queue's depth."""
    start_workers("listed", fork=2)
    fleet = {"backend_type": "redis.cluster", "backend_layer_kwargs": {"hosts": startup_urls(cluster)}}
    transport = RedisClientTransport("listed", **cluster_transport(cluster))
    # Two requests wait on a service nobody serves, so its queue has a depth to read.
    waiting = RedisClientTransport("unserved", **cluster_transport(cluster))
    for request_id in (1, 2):
        waiting.send_request_message(request_id, {}, {"control": {}, "context": {}, "actions": [{"action": "a"}]})
    # The workers answer once one of them is up; the other registers a moment later.
    deadline = time.monotonic() + 15
    while True:
        services = {service.name: service for service in _listed(driver, fleet, ["listed", "unserved"])}
        if len(services["listed"].instances) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(services["listed"].instances) == 2
    assert services["unserved"].queue_depth == 2
    assert services["listed"].queue_depth == 0
    transport.core.backend_layer.close()


def _listed(driver: str, fleet: dict[str, Any], names: list[str]) -> list[ServiceInfo]:
    if driver == BLOCKING:
        return list_services(fleet, names)

    async def read() -> list[ServiceInfo]:
        async with AsyncClient({}, fleet=fleet) as client:
            return await client.list_services(names)

    return asyncio.run(read())


def test_fleet_commands_follow_a_moved_slot(cluster: RedisCluster) -> None:
    """A fleet key whose slot moved to another master is reached there on the next command (MOVED followed)."""
    fleet = FleetRedis("redis.cluster", {"hosts": startup_urls(cluster)})
    key = "pysoa:registry:{moving}:records"
    try:
        fleet.run(key, lambda client: client.hset(key, "instance", b"1"), "writing a record")
        source = cluster.key_owner(key)
        cluster.migrate_slot(key_slot(key), next(node for node in cluster.masters() if node is not source))
        assert fleet.run(key, lambda client: client.hget(key, "instance"), "reading a record") == b"1"
    finally:
        fleet.close()


def test_fleet_commands_follow_ask_while_a_slot_migrates(cluster: RedisCluster) -> None:
    """While a fleet key's slot migrates, commands, scripts and pipelines on keys already moved (or new) follow
    ASK to the new master (each command after ASKING), and land there."""
    fleet = FleetRedis("redis.cluster", {"hosts": startup_urls(cluster)})
    key, new_key = "pysoa:registry:{asking}:records", "pysoa:registry:{asking}:errors"
    slot = key_slot(key)
    source = cluster.key_owner(key)
    target = next(node for node in cluster.masters() if node is not source)
    try:
        fleet.run(key, lambda client: client.hset(key, "instance", b"1"), "writing a record")
        # Given the slot migrating, the record already moved to the target
        cluster.begin_migration(slot, target)
        assert cluster.move_keys(slot, source, target) == 1
        # When the fleet reads it, writes a new key of the slot, runs a script and a pipeline on them
        assert fleet.run(key, lambda client: client.hget(key, "instance"), "reading a record") == b"1"
        fleet.run(new_key, lambda client: client.rpush(new_key, b"e1"), "recording an error")
        script = "return {redis.call('HGET', KEYS[1], 'instance'), redis.call('LLEN', KEYS[2])}"
        assert fleet.run_script(script, [key, new_key], [], "reading both") == [b"1", 1]

        def piped(client: redis.Redis) -> list[Any]:
            pipeline = client.pipeline(transaction=False)
            pipeline.hset(key, "other", b"2")
            pipeline.lrange(new_key, 0, -1)
            return list(pipeline.execute())

        assert fleet.run(key, piped, "writing and reading") == [1, [b"e1"]]
        # Then everything is on the target, nothing on the source
        with target.client() as on_target:
            assert on_target.execute_command("ASKING") and on_target.hgetall(key) == {b"instance": b"1", b"other": b"2"}
        assert not source.execute("CLUSTER", "COUNTKEYSINSLOT", slot)
    finally:
        if cluster.slot_owner(slot) is source:
            cluster.move_keys(slot, source, target)
            cluster.finish_migration(slot, source, target)
        fleet.close()


def test_a_reply_to_a_moved_slot_follows_it(cluster: RedisCluster) -> None:
    """A reply pushed (without waiting) to the master its slot just left is pushed again where the slot went.

    The caller's wait on its reply list follows the MOVED answer too, and gets the reply.
    """
    client = RedisClientTransport("replies", **cluster_transport(cluster))
    server = RedisServerTransport("replies", receive_timeout_in_seconds=1, **cluster_transport(cluster))

    def round_trip(request_id: int) -> dict[str, Any]:
        client.send_request_message(request_id, {}, {"control": {}, "context": {}, "actions": [{"action": "a"}]})
        received_id, meta, _ = server.receive_request_message()
        assert meta is not None
        return {"id": received_id, "meta": meta}

    # Two calls: the server's connection to the reply list's master has run the send script (so its next
    # reply there is pushed without waiting for Redis' answer).
    for request_id in (1, 2):
        request = round_trip(request_id)
        server.send_response_message(request["id"], request["meta"], {"actions": [], "errors": [], "context": {}})
        assert client.receive_response_message(5).request_id == request_id
    request = round_trip(3)
    reply_key = "pysoa:" + request["meta"]["reply_to"]
    source = cluster.key_owner(reply_key)
    cluster.migrate_slot(key_slot(reply_key), next(node for node in cluster.masters() if node is not source))
    server.send_response_message(request["id"], request["meta"], {"actions": [], "errors": [], "context": {}})
    server.flush_responses()
    assert client.receive_response_message(5).request_id == 3


class _MovesOnTimeout(CountingMetricsRecorder):
    """A counting recorder that runs the moves it is given (one each time) when a receive times out, right before
    the timed-out call's look at its queue."""

    def __init__(self, moves: list[Callable[[], object]]) -> None:
        super().__init__()
        self.moves = moves

    def counter(self, name: str, **tags: Any) -> Any:
        if name.endswith("receive.error.timeout") and self.moves:
            self.moves.pop()()
        return super().counter(name, **tags)


def test_a_timed_out_calls_look_follows_its_queue_to_another_master(cluster: RedisCluster) -> None:
    """The slot of a service's request queue moves (with the request waiting in it) to another master the moment a
    call times out: the look at the queue learns the move from the ``MOVED`` answer (counted, as any command's) and
    asks the new master, so the message still says that no worker took the request (the look on a connection of
    its own used to take the answer for a failure: the plain message, and the map of slots not told)."""
    slot = slot_of_service("looked-for")
    source = cluster.slot_owner(slot)
    target = next(node for node in cluster.masters() if node is not source)
    settings = client_settings(cluster)
    settings["metrics"] = {"object": _MovesOnTimeout, "kwargs": {"moves": [lambda: cluster.migrate_slot(slot, target)]}}
    client = Client({"looked-for": settings})
    # Given a queue whose slot moves the moment the call times out
    # When the call's look at the queue runs
    with pytest.raises(MessageReceiveTimeout) as raised:
        client.call_action("looked-for", "anything", timeout=0.5)
    # Then it found the request on the new master, and the move was counted
    assert "no worker took the request" in str(raised.value), str(raised.value)
    assert cluster.slot_owner(slot) is target
    recorder = client.handlers["looked-for"].metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    assert recorder.get_count("client.transport.redis_gateway.redirect.moved") >= 1
