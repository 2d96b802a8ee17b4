"""The asyncio driver's connections of one event loop to one ring, shared by every transport with its settings.

A service called from many short-lived clients (a client per request, as a server makes for each job) must not
open connections per client: :func:`pool_for` gives every asyncio transport with the same backend settings,
on the same event loop, one :class:`AioPool`. It holds one push connection per ring slot (any number of
concurrent pushes are pipelined on it) and the idle connections of reply readers (a reader blocks its
connection in ``BLPOP`` while its calls wait, and gives it back when none does). The ring (round-robin for
requests, Sentinel lookups) is shared too. A pool's connections are closed when its last transport is closed
with ``aclose()``, or when ``asyncio.run`` ends the loop (an async generator of the loop closes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncGenerator, Hashable
from typing import Any

from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing
from pysoa_like.core.keys import HostRing

__all__ = ["AioPool", "pool_for", "release_pool"]

# Idle reader connections kept per ring slot; more are closed when given back.
_MAXIMUM_IDLE_READERS = 16


class AioPool:
    """The connections of one event loop to one ring (see the module docstring).

    Args:
        ring: The ring's masters.
    """

    def __init__(self, ring: AioRing) -> None:
        self.ring = ring
        self.users: weakref.WeakSet[Any] = weakref.WeakSet()
        self._hosts: HostRing | None = None
        self._connections: dict[int, AioConnection] = {}
        self._opening: dict[int, asyncio.Future[AioConnection]] = {}
        self._idle: dict[int, list[AioConnection]] = {}
        self._closer: AsyncGenerator[None, None] | None = None
        #: The reply lists of this loop and ring, by the settings that let transports share one.
        self.replies: dict[Hashable, Any] = {}

    async def slot_of(self, key: str) -> int:
        """The ring slot serving ``key`` (reply keys hashed, request keys round-robin)."""
        hosts = self._hosts
        if hosts is None:
            hosts = self._hosts = HostRing(await self.ring.size())
        return hosts.index_for(key)

    async def connection(self, index: int) -> AioConnection:
        """The push connection of slot ``index`` (opened once, however many calls ask at once).

        Raises:
            RedisConnectionError: It cannot be opened.
        """
        connection = self._connections.get(index)
        if connection is not None and not connection.closed:
            return connection
        opening = self._opening.get(index)
        if opening is None:
            opening = self._opening[index] = asyncio.ensure_future(self.open(index))
            opening.add_done_callback(lambda done: self._opened(index, done))
        connection = await asyncio.shield(opening)
        self._connections[index] = connection
        return connection

    def _opened(self, index: int, opening: asyncio.Future[AioConnection]) -> None:
        """An opening ended: forget it (its error is read here too, as every caller may have given up on it)."""
        self._opening.pop(index, None)
        if not opening.cancelled():
            opening.exception()

    async def open(self, index: int) -> AioConnection:
        """A new connection to slot ``index``'s master (Sentinel: asked again after a failure).

        Raises:
            RedisConnectionError: It cannot be opened.
        """
        endpoint = await self.ring.endpoint_at(index)
        try:
            return await AioConnection.open(endpoint)
        except RedisConnectionError:
            self.ring.reset(index)
            raise

    def failed(self, index: int, connection: AioConnection | None) -> None:
        """Forget a slot's connection after an error (Sentinel then asks for the master again)."""
        if connection is not None:
            connection.close()
            if self._connections.get(index) is connection:
                del self._connections[index]
        self.ring.reset(index)

    async def reader_connection(self, index: int) -> AioConnection:
        """A connection to slot ``index`` for a reader to block on: an idle one, else a new one.

        Raises:
            RedisConnectionError: It cannot be opened.
        """
        idle = self._idle.get(index)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return await self.open(index)

    def release_reader(self, index: int, connection: AioConnection) -> None:
        """Give back a reader's connection once its last command was answered (it is kept idle, or closed)."""
        if connection.closed:
            return
        idle = self._idle.setdefault(index, [])
        if len(idle) < _MAXIMUM_IDLE_READERS:
            idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close every connection of the pool."""
        for connection in [*self._connections.values(), *(c for idle in self._idle.values() for c in idle)]:
            connection.close()
        self._connections.clear()
        self._idle.clear()


# Per event loop: backend key -> pool.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, AioPool]] = weakref.WeakKeyDictionary()


def pool_for(key: Hashable, ring: AioRing, user: Any) -> AioPool:
    """The running loop's pool for the backend ``key`` (made with ``ring`` if there is none), used by ``user``."""
    loop = asyncio.get_running_loop()
    pools = _pools.get(loop)
    if pools is None:
        pools = _pools[loop] = {}
    pool = pools.get(key)
    if pool is None:
        pool = pools[key] = AioPool(ring)
        pool._closer = _closed_with_the_loop(pool)
    pool.users.add(user)
    return pool


async def release_pool(key: Hashable, pool: AioPool, user: Any) -> None:
    """``user`` is done with ``pool`` (of the running loop): the last user closes it."""
    pool.users.discard(user)
    if pool.users:
        return
    pools = _pools.get(asyncio.get_running_loop())
    if pools is not None and pools.get(key) is pool:
        del pools[key]
    pool.close()
    closer, pool._closer = pool._closer, None
    if closer is not None:
        await closer.aclose()


def _closed_with_the_loop(pool: AioPool) -> AsyncGenerator[None, None]:
    """An async generator, started here, whose ``finally`` closes ``pool`` when the loop ends.

    ``asyncio.run`` (and any runner calling ``loop.shutdown_asyncgens()``) closes the async generators still
    open on its loop before closing it: so a loop ended without ``aclose()`` leaves no socket behind.
    """

    async def closer() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            pool.close()

    generator = closer()
    with contextlib.suppress(StopIteration):
        generator.__anext__().send(None)  # registers it with the running loop, and runs it to its yield
    return generator
