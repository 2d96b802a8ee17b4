"""The Redis backends: which master serves each key (a ring of masters, Sentinel services, or a Redis Cluster)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_CLUSTER, REDIS_BACKEND_TYPE_SENTINEL, REDIS_BACKEND_TYPES

__all__ = ["make_backend"]


def make_backend(backend_type: str, backend_layer_kwargs: Mapping[str, Any] | None = None) -> BaseRedisClient:
    """The backend named by the ``backend_type`` setting, built from ``backend_layer_kwargs``.

    Args:
        backend_type: ``"redis.standard"``, ``"redis.sentinel"`` or ``"redis.cluster"``.
        backend_layer_kwargs: The backend's keyword arguments (``hosts``, ``connection_kwargs``, ...).

    Raises:
        ValueError: An unknown backend type, or invalid backend arguments.
    """
    kwargs = dict(backend_layer_kwargs or {})
    backend_class: type[BaseRedisClient]
    if backend_type == REDIS_BACKEND_TYPE_SENTINEL:
        from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient

        backend_class = SentinelRedisClient
    elif backend_type == REDIS_BACKEND_TYPE_CLUSTER:
        from pysoa_like.common.transport.redis_gateway.backend.cluster import ClusterRedisClient

        backend_class = ClusterRedisClient
    elif backend_type in REDIS_BACKEND_TYPES:
        from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient

        backend_class = StandardRedisClient
    else:
        raise ValueError(f"Unknown backend_type {backend_type!r}: use one of {', '.join(REDIS_BACKEND_TYPES)}")
    accepted = inspect.signature(backend_class).parameters
    foreign = sorted(name for name in kwargs if name not in accepted)
    if foreign:
        raise ValueError(
            f"backend_layer_kwargs {', '.join(foreign)} do not apply to backend_type {backend_type!r} "
            f"(it takes {', '.join(accepted)})"
        )
    return backend_class(**kwargs)
