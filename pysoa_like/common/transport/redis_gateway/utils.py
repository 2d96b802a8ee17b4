"""Small helpers of the Redis Gateway transport that users and tools may call directly."""

from __future__ import annotations

from pysoa_like.core.constants import SERVICE_QUEUE_NAME_PREFIX

__all__ = ["make_redis_queue_name"]


def make_redis_queue_name(service_name: str) -> str:
    """The name of a service's request queue, without the ``pysoa:`` key prefix.

    Args:
        service_name: The service name, used as given.

    Returns:
        ``"service." + service_name``.
    """
    return SERVICE_QUEUE_NAME_PREFIX + service_name
