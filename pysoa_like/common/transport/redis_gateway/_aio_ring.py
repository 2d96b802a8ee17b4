"""The asyncio driver's ring of masters: which endpoint serves each ring slot (standard hosts, or Sentinel).

The twin of the blocking backends (``backend/standard.py``, ``backend/sentinel.py``), with the same settings:
``hosts``, ``connection_kwargs``, ``redis_db``, ``redis_port`` and, for Sentinel, ``sentinel_services``,
``sentinel_failover_retries`` and ``sentinel_kwargs``. A Sentinel slot's master is asked of the Sentinels
(``SENTINEL GET-MASTER-ADDR-BY-NAME``) when first needed and again after an error on that slot
(:meth:`AioRing.reset`), so a failover is followed; without ``sentinel_services`` the services are
discovered with ``SENTINEL MASTERS``, in the order the first Sentinel that answers lists them. Redis Cluster's
ring (the 16384 slots, with ``MOVED``/``ASK`` followed) is ``_aio_cluster.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway.backend.base import merge_connection_kwargs, normalize_host
from pysoa_like.common.transport.redis_gateway.backend.sentinel import (
    DEFAULT_SENTINEL_KWARGS,
    MONITORS_NO_MASTER,
    SERVICES_DISCOVERY_CLOSED,
    lookup_closed,
    lookup_timed_out,
    master_not_found,
    monitors_no_master_named,
    services_not_discovered,
)
from pysoa_like.core.cluster import NodeAddress, Redirect, SlotRing
from pysoa_like.core.constants import (
    DEFAULT_REDIS_PORT,
    DEFAULT_SENTINEL_PORT,
    REDIS_BACKEND_TYPE_CLUSTER,
    REDIS_BACKEND_TYPE_SENTINEL,
)
from pysoa_like.core.endpoint import Endpoint, endpoint_of
from pysoa_like.core.keys import HostRing
from pysoa_like.core.push_outcomes import queue_full_backoff_seconds
from pysoa_like.core.redis_protocol import RespError

__all__ = ["AioRing", "aio_ring_of"]


class AioRing:
    """A fixed ring of masters (the standard backend).

    Args:
        endpoints: The masters, in ring order.
    """

    #: Whether ``MOVED``/``ASK`` answers are followed (Redis Cluster); elsewhere they are errors.
    follows_redirects = False

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        if not endpoints:
            raise ValueError("A Redis backend needs at least one host or Sentinel service")
        self._endpoints = list(endpoints)

    async def size(self) -> int:
        """The number of ring slots."""
        return len(self._endpoints)

    async def master_indexes(self) -> list[int]:
        """One ring slot of each master (to run a command once per master)."""
        return list(range(await self.size()))

    async def key_ring(self) -> HostRing | SlotRing:
        """Which ring slot serves a key: reply keys hashed, request keys round-robin (a cluster: the key's slot)."""
        return HostRing(await self.size())

    async def endpoint_at(self, index: int) -> Endpoint:
        """The master of ring slot ``index``.

        Raises:
            RedisConnectionError: No master can be found for the slot (Sentinel).
        """
        return self._endpoints[index]

    def endpoint_for(self, address: NodeAddress) -> Endpoint:
        """The endpoint of the node at ``address``, which a ``MOVED``/``ASK`` answer named (Redis Cluster only).

        Raises:
            RedisConnectionError: This ring does not follow redirections.
        """
        raise RedisConnectionError(f"A {type(self).__name__} does not follow a redirection to {address}")

    def reset(self, index: int) -> None:
        """Forget slot ``index``'s master after an error (Sentinel asks again; a fixed ring has nothing to do)."""
        return None

    def note_redirect(self, redirect: Redirect) -> None:
        """Learn from a ``MOVED``/``ASK`` answer (Redis Cluster; nothing to learn elsewhere)."""
        return None


class SentinelAioRing(AioRing):
    """A ring of Sentinel-managed masters, one per service (see the module docstring).

    Args:
        sentinels: The Sentinels' endpoints.
        services: The services forming the ring, or ``None`` to discover them.
        connection_kwargs: The merged connection keyword arguments of the masters.
        failover_retries: Retries, with backoff, while no Sentinel knows a master.
    """

    def __init__(
        self,
        sentinels: Sequence[Endpoint],
        services: Sequence[str] | None,
        connection_kwargs: Mapping[str, Any],
        failover_retries: int,
    ) -> None:
        self._sentinels = list(sentinels)
        self._services: list[str] | None = list(services) if services else None
        self._connection_kwargs = connection_kwargs
        self._failover_retries = failover_retries
        self._masters: dict[int, Endpoint] = {}

    async def _ask(
        self, command: tuple[Any, ...], asked: list[tuple[str, str]] | None = None, empty: str = ""
    ) -> list[Any]:
        """The replies of the Sentinels that answer ``command`` (one connection each, closed after).

        Args:
            asked: Given, each Sentinel that gave nothing is added to it, as ``("host:port", why)``.
            empty: Why, for a Sentinel whose reply is empty.
        """
        answers: list[Any] = []
        for sentinel in self._sentinels:
            try:
                connection = await AioConnection.open(sentinel)
            except RedisConnectionError as exc:
                if asked is not None:
                    asked.append((str(sentinel), str(exc)))
                continue
            try:
                [reply] = await connection.execute([command], sentinel.socket_timeout or sentinel.connect_timeout)
            except RedisConnectionError as exc:
                if asked is not None:
                    asked.append((str(sentinel), str(exc)))
                continue
            finally:
                connection.close()
            if not isinstance(reply, RespError) and reply:
                answers.append(reply)
                break
            if asked is not None:
                asked.append((str(sentinel), str(reply) if isinstance(reply, RespError) else empty))
        return answers

    async def services(self) -> list[str]:
        """The ring's services (discovered once when not configured).

        Raises:
            RedisConnectionError: None configured and no Sentinel lists any.
        """
        if self._services is None:
            asked: list[tuple[str, str]] = []
            for reply in await self._ask(("SENTINEL", "MASTERS"), asked, MONITORS_NO_MASTER):
                names = [_field(entry, b"name") for entry in reply]
                self._services = [name.decode() for name in names if isinstance(name, bytes)]
            if not self._services:
                raise RedisConnectionError(services_not_discovered(asked))
        return self._services

    async def size(self) -> int:
        return len(await self.services())

    async def endpoint_at(self, index: int) -> Endpoint:
        master = self._masters.get(index)
        if master is not None:
            return master
        service = (await self.services())[index]
        asked: list[tuple[str, str]] = []
        for attempt in range(self._failover_retries + 1):
            asked = []
            command = ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service)
            for reply in await self._ask(command, asked, monitors_no_master_named(service)):
                host, port = reply
                master = self._masters[index] = endpoint_of((host.decode(), int(port)), self._connection_kwargs)
                return master
            if attempt < self._failover_retries:
                await asyncio.sleep(queue_full_backoff_seconds(attempt))
        raise RedisConnectionError(master_not_found(service, asked))

    def reset(self, index: int) -> None:
        self._masters.pop(index, None)

    def known_master(self, index: int) -> Endpoint | None:
        """Slot ``index``'s master if it is known (``None``: :meth:`endpoint_at` must ask the Sentinels)."""
        return self._masters.get(index)

    def services_known(self) -> bool:
        """Whether the ring's services are known (configured, or discovered): :meth:`size` asks no Sentinel then."""
        return self._services is not None

    def lookup_timed_out(self, index: int, waited: float) -> str:
        """Why a caller stopped waiting for the lookup of slot ``index``'s master after ``waited`` seconds: its
        deadline came first (the services are known: a master lookup starts from them)."""
        return lookup_timed_out(self._services[index] if self._services is not None else f"#{index}", waited)

    def lookup_closed(self, index: int | None) -> str:
        """Why a lookup of slot ``index``'s master (``None``: of the services) ended: its connections were closed."""
        if index is None or self._services is None:
            return SERVICES_DISCOVERY_CLOSED
        return lookup_closed(self._services[index])


