"""Fixtures that give integration tests a real, throwaway Redis.

One ``redis-server`` serves the whole session; ``redis_url`` and ``redis_client`` flush it before
each test. When Redis cannot start, the fixtures raise (the tests error out): they never skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from pysoa_like.test.redis import RedisServerProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServerProcess]:
    """One throwaway Redis for the whole session, stopped (and its directory removed) at the end."""
    with RedisServerProcess() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServerProcess) -> str:
    """The session Redis's URL, with every key flushed before the test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def redis_client(redis_server: RedisServerProcess) -> Iterator[redis.Redis]:
    """A redis-py client of the session Redis, with every key flushed before the test."""
    redis_server.flush()
    with redis_server.client() as client:
        yield client
