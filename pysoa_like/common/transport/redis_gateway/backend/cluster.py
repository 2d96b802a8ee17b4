"""The Redis Cluster backend: each key goes to the master of its hash slot, and the topology is followed.

The "ring" of this backend is the 16384 slots (:class:`~pysoa_like.core.cluster.SlotRing`): a transport asks for
the slot of its key, and the backend hands it the calling thread's connection to the master serving that slot.
The slot map is read from a node (``CLUSTER SHARDS``, or ``CLUSTER SLOTS`` before Redis 7) when first needed, and
again after a connection failure, a ``CLUSTERDOWN`` or a ``MOVED`` (at most every
:data:`MINIMUM_REFRESH_INTERVAL_SECONDS`), so a replica promoted by the cluster, or a slot moved by resharding, is
found without restarting anything. Which node to send a command to, what a ``MOVED``/``ASK`` reply means and the
parsing of the topology live in the sans-I/O core (:mod:`pysoa_like.core.cluster`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.connection import SSLConnection, parse_url

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.redis_gateway._lanes import Lane
from pysoa_like.common.transport.redis_gateway.backend.base import (
    QUEUE_LOOKS,
    BaseRedisClient,
    CannotGetConnectionError,
    SlotClient,
    make_redis_client,
    merge_connection_kwargs,
    normalize_host,
)
from pysoa_like.core.cluster import (
    CLUSTER_SLOTS,
    MINIMUM_REFRESH_INTERVAL_SECONDS,
    ClusterTopology,
    NodeAddress,
    Redirect,
    SlotMap,
    SlotRing,
    key_slot,
    no_master_message,
    slot_map_from_reply,
    topology_candidates,
    topology_commands,
    topology_error,
)
from pysoa_like.core.constants import DEFAULT_REDIS_PORT
from pysoa_like.core.endpoint import endpoint_of

__all__ = [
    "MINIMUM_REFRESH_INTERVAL_SECONDS",
    "TOPOLOGY_TIMEOUT_SECONDS",
    "ClusterRedisClient",
    "cluster_startup_nodes",
]

#: The longest a node may take to connect and answer a topology command before the next node is asked.
TOPOLOGY_TIMEOUT_SECONDS = 2.0

# What a startup URL says that is the node's own, not every node's (the rest: user, password, TLS, options).
_URL_EXCLUDED_KWARGS = ("host", "port", "db", "path", "connection_class")


def _parse_url(url: str, default_port: int) -> tuple[NodeAddress, dict[str, Any]]:
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError(f"Redis Cluster nodes are reached over TCP: {url!r} is not a redis:// or rediss:// URL")
    options: dict[str, Any] = dict(parse_url(url))  # type: ignore[no-untyped-call, unused-ignore]
    if int(options.get("db") or 0) != 0:
        raise ValueError(f"Redis Cluster has only database 0: {url!r} names database {options['db']}")
    address = (str(options.get("host") or "localhost"), int(options.get("port") or default_port))
    tls = options.get("connection_class") is SSLConnection
    kwargs = {key: value for key, value in options.items() if key not in _URL_EXCLUDED_KWARGS}
    if tls:
        kwargs["ssl"] = True
    return address, kwargs


def cluster_startup_nodes(
    hosts: Sequence[Any] | None,
    connection_kwargs: Mapping[str, Any] | None,
    redis_db: int | None,
    redis_port: int | None,
) -> tuple[list[NodeAddress], dict[str, Any]]:
    """The startup nodes of a Cluster backend's settings, and the connection keyword arguments of every node.

    Shared by both drivers (the same settings, the same refusals). The node arguments are ``connection_kwargs``
    over the defaults, then the first URL's user, password and TLS.

    Raises:
        ValueError: A host has none of the accepted forms, is a ``unix://`` URL, or names a database other than 0;
            or a connection key no driver honours (named).
    """
    if redis_db:
        raise ValueError(f"Redis Cluster has only database 0, not redis_db={redis_db}")
    port = redis_port or DEFAULT_REDIS_PORT
    entries = BaseRedisClient._check_hosts(hosts) or [("localhost", port)]
    merged = merge_connection_kwargs(connection_kwargs, None)
    merged.pop("db", None)
    startup_nodes: list[NodeAddress] = []
    url_kwargs: dict[str, Any] | None = None
    for entry in entries:
        address = normalize_host(entry, port)
        if isinstance(address, str):
            node, options = _parse_url(address, port)
            if url_kwargs is None:
                url_kwargs = options
            address = node
        if address not in startup_nodes:
            startup_nodes.append(address)
    node_kwargs = {**merged, **(url_kwargs or {})}
    endpoint_of(startup_nodes[0], node_kwargs)  # refuses a key the connections cannot honour, now
    return startup_nodes, node_kwargs


class ClusterRedisClient(BaseRedisClient):
    """The masters of one Redis Cluster, found from startup nodes.

    Args:
        hosts: Startup nodes: ``redis://`` or ``rediss://`` URLs (with an ACL user and password if needed),
            ``"host"``, ``"host:port"`` or ``("host", port)``; default ``[("localhost", 6379)]``. One reachable
            node is enough; the others are found from it. The credentials and TLS setting of the first URL apply
            to every node found (over ``connection_kwargs``).
        connection_kwargs: redis-py keyword arguments for every node's connections (``password``, ``username``,
            ``ssl``, ``ssl_ca_certs``, ``socket_timeout``, ...), over the defaults ``socket_connect_timeout=5.0``
            and ``socket_keepalive=True``.
        redis_db: Must be 0 or absent: a cluster has only database 0.
        redis_port: The port of host names given without one (default 6379).

    Raises:
        ValueError: If a host has none of the accepted forms, is a ``unix://`` URL, or names a database other
            than 0.
    """

    follows_redirects = True

    def __init__(
        self,
        hosts: Sequence[Any] | None = None,
        connection_kwargs: Mapping[str, Any] | None = None,
        redis_db: int | None = None,
        redis_port: int | None = None,
    ) -> None:
        self.startup_nodes, self.node_kwargs = cluster_startup_nodes(hosts, connection_kwargs, redis_db, redis_port)
        self.connection_kwargs = merge_connection_kwargs(connection_kwargs, None)
        self.connection_kwargs.pop("db", None)
        self.tls = bool(self.node_kwargs.get("ssl"))
        super().__init__(CLUSTER_SLOTS)
        self._topology = ClusterTopology()
        self._clients: dict[NodeAddress, SlotClient] = {}
        self._lock = threading.Lock()
        # Redis before 7.0 has no CLUSTER SHARDS: found out once, then CLUSTER SLOTS only.
        self._slots_only = False

    # Slots and nodes

    def make_ring(self) -> SlotRing:
        """A chooser of slots: a key's ring index is its hash slot."""
        return SlotRing()

    def queue_indexes(self, key: str) -> list[int]:
        """The one slot holding ``key``."""
        return [key_slot(key)]

    def shares_lane(self, index: int, other: int) -> bool:
        """Whether two slots have the same master now."""
        slot_map = self._topology.slot_map
        return index == other or (slot_map is not None and slot_map.node_for(index) == slot_map.node_for(other))

    def get_connection(self, queue_key: str) -> redis.Redis:
        """The client of the master serving ``queue_key``'s slot (PySOA's API, kept for compatibility)."""
        return self.client_at(key_slot(queue_key))

    def client_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> SlotClient:
        """The client of the master serving slot ``index`` (``deadline`` unused: a read of the topology is bounded by
        the nodes' own timeouts).

        Raises:
            CannotGetConnectionError: No node could tell the topology, or no master serves the slot.
        """
        return self._client_for(self._address_of(index, metrics, metrics_prefix))

    def lane_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> Lane:
        """The calling thread's connection to the master serving slot ``index`` (one per thread and node;
        ``deadline`` unused, as for :meth:`client_at`).

        Raises:
            CannotGetConnectionError: No node could tell the topology, or no master serves the slot.
        """
        return self.lane_for_address(self._address_of(index, metrics, metrics_prefix))

    def look_lane(self, index: int, metrics: MetricsRecorder | None = None, metrics_prefix: str = "") -> Lane:
        """The calling thread's connection kept for looks at a request queue, to the master serving slot ``index``
        (one per thread and node, see :meth:`BaseRedisClient.look_lane`).

        Raises:
            CannotGetConnectionError: No node could tell the topology, or no master serves the slot.
        """
        address = self._address_of(index, metrics, metrics_prefix)
        return self.thread_lane((QUEUE_LOOKS, address), self._client_for(address))

    def lane_for_address(self, address: NodeAddress) -> Lane:
        """The calling thread's connection to the node at ``address`` (made on first use)."""
        return self.thread_lane(address, self._client_for(address))

    def client_for_address(self, address: NodeAddress) -> redis.Redis:
        """The client of the node at ``address`` (made on first use, shared by the threads)."""
        return self._client_for(address)

    def master_indexes(self) -> list[int]:
        """One slot of each master, in slot order (to run a command once per master).

        Raises:
            CannotGetConnectionError: No node could tell the topology.
        """
        self._address_of(0, None, "")
        slot_map = self._topology.slot_map
        return slot_map.master_slots() if slot_map is not None else []

    def _client_for(self, address: NodeAddress) -> SlotClient:
        client = self._clients.get(address)
        if client is None:
            with self._lock:
                client = self._clients.get(address)
                if client is None:
                    client = self._clients[address] = make_redis_client(address, self.node_kwargs)
        return client

    def _address_of(self, slot: int, metrics: MetricsRecorder | None, metrics_prefix: str) -> NodeAddress:
        topology = self._topology
        slot_map = self._refresh(metrics, metrics_prefix) if topology.stale(time.monotonic()) else topology.slot_map
        address = topology.master_of(slot)
        if address is None:
            assert slot_map is not None
            raise CannotGetConnectionError(no_master_message(slot, slot_map.uncovered))
        return address

    # Topology

    def reset_client(self, index: int) -> None:
        """After an error on slot ``index``: read the topology again before the next command (a failover?)."""
        self._topology.invalidate()

    def note_redirect(self, redirect: Redirect) -> None:
        """A ``MOVED`` answer moves the slot in the map, and the map is read again (``ASK``: nothing changes)."""
        self._topology.note_redirect(redirect)

    def _refresh(self, metrics: MetricsRecorder | None, metrics_prefix: str) -> SlotMap:
        with self._lock:
            topology = self._topology
            current = topology.slot_map
            now = time.monotonic()
            if current is not None and not topology.stale(now):
                return current  # another thread just read it
            topology.reading(now)
            if metrics is not None:
                with metrics.timer(metrics_prefix + "backend.cluster.refresh_topology"):
                    found, failures = self._read_topology(current)
            else:
                found, failures = self._read_topology(current)
            if found is not None:
                topology.read(found)
                return found
            if metrics is not None:
                metrics.counter(metrics_prefix + "backend.cluster.refresh_failed").increment()
            if current is None:
                raise CannotGetConnectionError(
                    "Cannot read the Redis Cluster's topology from any node: " + "; ".join(failures)
                )
            return current

    def _read_topology(self, current: SlotMap | None) -> tuple[SlotMap | None, list[str]]:
        """Ask the known nodes (in random order), then the startup nodes, until one describes the cluster."""
        failures: list[str] = []
        for address in topology_candidates(current, self.startup_nodes, random.shuffle):
            try:
                found = self._ask_topology(address)
            except (redis.RedisError, OSError, ValueError) as exc:
                failures.append(f"{address[0]}:{address[1]}: {exc}")
                continue
            if found.uncovered < CLUSTER_SLOTS:
                return found, failures
            failures.append(f"{address[0]}:{address[1]}: no slot is assigned to any node")
        return None, failures

    def _ask_topology(self, address: NodeAddress) -> SlotMap:
        kwargs = dict(self.node_kwargs)
        for name in ("socket_timeout", "socket_connect_timeout"):
            configured = kwargs.get(name)
            kwargs[name] = TOPOLOGY_TIMEOUT_SECONDS if configured is None else min(configured, TOPOLOGY_TIMEOUT_SECONDS)
        client = make_redis_client(address, kwargs)
        lane = Lane(client)
        try:
            for command in topology_commands(self._slots_only):
                try:
                    reply = lane.execute(*command)
                except redis.ResponseError as exc:
                    if topology_error(command, str(exc)) == "older":
                        self._slots_only = True
                        continue
                    raise
                return slot_map_from_reply(command, reply, address[0], self.tls)
            raise ValueError("no topology command answered")  # pragma: no cover (SLOTS answers or raises)
        finally:
            lane.close()
            client.connection_pool.disconnect()

    def close(self) -> None:
        """Close every connection (they reopen if used again)."""
        self.close_lanes()
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.connection_pool.disconnect()