def _field(entry: Any, name: bytes) -> Any:
    """A field of a ``SENTINEL MASTERS`` entry (a flat list of names and values, or a map under RESP3)."""
    if isinstance(entry, dict):
        return entry.get(name)
    if isinstance(entry, list):
        return dict(zip(entry[::2], entry[1::2], strict=False)).get(name)
    return None


def aio_ring_of(backend_type: str, backend_layer_kwargs: Mapping[str, Any]) -> AioRing:
    """The asyncio ring of a Redis transport's backend settings (nothing is contacted here).

    Raises:
        ValueError: A malformed host, or a connection setting the asyncio driver cannot honour.
    """
    if backend_type == REDIS_BACKEND_TYPE_CLUSTER:
        from pysoa_like.common.transport.redis_gateway._aio_cluster import cluster_aio_ring

        return cluster_aio_ring(backend_layer_kwargs)
    kwargs = dict(backend_layer_kwargs)
    connection_kwargs = merge_connection_kwargs(kwargs.get("connection_kwargs"), kwargs.get("redis_db"))
    if backend_type == REDIS_BACKEND_TYPE_SENTINEL:
        port = kwargs.get("redis_port") or DEFAULT_SENTINEL_PORT
        hosts = kwargs.get("hosts") or [("localhost", port)]
        addresses = [normalize_host(host, port) for host in hosts]
        if any(isinstance(address, str) for address in addresses):
            raise ValueError("Sentinel hosts must be 'host', 'host:port' or ('host', port), not URLs")
        sentinel_kwargs = {**DEFAULT_SENTINEL_KWARGS, **(kwargs.get("sentinel_kwargs") or {})}
        sentinels = [endpoint_of(address, sentinel_kwargs) for address in addresses]
        endpoint_of(("localhost", DEFAULT_REDIS_PORT), connection_kwargs)  # refuses unusable keys now
        return SentinelAioRing(
            sentinels, kwargs.get("sentinel_services"), connection_kwargs, kwargs.get("sentinel_failover_retries", 0)
        )
    port = kwargs.get("redis_port") or DEFAULT_REDIS_PORT
    hosts = kwargs.get("hosts") or [("localhost", port)]
    return AioRing([endpoint_of(normalize_host(host, port), connection_kwargs) for host in hosts])
