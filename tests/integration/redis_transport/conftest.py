"""Fixtures of the Redis transport tests: transport factories over the session's throwaway Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.redis_gateway._lanes import Lane
from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import RecordingMetrics


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    """Every test starts with no cached backend and closes the ones it made."""
    RedisTransportCore.clear_backend_cache()
    yield
    RedisTransportCore.clear_backend_cache()


@pytest.fixture
def transport_kwargs(redis_url: str) -> dict[str, Any]:
    """Transport settings pointing at the (flushed) session Redis."""
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}


@pytest.fixture
def metrics() -> RecordingMetrics:
    """A fresh recording metrics recorder."""
    return RecordingMetrics()


@pytest.fixture
def make_client(transport_kwargs: dict[str, Any]) -> Callable[..., RedisClientTransport]:
    """Build client transports for service ``echo`` (keyword arguments override the defaults)."""

    def make(service: str = "echo", metrics: Any = None, **kwargs: Any) -> RedisClientTransport:
        return RedisClientTransport(service, metrics, **{**transport_kwargs, **kwargs})

    return make


@pytest.fixture
def make_server(transport_kwargs: dict[str, Any]) -> Callable[..., RedisServerTransport]:
    """Build server transports for service ``echo`` with a short receive timeout."""

    def make(service: str = "echo", metrics: Any = None, **kwargs: Any) -> RedisServerTransport:
        settings = {**transport_kwargs, "receive_timeout_in_seconds": 0.5, **kwargs}
        return RedisServerTransport(service, metrics, **settings)

    return make


@pytest.fixture
def raw_redis(redis_client: redis.Redis) -> redis.Redis:
    """A plain redis-py client of the session Redis (flushed), for pushing and inspecting raw bytes."""
    return redis_client


@pytest.fixture
def lane(redis_url: str, raw_redis: redis.Redis) -> Iterator[Lane]:
    """A lane to the (flushed) session Redis."""
    backend = StandardRedisClient(hosts=[redis_url])
    yield backend.lane_at(0)
    backend.close()
