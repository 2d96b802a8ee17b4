"""Publishing events from asyncio code: the twin of :class:`~pysoa_like.events.publisher.RedisEventPublisher`.

``AsyncClient.publish_event`` appends the event with one ``XADD`` on the loop's connections of the asyncio Redis
driver (the pool shared with the ``AsyncClient`` transports of the same Redis settings), instead of a blocking
call in a worker thread. The checks, the envelope and the trimming id are the blocking publisher's
(:meth:`~pysoa_like.events.publisher.RedisEventPublisher.prepare`); under Redis Cluster ``MOVED`` and ``ASK`` are
followed as for any command of the driver.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from pysoa_like.events.publisher import RedisEventPublisher
from pysoa_like.events.types import EventType
from pysoa_like.fleet._aio import AioFleet

__all__ = ["AsyncRedisEventPublisher"]


class AsyncRedisEventPublisher:
    """Appends events to their streams from the running event loop (see the module docstring).

    Args:
        publisher: The blocking publisher whose fleet, serializer and retention it shares.

    Raises:
        ValueError: The fleet's connection settings cannot be honoured by the asyncio driver.
    """

    def __init__(self, publisher: RedisEventPublisher) -> None:
        self.publisher = publisher
        self.redis = AioFleet(publisher.fleet)

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
        fields = itertools.chain.from_iterable(entry.fields.items())
        command = ("XADD", entry.key, "MINID", "~", entry.min_id, "*", *fields)
        reply = await self.redis.execute(entry.key, command, f"publishing event {entry.name}")
        return reply.decode("ascii") if isinstance(reply, bytes) else str(reply)

    async def aclose(self) -> None:
        """Leave the running loop's pool (its connections close with its last user)."""
        await self.redis.aclose()
