"""What the asyncio driver does on its own over Redis Cluster (the calls, failover and resharding tests run it too,
through the ``driver`` fixture): connections per master, and a reply list followed while its slot moves."""

from __future__ import annotations

import asyncio
from typing import Any

from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.redis_gateway._aio_pool import AioPool
from pysoa_like.common.transport.redis_gateway._aio_ring import aio_ring_of
from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.cluster import key_slot
from pysoa_like.test.redis import RedisCluster
from tests.integration.cluster.conftest import cluster_transport, startup_urls

_REPLY = {"actions": [], "errors": [], "context": {}}
_JOB = {"control": {}, "context": {}, "actions": [{"action": "a"}]}


def test_slots_of_one_master_share_its_connection(cluster: RedisCluster) -> None:
    """Every slot a master serves shares that master's connection (what groups parallel pushes per master)."""

    async def connections() -> tuple[int, int]:
        pool = AioPool(aio_ring_of("redis.cluster", {"hosts": startup_urls(cluster)}))
        try:
            spread = {id(await pool.connection(slot)) for slot in range(0, 16384, 97)}
            masters = {id(await pool.connection(slot)) for slot in await pool.ring.master_indexes()}
            return len(spread), len(masters)
        finally:
            pool.close()

    assert asyncio.run(connections()) == (3, 3)


def test_a_reply_list_followed_while_its_slot_migrates_then_moves(cluster: RedisCluster) -> None:
    """The reader of an AsyncClient's reply list follows ASK while the list's slot migrates, then MOVED.

    A reply pushed while the slot is migrating lands on the new master (the list is not on the old one); the
    reader, blocked on the old master, is answered ASK there and pops the reply on the new one after ASKING.
    Once the slot is given to the new master (with no pop of the reader under way), the next pop is answered MOVED
    and follows it.
    """
    metrics = CountingMetricsRecorder()
    client = AsyncRedisClientTransport("migrating", metrics=metrics, **cluster_transport(cluster))
    server = RedisServerTransport("migrating", receive_timeout_in_seconds=2, **cluster_transport(cluster))
    migration: dict[str, Any] = {}
    moved: list[int] = []
    prefix = "client.transport.redis_gateway."

    async def round_trip(request_id: int) -> int:
        await client.send_request_message(request_id, {}, _JOB)
        received_id, meta, _ = await asyncio.to_thread(server.receive_request_message)
        assert meta is not None
        if not migration:
            # Given the reply list's slot migrating to another master
            reply_key = "pysoa:" + meta["reply_to"]
            slot = key_slot(reply_key)
            source = cluster.slot_owner(slot)
            target = next(node for node in cluster.masters() if node is not source)
            cluster.begin_migration(slot, target)
            migration.update(slot=slot, source=source, target=target)
        await asyncio.to_thread(server.send_response_message, received_id, meta, _REPLY)
        await asyncio.to_thread(server.flush_responses)
        return (await client.receive_response_message(request_id, 10)).request_id

    async def reader_stopped() -> None:
        # The reader pops on until it sees no call waiting, so round trip 1's reply can leave it one more pop: sent
        # to the source before the migration ends, answered ASK, then blocked (after ASKING) on the target, it would
        # take reply 2 there without a MOVED. Waiting for it to stop makes reply 2's reader start on the source.
        reader = client._calls().state.reader
        if reader is not None:
            await asyncio.wait([reader], timeout=5)
            assert reader.done()

    async def scenario() -> list[int]:
        try:
            answered = [await round_trip(1)]
            await reader_stopped()
            # When the migration ends: the slot is the target's
            cluster.finish_migration(migration["slot"], migration["source"], migration["target"])
            answered.append(await round_trip(2))
            # (counted before the reader is stopped: reply 2 came by MOVED, not by a pop after it)
            moved.append(metrics.get_count(prefix + "redirect.moved"))
            return answered
        finally:
            await client.aclose()

    try:
        # Then both replies arrive, by ASK and then by MOVED
        assert asyncio.run(scenario()) == [1, 2]
    finally:
        if migration and cluster.slot_owner(migration["slot"]) is not migration["target"]:
            cluster.finish_migration(migration["slot"], migration["source"], migration["target"])
    assert metrics.get_count(prefix + "redirect.ask") >= 1
    assert moved[0] >= 1
