"""The fleet's Redis from asyncio code: one command at a time on the asyncio Redis driver's connections.

:class:`AioFleet` is what ``AsyncClient`` publishes events and reads the registry with, on the running loop: the
pool of the asyncio driver for the fleet's Redis settings (the same pool as the client's transports when they
name the same Redis, so no connection of its own), the key's master chosen as :class:`~pysoa_like.fleet.redis.
FleetRedis` chooses it (:func:`~pysoa_like.fleet.keys.ring_index`), ``MOVED``/``ASK`` followed under Redis
Cluster, and Redis failures raised as :class:`~pysoa_like.fleet.errors.FleetConnectionError`. Commands sent in
one turn of the loop to one master go out in one write, so gathered reads cost one round trip per master.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

from pysoa_like.common.transport.redis_gateway._aio_connection import RedisConnectionError
from pysoa_like.common.transport.redis_gateway._aio_pool import AioPool, pool_for, release_pool
from pysoa_like.common.transport.redis_gateway._aio_ring import AioRing, aio_ring_of
from pysoa_like.common.transport.redis_gateway.core import backend_key
from pysoa_like.core.redis_protocol import RespError
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.keys import ring_index
from pysoa_like.fleet.redis import FleetRedis

__all__ = ["AioFleet"]

# The longest Redis may take to answer one command (connecting included).
_COMMAND_TIMEOUT_SECONDS = 10.0


class AioFleet:
    """The fleet's Redis on the running event loop (see the module docstring).

    Args:
        fleet: The fleet's Redis settings (its blocking object, which it shares nothing else with).

    Raises:
        ValueError: The connection settings cannot be honoured by the asyncio driver.
    """

    def __init__(self, fleet: FleetRedis) -> None:
        self.fleet = fleet
        self._ring: AioRing = aio_ring_of(fleet.backend_type, fleet.backend_layer_kwargs)
        self._key = backend_key(fleet.backend_type, fleet.backend_layer_kwargs)
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AioPool] = weakref.WeakKeyDictionary()

    def _pool(self) -> AioPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = pool_for(self._key, self._ring, self)
        return pool

    async def execute(self, key: str, command: tuple[Any, ...], what: str) -> Any:
        """Run ``command`` on the master holding ``key`` (every key of the command shares its slot); its reply.

        Raises:
            FleetConnectionError: Redis failed, or refused the command.
        """
        try:
            # (A discovery of the Sentinel services is waited for as long as a command's reply would be.)
            size = await self._pool().ring_size(time.monotonic() + _COMMAND_TIMEOUT_SECONDS)
        except RedisConnectionError as exc:
            raise FleetConnectionError(f"Redis failed while {what}: {exc}") from exc
        return await self.execute_at(ring_index(key, size), command, what)

    async def execute_at(self, index: int, command: tuple[Any, ...], what: str) -> Any:
        """Run ``command`` on the master of ring slot ``index`` (as :meth:`execute`)."""
        try:
            return _checked(await self._pool().execute_at(index, command, _COMMAND_TIMEOUT_SECONDS), what)
        except RedisConnectionError as exc:
            raise FleetConnectionError(f"Redis failed while {what}: {exc}") from exc

    async def aclose(self) -> None:
        """Leave the running loop's pool (its connections close with its last user)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await release_pool(self._key, pool, self)


def _checked(reply: Any, what: str) -> Any:
    if isinstance(reply, RespError):
        raise FleetConnectionError(f"Redis failed while {what}: {reply}") from reply
    return reply
