"""Reading the service registry from asyncio code: ``AsyncClient.list_services`` on the event loop.

The twin of :meth:`RegistryStore.list_services <pysoa_like.registry.store.RegistryStore.list_services>` over
:class:`~pysoa_like.fleet._aio.AioFleet`: the same catalog command, script and reply parsing (shared with the
store), the commands of all services gathered so that each master gets them in one write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from pysoa_like.core.keys import queue_key, request_queue_name
from pysoa_like.fleet._aio import AioFleet
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.registry.records import InstanceInfo, ServiceInfo
from pysoa_like.registry.store import (
    READ_SCRIPT,
    catalog_command,
    instance_keys,
    instances_of,
    queue_depths_of,
    wrong_type,
)

__all__ = ["list_services_async"]


async def list_services_async(
    redis: AioFleet, names: Iterable[str] | None = None, queue_depths: bool = True
) -> list[ServiceInfo]:
    """The services with at least one live instance (or those named, live or not), by name.

    Raises:
        FleetConnectionError: Redis failed.
    """
    if names is not None:
        wanted = sorted(set(names))
    else:
        command = catalog_command(time.time())
        catalog = await redis.execute(command[1], command, "reading the service catalog")
        wanted = sorted(name.decode() if isinstance(name, bytes) else str(name) for name in catalog)
    all_instances = await asyncio.gather(*(_instances(redis, name) for name in wanted))
    found = list(zip(wanted, all_instances, strict=True))
    if names is None:
        found = [(name, instances) for name, instances in found if instances]
    depths = await _queue_depths(redis, [name for name, _ in found]) if queue_depths else {}
    return [ServiceInfo(name, tuple(instances), depths.get(name)) for name, instances in found]


async def _instances(redis: AioFleet, service: str) -> list[InstanceInfo]:
    """The live instances of one service (none when its keys hold another kind of value, as the blocking reader)."""
    keys = instance_keys(service)
    try:
        reply = await redis.execute(keys[0], ("EVAL", READ_SCRIPT, 2, *keys), f"reading the registry of {service}")
    except FleetConnectionError as exc:
        if wrong_type(exc):
            return []
        raise
    return instances_of(service, reply)


async def _queue_depths(redis: AioFleet, services: list[str]) -> dict[str, int | None]:
    """Requests waiting in each service's request queue, summed over every master that may hold it (``None`` when
    one of them could not be read, as the blocking reader: see :func:`~pysoa_like.registry.store.queue_depths_of`)."""
    asked = [
        (service, index)
        for service in services
        for index in redis.fleet.queue_indexes(queue_key(request_queue_name(service)))
    ]
    failures: dict[int, BaseException] = {}

    async def length(service: str, index: int) -> int | None:
        try:
            value = await redis.execute_at(
                index, ("LLEN", queue_key(request_queue_name(service))), "reading request queue depths"
            )
        except FleetConnectionError as exc:
            failures.setdefault(index, exc)
            return None
        return int(value)

    lengths = await asyncio.gather(*(length(service, index) for service, index in asked))
    readings = [(service, value) for (service, _index), value in zip(asked, lengths, strict=True)]
    return queue_depths_of(redis.fleet, services, readings, failures)
