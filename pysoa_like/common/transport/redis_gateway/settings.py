"""The Redis Gateway transports' kwargs schemas, at PySOA's module path."""

from __future__ import annotations

from pysoa_like.common.transport.redis_gateway._settings_schema import (
    RedisServerTransportSchema,
    RedisTransportSchema,
)

__all__ = ["RedisServerTransportSchema", "RedisTransportSchema"]
