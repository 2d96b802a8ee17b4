"""The asyncio driver's Redis Cluster: which master serves each slot, read from the nodes and kept current.

The twin of the blocking Cluster backend (``backend/cluster.py``), with the same settings, the same refusals
(:func:`~pysoa_like.common.transport.redis_gateway.backend.cluster.cluster_startup_nodes`) and the same rules
from the sans-I/O core (:mod:`pysoa_like.core.cluster`): the "ring" is the 16384 slots, a key's ring index is
its slot (:class:`~pysoa_like.core.cluster.SlotRing`), and :meth:`ClusterAioRing.endpoint_at` gives the master
serving a slot. The pool (``_aio_pool.py``) shares one connection per master among all its slots, so the pushes
of one turn of the loop to queues on one master go out in one write.

The slot map is read (``CLUSTER SHARDS``, or ``CLUSTER SLOTS`` before Redis 7) when first needed, and again
after a connection failure, a ``CLUSTERDOWN`` or a ``MOVED`` (at most every
:data:`~pysoa_like.core.cluster.MINIMUM_REFRESH_INTERVAL_SECONDS`), one read
at a time per event loop, so a replica promoted by the cluster or a slot moved by resharding is found without
restarting anything. The transport follows ``MOVED`` (the map learns the slot's new master) and ``ASK`` (that
one command goes to the named node after ``ASKING``).
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Mapping
from typing import Any

import attr

from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing
from pysoa_like.common.transport.redis_gateway.backend import checked_backend_kwargs
from pysoa_like.common.transport.redis_gateway.backend.cluster import TOPOLOGY_TIMEOUT_SECONDS, cluster_startup_nodes
from pysoa_like.core.cluster import (
    CLUSTER_SLOTS,
    ClusterTopology,
    NodeAddress,
    Redirect,
    SlotMap,
    SlotRing,
    no_master_message,
    slot_map_from_reply,
    topology_candidates,
    topology_commands,
    topology_error,
)
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_CLUSTER
from pysoa_like.core.endpoint import Endpoint, endpoint_of
from pysoa_like.core.redis_protocol import RespError

__all__ = ["ClusterAioRing", "cluster_aio_ring"]


class ClusterAioRing(AioRing):
    """The masters of one Redis Cluster, found from startup nodes (see the module docstring).

    Args:
        startup_nodes: Where to ask for the topology first.
        node_kwargs: The connection settings of every node (the first startup URL's user, password and TLS over
            ``connection_kwargs``).

    Raises:
        ValueError: A connection setting the asyncio driver cannot honour.
    """

    follows_redirects = True

    def __init__(self, startup_nodes: list[NodeAddress], node_kwargs: Mapping[str, Any]) -> None:
        self.startup_nodes = list(startup_nodes)
        self.tls = bool(node_kwargs.get("ssl"))
        # Every node's endpoint is this one at the node's address (one TLS context for all of them).
        self._template = endpoint_of(self.startup_nodes[0], node_kwargs)
        self._nodes: dict[NodeAddress, Endpoint] = {}
        self._topology = ClusterTopology()
        # Redis before 7.0 has no CLUSTER SHARDS: found out once, then CLUSTER SLOTS only.
        self._slots_only = False
        self._refreshing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[SlotMap]] = (
            weakref.WeakKeyDictionary()
        )

    async def size(self) -> int:
        return CLUSTER_SLOTS

    async def key_ring(self) -> SlotRing:
        """A key's ring index is its slot."""
        return SlotRing()

    async def endpoint_at(self, index: int) -> Endpoint:
        """The master serving slot ``index``.

        Raises:
            RedisConnectionError: No node could tell the topology, or no master serves the slot.
        """
        slot_map = await self._refresh() if self._topology.stale(time.monotonic()) else self._topology.slot_map
        address = self._topology.master_of(index)
        if address is None:
            assert slot_map is not None
            raise RedisConnectionError(no_master_message(index, slot_map.uncovered))
        return self.endpoint_for(address)

    def endpoint_for(self, address: NodeAddress) -> Endpoint:
        """The endpoint of the node at ``address`` (a master of the map, or the node an ``ASK`` names)."""
        endpoint = self._nodes.get(address)
        if endpoint is None:
            endpoint = self._nodes[address] = attr.evolve(self._template, host=address[0], port=address[1])
        return endpoint

    async def master_indexes(self) -> list[int]:
        """One slot of each master, in slot order (to run a command once per master).

        Raises:
            RedisConnectionError: No node could tell the topology.
        """
        slot_map = self._topology.slot_map
        if slot_map is None or self._topology.stale(time.monotonic()):
            slot_map = await self._refresh()
        return slot_map.master_slots()

    def reset(self, index: int) -> None:
        """After an error on slot ``index``: read the topology again before the next command (a failover?)."""
        self._topology.invalidate()

    def note_redirect(self, redirect: Redirect) -> None:
        """A ``MOVED`` answer moves the slot in the map, and the map is read again (``ASK``: nothing changes)."""
        self._topology.note_redirect(redirect)

    async def _refresh(self) -> SlotMap:
        """The slot map read again (one read at a time per loop; callers meanwhile wait for it)."""
        loop = asyncio.get_running_loop()
        reading = self._refreshing.get(loop)
        if reading is None:
            reading = self._refreshing[loop] = asyncio.ensure_future(self._read())
            reading.add_done_callback(lambda done: self._read_done(loop, done))
        return await asyncio.shield(reading)

    def _read_done(self, loop: asyncio.AbstractEventLoop, reading: asyncio.Future[SlotMap]) -> None:
        if self._refreshing.get(loop) is reading:
            del self._refreshing[loop]
        if not reading.cancelled():
            reading.exception()  # read here: every caller may have given up on it

    async def _read(self) -> SlotMap:
        current = self._topology.slot_map
        self._topology.reading(time.monotonic())
        failures: list[str] = []
        for address in topology_candidates(current, self.startup_nodes, random.shuffle):
            try:
                found = await self._ask_topology(address)
            except (RedisConnectionError, ValueError) as exc:
                failures.append(f"{address[0]}:{address[1]}: {exc}")
                continue
            if found.uncovered < CLUSTER_SLOTS:
                self._topology.read(found)
                return found
            failures.append(f"{address[0]}:{address[1]}: no slot is assigned to any node")
        if current is None:
            raise RedisConnectionError("Cannot read the Redis Cluster's topology from any node: " + "; ".join(failures))
        return current

    async def _ask_topology(self, address: NodeAddress) -> SlotMap:
        endpoint = self.endpoint_for(address)
        endpoint = attr.evolve(endpoint, connect_timeout=min(endpoint.connect_timeout, TOPOLOGY_TIMEOUT_SECONDS))
        connection = await AioConnection.open(endpoint)
        try:
            for command in topology_commands(self._slots_only):
                [reply] = await connection.execute([command], TOPOLOGY_TIMEOUT_SECONDS)
                if isinstance(reply, RespError):
                    problem = topology_error(command, reply.text)
                    if problem == "older":
                        self._slots_only = True
                        continue
                    raise RedisConnectionError(problem)
                return slot_map_from_reply(command, reply, address[0], self.tls)
            raise ValueError("no topology command answered")  # pragma: no cover (SLOTS answers or errs)
        finally:
            connection.close()


def cluster_aio_ring(backend_layer_kwargs: Mapping[str, Any]) -> ClusterAioRing:
    """The asyncio ring of ``redis.cluster`` backend settings (nothing is contacted here).

    Raises:
        ValueError: The settings the blocking Cluster backend refuses, or a connection setting the asyncio
            driver cannot honour.
    """
    kwargs = checked_backend_kwargs(REDIS_BACKEND_TYPE_CLUSTER, backend_layer_kwargs)
    startup_nodes, node_kwargs = cluster_startup_nodes(
        kwargs.get("hosts"), kwargs.get("connection_kwargs"), kwargs.get("redis_db"), kwargs.get("redis_port")
    )
    return ClusterAioRing(startup_nodes, node_kwargs)
