"""Small helpers of the Redis Gateway transport that users and tools may call directly (PySOA's module path)."""

from __future__ import annotations

from pysoa_like.core.keys import request_queue_name

__all__ = ["make_redis_queue_name"]

#: PySOA's name for :func:`pysoa_like.core.keys.request_queue_name` (kept for compatibility):
#: ``make_redis_queue_name("echo") == "service.echo"``.
make_redis_queue_name = request_queue_name
