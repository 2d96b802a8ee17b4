"""The live service registry: which services and workers are alive, their versions and their load.

Every worker of a server with a Redis transport registers itself (see ``docs/service_registry.rst``)
and refreshes its entry while it lives; a dead worker drops out within ``registry.ttl_seconds``.
Read it with :meth:`pysoa_like.client.client.Client.list_services`, or without a client::

    from pysoa_like.registry import list_services

    for service in list_services({"backend_type": "redis.standard",
                                  "backend_layer_kwargs": {"hosts": ["redis://localhost:6379/0"]}}):
        print(service.name, service.versions, len(service.instances), service.queue_depth, service.in_flight)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.records import InstanceInfo, ServiceInfo
from pysoa_like.registry.store import RegistryStore
from pysoa_like.registry.versions import ServiceVersion, meets_minimum

__all__ = [
    "InstanceInfo",
    "RegistryStore",
    "ServiceInfo",
    "ServiceVersion",
    "get_service",
    "list_services",
    "meets_minimum",
]


def _store(fleet: FleetRedis | Mapping[str, Any]) -> tuple[RegistryStore, bool]:
    if isinstance(fleet, FleetRedis):
        return RegistryStore(fleet), False
    return RegistryStore(FleetRedis.from_settings(fleet)), True


def list_services(
    fleet: FleetRedis | Mapping[str, Any], services: Iterable[str] | None = None, queue_depths: bool = True
) -> list[ServiceInfo]:
    """The services with live instances (or the ones named), from the registry on ``fleet``.

    Args:
        fleet: A :class:`~pysoa_like.fleet.redis.FleetRedis`, or its settings
            (``{"backend_type": ..., "backend_layer_kwargs": ...}``, as the transports take them).
        services: Only these services, each listed even with no live instance; ``None`` for every
            service with at least one live instance.
        queue_depths: Also read each service's request queue depth.

    Returns:
        The services, sorted by name.

    Raises:
        FleetConnectionError: Redis failed.
        ValueError: Invalid fleet settings.
    """
    store, owned = _store(fleet)
    try:
        return store.list_services(services, queue_depths)
    finally:
        if owned:
            store.fleet.close()


def get_service(fleet: FleetRedis | Mapping[str, Any], name: str, queue_depth: bool = True) -> ServiceInfo:
    """One service from the registry (with no instances when none is alive); see :func:`list_services`."""
    (service,) = list_services(fleet, [name], queue_depth)
    return service
