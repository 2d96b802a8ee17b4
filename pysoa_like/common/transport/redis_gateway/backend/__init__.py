"""The Redis backends: which master serves each key (a ring of masters, Sentinel services, or a Redis Cluster)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_CLUSTER, REDIS_BACKEND_TYPE_SENTINEL, REDIS_BACKEND_TYPES

__all__ = ["backend_class_for", "checked_backend_kwargs", "make_backend", "master_name"]


def make_backend(backend_type: str, backend_layer_kwargs: Mapping[str, Any] | None = None) -> BaseRedisClient:
    """The backend named by the ``backend_type`` setting, built from ``backend_layer_kwargs``.

    Args:
        backend_type: ``"redis.standard"``, ``"redis.sentinel"`` or ``"redis.cluster"``.
        backend_layer_kwargs: The backend's keyword arguments (``hosts``, ``connection_kwargs``, ...).

    Raises:
        ValueError: An unknown backend type, or invalid backend arguments.
    """
    return backend_class_for(backend_type)(**checked_backend_kwargs(backend_type, backend_layer_kwargs))


def backend_class_for(backend_type: str) -> type[BaseRedisClient]:
    """The blocking backend class of ``backend_type``.

    Raises:
        ValueError: An unknown backend type.
    """
    if backend_type == REDIS_BACKEND_TYPE_SENTINEL:
        from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient

        return SentinelRedisClient
    if backend_type == REDIS_BACKEND_TYPE_CLUSTER:
        from pysoa_like.common.transport.redis_gateway.backend.cluster import ClusterRedisClient

        return ClusterRedisClient
    if backend_type in REDIS_BACKEND_TYPES:
        from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient

        return StandardRedisClient
    raise ValueError(f"Unknown backend_type {backend_type!r}: use one of {', '.join(REDIS_BACKEND_TYPES)}")


def checked_backend_kwargs(backend_type: str, backend_layer_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``backend_layer_kwargs`` as a dict, once each key is known to apply to ``backend_type`` (both drivers).

    Raises:
        ValueError: An unknown backend type, or a key that another backend type takes (named).
    """
    kwargs = dict(backend_layer_kwargs or {})
    accepted = inspect.signature(backend_class_for(backend_type)).parameters
    foreign = sorted(name for name in kwargs if name not in accepted)
    if foreign:
        raise ValueError(
            f"backend_layer_kwargs {', '.join(foreign)} do not apply to backend_type {backend_type!r} "
            f"(it takes {', '.join(accepted)})"
        )
    return kwargs


def master_name(backend: BaseRedisClient, index: int) -> str | None:
    """How log lines name the master of ring slot ``index``, for an outage said per master: ``None`` when there is
    one master (or under Redis Cluster, whose slots move between nodes), else its address (a ring of hosts) or its
    Sentinel service. Never asks Redis (nor the Sentinels)."""
    from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient
    from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient

    if backend.ring_size <= 1 or backend.follows_redirects:
        return None
    if isinstance(backend, StandardRedisClient):
        return str(backend.client_at(index).endpoint)  # a ring of hosts has its clients from the start
    if isinstance(backend, SentinelRedisClient):
        return f"the master of Sentinel service {backend.services[index]!r}"
    return f"ring slot {index}"
