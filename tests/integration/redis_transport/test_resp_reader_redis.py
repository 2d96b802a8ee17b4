"""The lanes' own reply reader against a real Redis: sizes around its buffer, RESP3, errors and timeouts."""

from __future__ import annotations

import pytest
import redis

from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient
from pysoa_like.core.redis_protocol import push_plan

_SIZES = [0, 1, 100, 65_000, 65_531, 65_532, 65_533, 65_534, 65_535, 65_536, 65_537, 131_072, 3 * 1024 * 1024]


@pytest.mark.parametrize("protocol", [2, 3])
def test_messages_of_every_size_come_back_whole(redis_url: str, raw_redis: redis.Redis, protocol: int) -> None:
    """Pushed with the lane, popped with BLPOP and drained with LPOP: the bytes are those pushed, in order."""
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"protocol": protocol})
    try:
        lane = backend.lane_at(0)
        messages = [bytes([size % 251]) * size for size in _SIZES]
        for message in messages:
            lane.push("q", [message], 30, 1000)
        popped = lane.blocking_pop("q", 1.0, drain=len(messages))
        assert [bytes(value) for value in popped] == messages
        assert all(type(value) is (bytearray if len(value) > 65_534 else bytes) for value in popped)
        # One at a time too, each reply alone on the wire.
        for message in messages:
            raw_redis.rpush("q", message)
            assert lane.blocking_pop("q", 1.0) == [message]
        # A timeout (nil in RESP2, null in RESP3), then the connection is still in step.
        assert lane.blocking_pop("q", 0.05, drain=5) == []
        lane.push("q", [b"after"], 30, 1000)
        assert lane.blocking_pop("q", 1.0) == [b"after"]
    finally:
        backend.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_error_replies_keep_the_lane_in_step(redis_url: str, raw_redis: redis.Redis, protocol: int) -> None:
    """NOSCRIPT is answered by resending the script; a wrong-type key raises and the next command works."""
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"protocol": protocol})
    try:
        lane = backend.lane_at(0)
        lane.push("q", [b"one"], 30, 10)
        raw_redis.script_flush()
        lane.push("q", [b"two"], 30, 10)
        raw_redis.set("text", "not a list")
        errors = lane.push_many([("text", [b"x"], 30), ("q", [b"three"], 30)], 10)
        assert isinstance(errors[0], redis.ResponseError) and "WRONGTYPE" in str(errors[0])
        assert errors[1] is None
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            lane.blocking_pop("text", 0.1)
        assert lane.blocking_pop("q", 1.0, drain=5) == [b"one", b"two", b"three"]
    finally:
        backend.close()


def test_deferred_pushes_cut_off_by_a_closed_connection_are_reported_not_mixed_up(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """Closing a lane with a push still unacknowledged reports it (outcome unknown); the next pop is clean."""
    backend = StandardRedisClient(hosts=[redis_url])
    try:
        lane = backend.lane_at(0)
        item = ("q", [b"first"], 30)
        lane.push("q", [b"zero"], 30, 100)  # loads the script, so the next push may be deferred
        assert lane.push_deferred(push_plan(item, 100))
        lane.close()
        assert not lane.has_deferred
        [(settled_item, error)] = lane.settled
        assert settled_item == item and isinstance(error, redis.ConnectionError)
        raw_redis.rpush("q", b"second")
        # The BLPOP's reply is read as the BLPOP's (not as the lost push's acknowledgement).
        assert lane.blocking_pop("q", 1.0, drain=5) == [b"zero", b"first", b"second"]
    finally:
        backend.close()
