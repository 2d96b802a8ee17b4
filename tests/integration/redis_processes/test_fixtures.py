"""Tests of the integration conftest fixtures (session server, per-test flush)."""

from __future__ import annotations

import redis

from pysoa_like.test.redis import RedisServerProcess


def test_redis_client_starts_on_an_empty_database_first(redis_client: redis.Redis) -> None:
    """The redis_client fixture hands out a flushed database (first of two tests that leave a key)."""
    assert redis_client.dbsize() == 0
    redis_client.set("left-behind", b"1")


def test_redis_client_starts_on_an_empty_database_second(redis_client: redis.Redis) -> None:
    """The redis_client fixture hands out a flushed database (second of two tests that leave a key)."""
    assert redis_client.dbsize() == 0
    redis_client.set("left-behind", b"2")


def test_redis_url_points_at_the_session_server(redis_url: str, redis_server: RedisServerProcess) -> None:
    """redis_url is the session server's URL and its database is empty."""
    assert redis_url == redis_server.url
    with redis.Redis.from_url(redis_url, socket_timeout=2) as client:
        assert client.dbsize() == 0
        assert client.info("server")["process_id"] == redis_server.pid
