"""The asyncio driver's connections of one event loop to one ring, shared by every transport with its settings.

A service called from many short-lived clients (a client per request, as a server makes for each job) must not
open connections per client: :func:`pool_for` gives every asyncio transport with the same backend settings,
on the same event loop, one :class:`AioPool`. It holds one push connection per master (any number of
concurrent pushes are pipelined on it; under Redis Cluster every slot of a master shares it, so the pushes of
one turn of the loop to one master go out in one write) and the idle connections of reply readers per master
(a reader blocks its connection in ``BLPOP`` while its calls wait, and gives it back when none does). The ring
(round-robin for requests, Sentinel lookups, the Cluster's slot map) is shared too. A pool's connections are
closed when its last transport is closed with ``aclose()``, or when ``asyncio.run`` ends the loop (an async
generator of the loop closes them). A Sentinel slot's master lookup, and the discovery of the Sentinel services
(without ``sentinel_services``), is one task of the pool at a time, which every caller meanwhile awaits, each until
its own deadline (a call's) at most: a caller that stops waiting leaves it going, and what it finds serves the next
calls. The reply reader has no deadline of its own (each waiting call has its own timeout): it waits for a master
lookup until it ends. Closing the pool ends the Sentinel lookups its callers await (asking a Sentinel, or waiting to
ask again): they fail at once saying so, and keep no master.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncGenerator, Coroutine, Hashable
from typing import Any, TypeVar

from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing, SentinelAioRing
from pysoa_like.common.transport.redis_gateway.backend.sentinel import discovery_timed_out
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, Redirect, SlotRing, cluster_down, parse_redirect
from pysoa_like.core.endpoint import Endpoint
from pysoa_like.core.keys import HostRing
from pysoa_like.core.redis_protocol import RespError

__all__ = ["AioPool", "pool_for", "release_pool"]

# Idle reader connections kept per master; more are closed when given back.
_MAXIMUM_IDLE_READERS = 16

# A master, as its connections are shared: (host, port, unix socket path).
_Address = tuple[str | None, int | None, str | None]

_T = TypeVar("_T")


def _address(endpoint: Endpoint) -> _Address:
    return (endpoint.host, endpoint.port, endpoint.path)


class AioPool:
    """The connections of one event loop to one ring (see the module docstring).

    Args:
        ring: The ring's masters.
    """

    def __init__(self, ring: AioRing) -> None:
        self.ring = ring
        self.users: weakref.WeakSet[Any] = weakref.WeakSet()
        self._hosts: HostRing | SlotRing | None = None
        # Ring slot -> its master's connection (many slots may share one, under Redis Cluster).
        self._connections: dict[int, AioConnection] = {}
        # Per master (its endpoint's address): the push connection, its opening, the idle reader connections.
        self._shared: dict[_Address, AioConnection] = {}
        self._opening: dict[_Address, asyncio.Future[AioConnection]] = {}
        self._idle: dict[_Address, list[AioConnection]] = {}
        self._closer: AsyncGenerator[None, None] | None = None
        self._closed = False
        # The Sentinel lookups under way (tasks), which close() ends; the masters' by ring slot (callers share one).
        self._lookups: set[asyncio.Future[Any]] = set()
        self._master_lookups: dict[int, asyncio.Future[Endpoint]] = {}
        # The discovery of a Sentinel ring's services under way (callers share it).
        self._discovery: asyncio.Future[list[str]] | None = None
        #: The reply lists of this loop and ring, by the settings that let transports share one.
        self.replies: dict[Hashable, Any] = {}

    async def slot_of(self, key: str, deadline: float | None = None) -> int:
        """The ring slot serving ``key`` (reply keys hashed, request keys round-robin); a discovery of the Sentinel
        services is waited for until ``deadline`` at most (see :meth:`_discovered`).

        Raises:
            RedisConnectionError: The ring's masters cannot be known (or were not by ``deadline``).
        """
        hosts = self._hosts
        if hosts is None:
            hosts = self._hosts = await self._key_ring(deadline)
        return hosts.index_for(key)

    def ready_connection(self, key: str) -> tuple[int, AioConnection | None] | None:
        """The ring slot of ``key`` and its open push connection (``None`` when it must be opened first), or ``None``
        when the ring is not known yet. The slot is drawn here, once: a push that must wait for its connection
        goes to this slot (:meth:`connection`), so that it keeps its turn of the round-robin."""
        hosts = self._hosts
        if hosts is None:
            return None
        index = hosts.index_for(key)
        connection = self._connections.get(index)
        return index, (None if connection is None or connection.closed else connection)

    async def queue_slots(self, key: str, deadline: float | None = None) -> list[int]:
        """The ring slots where the request queue ``key`` may hold messages: every master of a ring (requests go
        round-robin), the queue's slot under Redis Cluster. No turn of the round-robin is taken.

        Raises:
            RedisConnectionError: The ring's masters cannot be known (or were not by ``deadline``).
        """
        hosts = self._hosts
        if hosts is None:
            hosts = self._hosts = await self._key_ring(deadline)
        if isinstance(hosts, HostRing):
            return list(range(hosts.host_count))
        return [hosts.index_for(key)]

    async def ring_size(self, deadline: float | None = None) -> int:
        """The ring's :meth:`~AioRing.size` (see :meth:`_discovered`).

        Raises:
            RedisConnectionError: The ring's masters cannot be known (or were not by ``deadline``).
        """
        await self._discovered(deadline)
        return await self.ring.size()

    async def _key_ring(self, deadline: float | None) -> HostRing | SlotRing:
        """The ring's :meth:`~AioRing.key_ring` (see :meth:`_discovered`)."""
        await self._discovered(deadline)
        return await self.ring.key_ring()

    async def _discovered(self, deadline: float | None) -> None:
        """Once a Sentinel ring's services are known: when they must be discovered first, that is one task of the pool
        at a time, which every caller meanwhile awaits until its ``deadline`` (``time.monotonic()``; ``None``: until it
        ends). A caller that stops waiting (its deadline, or cancelled) leaves it going for the next calls; close()
        ends it. Services configured or already discovered take no task.

        Raises:
            RedisConnectionError: The discovery failed, close() ended it (or had been called), or it had not ended by
                ``deadline``.
        """
        ring = self.ring
        if not isinstance(ring, SentinelAioRing) or ring.services_known():
            return
        if self._closed:
            raise RedisConnectionError(ring.lookup_closed(None))
        discovery = self._discovery
        if discovery is None:
            discovery = self._discovery = self._lookup_task(ring.services())
            discovery.add_done_callback(self._discovery_ended)
        started = time.monotonic()
        await asyncio.wait((discovery,), timeout=None if deadline is None else max(deadline - started, 0.0))
        if not discovery.done():
            raise RedisConnectionError(discovery_timed_out(time.monotonic() - started))
        if discovery.cancelled() and self._closed:
            raise RedisConnectionError(ring.lookup_closed(None))
        discovery.result()

    def _discovery_ended(self, discovery: asyncio.Future[list[str]]) -> None:
        if self._discovery is discovery:
            self._discovery = None

    async def _endpoint_at(self, index: int, deadline: float | None = None) -> Endpoint:
        """The ring's :meth:`~AioRing.endpoint_at` (a Sentinel ring's master lookup: see :meth:`_master_lookup`)."""
        ring = self.ring
        if isinstance(ring, SentinelAioRing):
            known = ring.known_master(index)
            return known if known is not None else await self._master_lookup(ring, index, deadline)
        return await ring.endpoint_at(index)

    async def _master_lookup(self, ring: SentinelAioRing, index: int, deadline: float | None) -> Endpoint:
        """Slot ``index``'s master as the Sentinels name it: one lookup of it at a time, a task of the pool that every
        caller meanwhile awaits until its ``deadline`` (``time.monotonic()``; ``None``: until the lookup ends). A
        caller that stops waiting (its deadline, or cancelled) leaves the lookup going for the next calls; close()
        ends it (it is cancelled: its connection to a Sentinel is closed, and it keeps no master).

        Raises:
            RedisConnectionError: The lookup failed, close() ended it (or had been called), or it had not ended by
                ``deadline``.
        """
        if self._closed:
            raise RedisConnectionError(ring.lookup_closed(index))
        lookup = self._master_lookups.get(index)
        if lookup is None:
            lookup = self._master_lookups[index] = self._lookup_task(ring.endpoint_at(index))
            lookup.add_done_callback(lambda done: self._master_lookup_ended(index, done))
        started = time.monotonic()
        await asyncio.wait((lookup,), timeout=None if deadline is None else max(deadline - started, 0.0))
        if not lookup.done():
            raise RedisConnectionError(ring.lookup_timed_out(index, time.monotonic() - started))
        if lookup.cancelled() and self._closed:
            raise RedisConnectionError(ring.lookup_closed(index))
        return lookup.result()

    def _master_lookup_ended(self, index: int, lookup: asyncio.Future[Endpoint]) -> None:
        if self._master_lookups.get(index) is lookup:
            del self._master_lookups[index]

    def _lookup_task(self, lookup: Coroutine[Any, Any, _T]) -> asyncio.Future[_T]:
        """``lookup`` run as a task of the pool, which close() cancels (its outcome read even if nobody awaits it)."""
        task = asyncio.ensure_future(lookup)
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)
        task.add_done_callback(_read_outcome)
        return task

    async def connection(self, index: int, deadline: float | None = None) -> AioConnection:
        """The push connection of slot ``index``'s master (opened once, however many calls ask at once).

        Args:
            deadline: ``time.monotonic()`` past which the caller stops waiting for a master lookup (Sentinel).

        Raises:
            RedisConnectionError: It cannot be opened (or no master was found by ``deadline``).
        """
        connection = self._connections.get(index)
        if connection is not None and not connection.closed:
            return connection
        endpoint = await self._endpoint_at(index, deadline)
        try:
            connection = await self.connection_to(endpoint)
        except RedisConnectionError:
            self.ring.reset(index)
            raise
        self._connections[index] = connection
        return connection

    async def connection_to(self, endpoint: Endpoint) -> AioConnection:
        """The push connection of the node at ``endpoint`` (opened once, however many calls ask at once).

        Raises:
            RedisConnectionError: It cannot be opened.
        """
        address = _address(endpoint)
        connection = self._shared.get(address)
        if connection is not None and not connection.closed:
            return connection
        opening = self._opening.get(address)
        if opening is None:
            opening = self._opening[address] = asyncio.ensure_future(AioConnection.open(endpoint))
            opening.add_done_callback(lambda done: self._opened(address, done))
        connection = await asyncio.shield(opening)
        if connection.closed:
            raise RedisConnectionError(f"The connection to {endpoint} was closed as it opened (the pool was closed)")
        return connection

    def _opened(self, address: _Address, opening: asyncio.Future[AioConnection]) -> None:
        """An opening ended: forget it, and keep what it opened (every caller may have given up on it).

        The connection is the pool's from now on, so that it is closed with the pool, even if nobody waited for it
        (its error is read here too); if the pool was closed meanwhile, it is closed at once.
        """
        self._opening.pop(address, None)
        if opening.cancelled() or opening.exception() is not None:
            return
        connection = opening.result()
        current = self._shared.get(address)
        if self._closed:
            connection.close()
        elif current is None or current.closed:
            self._shared[address] = connection
        elif current is not connection:
            connection.close()

    def redirect_of(self, index: int, reply: Any, connection: AioConnection | None) -> Redirect | None:
        """The ``MOVED``/``ASK`` answer ``reply`` is, once the ring learned from it; None for any other reply.

        Only a ring that follows redirections (Redis Cluster) gets one. After ``MOVED`` slot ``index`` is looked
        up again; after ``ASK`` the one command goes to :meth:`connection_to` the named node, after ``ASKING``.
        """
        if not isinstance(reply, RespError) or not self.ring.follows_redirects:
            return None
        host = connection.endpoint.host if connection is not None else None
        redirect = parse_redirect(reply.text, host or "")
        if redirect is not None:
            self.ring.note_redirect(redirect)
            if not redirect.ask:
                self._connections.pop(index, None)
        elif cluster_down(reply.text):
            self.ring.reset(index)
        return redirect

    async def execute_at(self, index: int, command: tuple[Any, ...], timeout: float | None) -> Any:
        """Run one command on slot ``index``'s master, following ``MOVED``/``ASK`` (Redis Cluster); its reply.

        For commands outside the transport's hot path (the fleet's, such as publishing an event); an error reply
        other than a redirection is returned, not raised. A master lookup (Sentinel) is waited for ``timeout`` at
        most, as the command's reply is (``None``: until it ends).

        Raises:
            RedisConnectionError: No connection could be had, it failed, or the redirections did not end.
        """
        asking: Redirect | None = None
        deadline = None if timeout is None else time.monotonic() + timeout
        for _attempt in range(MAXIMUM_REDIRECTS + 1):
            connection = None
            try:
                if asking is None:
                    connection = await self.connection(index, deadline)
                    [reply] = await connection.execute([command], timeout)
                else:
                    connection = await self.connection_to(self.ring.endpoint_for(asking.address))
                    [_asked, reply] = await connection.execute([("ASKING",), command], timeout)
            except RedisConnectionError:
                self.failed(index, connection)
                raise
            redirect = self.redirect_of(index, reply, connection)
            if redirect is None:
                return reply
            asking = redirect if redirect.ask else None
        raise RedisConnectionError(f"Redirected more than {MAXIMUM_REDIRECTS} times running {command[0]}")

    def failed(self, index: int, connection: AioConnection | None) -> None:
        """Forget a slot's connection after an error (Sentinel then asks for the master again, Cluster its map)."""
        if connection is not None:
            connection.close()
            if self._connections.get(index) is connection:
                del self._connections[index]
        self.ring.reset(index)

    async def reader_connection(self, index: int, endpoint: Endpoint | None = None) -> AioConnection:
        """A connection to slot ``index``'s master (or to ``endpoint``) for a reader to block on: an idle one,
        else a new one.

        Raises:
            RedisConnectionError: It cannot be opened.
        """
        if endpoint is None:
            endpoint = await self._endpoint_at(index)
        idle = self._idle.get(_address(endpoint))
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        try:
            return await AioConnection.open(endpoint)
        except RedisConnectionError:
            self.ring.reset(index)
            raise

    def release_reader(self, index: int, connection: AioConnection) -> None:
        """Give back a reader's connection once its last command was answered (it is kept idle, or closed)."""
        if connection.closed:
            return
        idle = self._idle.setdefault(_address(connection.endpoint), [])
        if len(idle) < _MAXIMUM_IDLE_READERS:
            idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close every connection of the pool (one still opening is closed once open), and end the Sentinel lookups
        under way (their callers get a ``RedisConnectionError`` saying so)."""
        self._closed = True
        for lookup in self._lookups:
            lookup.cancel()
        for connection in [*self._shared.values(), *(c for idle in self._idle.values() for c in idle)]:
            connection.close()
        self._connections.clear()
        self._shared.clear()
        self._idle.clear()


def _read_outcome(task: asyncio.Future[Any]) -> None:
    """Read the error of a lookup nobody awaits any more (asyncio would log it as never retrieved)."""
    if not task.cancelled():
        task.exception()


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
