"""Publishing events from asyncio code: the twin of :class:`~pysoa_like.events.publisher.RedisEventPublisher`.

``AsyncClient.publish_event`` appends the event with one ``XADD`` on the loop's connections of the asyncio Redis
driver (the pool shared with the ``AsyncClient`` transports of the same Redis settings), instead of a blocking
call in a worker thread. The checks, the envelope and the trimming id are the blocking publisher's
(:meth:`~pysoa_like.events.publisher.RedisEventPublisher.prepare`); under Redis Cluster ``MOVED`` and ``ASK`` are
followed as for any command of the driver.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.transport.redis_gateway._aio_connection import RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_pool import AioPool, pool_for, release_pool
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing, aio_ring_of
from pysoa_like.common.transport.redis_gateway.core import backend_key
from pysoa_like.core.resp import RespError
from pysoa_like.events.publisher import RedisEventPublisher
from pysoa_like.events.types import EventType
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.keys import ring_index

__all__ = ["AsyncRedisEventPublisher"]

# The longest Redis may take to answer an XADD (connecting included).
_PUBLISH_TIMEOUT_SECONDS = 10.0


class AsyncRedisEventPublisher:
    """Appends events to their streams from the running event loop (see the module docstring).

    Args:
        publisher: The blocking publisher whose fleet, serializer and retention it shares.

    Raises:
        ValueError: The fleet's connection settings cannot be honoured by the asyncio driver.
    """

    def __init__(self, publisher: RedisEventPublisher) -> None:
        self.publisher = publisher
        fleet = publisher.fleet
        self._ring: AioRing = aio_ring_of(fleet.backend_type, fleet.backend_layer_kwargs)
        self._key = backend_key(fleet.backend_type, fleet.backend_layer_kwargs)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AioPool] = weakref.WeakKeyDictionary()

    async def publish(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        publisher: str | None,
        retention_seconds: float | None = None,
    ) -> str:
        """Append one event to its stream (as ``RedisEventPublisher.publish``).

        Raises:
            InvalidEventError: A bad name or body.
            FleetConnectionError: Redis failed.
        """
        entry = self.publisher.prepare(name, body, context, publisher, retention_seconds)
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = pool_for(self._key, self._ring, self)
        fields = itertools.chain.from_iterable(entry.fields.items())
        command = ("XADD", entry.key, "MINID", "~", entry.min_id, "*", *fields)
        try:
            index = ring_index(entry.key, await pool.ring.size())
            reply = await pool.execute_at(index, command, _PUBLISH_TIMEOUT_SECONDS)
        except RedisConnectionError as exc:
            raise FleetConnectionError(f"Redis failed while publishing event {entry.name}: {exc}") from exc
        if isinstance(reply, RespError):
            raise FleetConnectionError(f"Redis failed while publishing event {entry.name}: {reply}")
        return reply.decode("ascii") if isinstance(reply, bytes) else str(reply)

    async def aclose(self) -> None:
        """Leave the running loop's pool (its connections close with its last user)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await release_pool(self._key, pool, self)
