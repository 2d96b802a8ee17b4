"""An AsyncClient's ``minimum_version`` check, read on the event loop.

The live versions of a Redis service come from the registry through :class:`~pysoa_like.fleet._aio.AioFleet` (the
asyncio Redis driver, on the client's own connections when the registry's Redis is the service's); those of a
local service from its in-process server. Calls that find the gate's answer stale at once share one read per
event loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

from pysoa_like.client._fleet import versions_source
from pysoa_like.fleet._aio import AioFleet
from pysoa_like.fleet.redis import FleetRedis

__all__ = ["AsyncVersionsReader"]


def _retrieved(task: asyncio.Task[list[str]]) -> None:
    """Mark a shared read's failure as seen (its callers may all have been cancelled)."""
    if not task.cancelled():
        task.exception()


class AsyncVersionsReader:
    """Reads the versions of a service's live instances from the running event loop.

    Args:
        service_name: The service.
        transport: Its asyncio transport (the local one carries its server).
        transport_settings: Its ``transport`` settings (a Redis transport's name the registry's Redis).

    Raises:
        FleetNotConfiguredError: Neither the Redis nor the local transport.
    """

    def __init__(self, service_name: str, transport: Any, transport_settings: Mapping[str, Any]) -> None:
        self.service_name = service_name
        self._server, implied = versions_source(service_name, transport, transport_settings)
        self._fleet = None if implied is None else AioFleet(FleetRedis.from_settings(implied))
        self._reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[list[str]]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self) -> list[str]:
        """The live versions (a read already under way on this loop is shared).

        Raises:
            FleetConnectionError: Redis failed.
        """
        if self._server is not None:
            return [self._server.get_service_version()]
        loop = asyncio.get_running_loop()
        read = self._reads.get(loop)
        if read is None or read.done():
            read = self._reads[loop] = loop.create_task(self._read())
            read.add_done_callback(_retrieved)
        # Shielded: one caller cancelled does not cancel the read the others wait for.
        return await asyncio.shield(read)

    async def _read(self) -> list[str]:
        from pysoa_like.registry._aio_reader import list_services_async

        assert self._fleet is not None
        services = await list_services_async(self._fleet, [self.service_name], queue_depths=False)
        return [instance.version for service in services for instance in service.instances]

    async def aclose(self) -> None:
        """Leave the running loop's Redis connections (closed with their last user)."""
        if self._fleet is not None:
            await self._fleet.aclose()
