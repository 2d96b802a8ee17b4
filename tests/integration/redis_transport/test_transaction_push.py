"""Big messages are pushed by RPUSH in MULTI/EXEC, checked after the push: the outcome is the send script's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.redis_gateway import _driver_io
from pysoa_like.common.transport.redis_gateway._driver_io import Lane, PushItem, QueueFullError
from pysoa_like.common.transport.redis_gateway._protocol.framing import FramedMessage
from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient

BIG = _driver_io._TRANSACTION_PUSH_BYTES


def _message(tag: int, size: int) -> bytes:
    return b"%08d" % tag + b"m" * (size - 8)


def _calls(raw_redis: redis.Redis, command: str) -> int:
    stats: Any = raw_redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.fixture
def lane(redis_url: str, raw_redis: redis.Redis) -> Iterator[Lane]:
    raw_redis.config_resetstat()
    backend = StandardRedisClient(hosts=[redis_url])
    yield backend.lane_at(0)
    backend.close()


def test_a_big_message_goes_in_a_transaction_and_a_small_one_through_the_script(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    big, small = _message(1, BIG), _message(2, BIG - 1)
    lane.push("q", [big], 30, 100)
    assert (_calls(raw_redis, "multi"), _calls(raw_redis, "rpush"), _calls(raw_redis, "exec")) == (1, 1, 1)
    assert _calls(raw_redis, "evalsha") == 0
    assert _calls(raw_redis, "eval") == 1  # the check script, sent as text
    lane.push("q", [small], 30, 100)
    assert (_calls(raw_redis, "multi"), _calls(raw_redis, "exec")) == (1, 1)
    assert raw_redis.lrange("q", 0, -1) == [big, small]
    assert 25 <= raw_redis.ttl("q") <= 30


def test_chunks_that_are_big_together_go_in_one_transaction(lane: Lane, raw_redis: redis.Redis) -> None:
    chunks = [_message(n, BIG // 4 + 1) for n in range(4)]
    lane.push("q", chunks, 30, 100)
    assert _calls(raw_redis, "multi") == 1
    assert raw_redis.lrange("q", 0, -1) == chunks


def test_a_framed_message_is_pushed_byte_for_byte(lane: Lane, raw_redis: redis.Redis) -> None:
    framed = FramedMessage(b"pysoa-redis/3//", b"p" * BIG)
    lane.push("q", [framed], 30, 100)
    assert _calls(raw_redis, "multi") == 1
    assert raw_redis.lrange("q", 0, -1) == [bytes(framed)]


# (messages already in the list, messages pushed, capacity): the send script refuses when old + pushed > capacity.
_CASES = [(0, 1, 1), (0, 1, 0), (2, 1, 3), (3, 1, 3), (1, 3, 4), (2, 3, 4), (5, 1, 3), (0, 2, 1)]


def _outcome(lane: Lane, raw_redis: redis.Redis, old: int, pushed: int, capacity: int, size: int) -> Any:
    raw_redis.delete("q")
    before = [b"old-%d" % n for n in range(old)]
    if before:
        raw_redis.rpush("q", *before)
        raw_redis.expire("q", 1000)
    messages = [_message(n, size) for n in range(pushed)]
    error = lane.push_many([("q", messages, 30)], capacity)[0]
    contents = raw_redis.lrange("q", 0, -1)
    expected = before if error is not None else before + messages
    assert contents == expected
    return (type(error).__name__, raw_redis.ttl("q") > 100, raw_redis.exists("q"))


@pytest.mark.parametrize(("old", "pushed", "capacity"), _CASES)
def test_the_transaction_answers_exactly_as_the_send_script(
    lane: Lane, raw_redis: redis.Redis, old: int, pushed: int, capacity: int
) -> None:
    """Same error (or none), same list, same TTL (refreshed only by an accepted push) on both paths."""
    by_script = _outcome(lane, raw_redis, old, pushed, capacity, 64)
    by_transaction = _outcome(lane, raw_redis, old, pushed, capacity, BIG)
    assert by_transaction == by_script
    assert by_script[0] == ("QueueFullError" if old + pushed > capacity else "NoneType")


def test_a_refused_big_push_is_never_seen_by_a_waiting_reader(
    lane: Lane, raw_redis: redis.Redis, redis_url: str
) -> None:
    """The messages go in and out within one transaction: a reader blocked on the empty list gets nothing."""
    popped: list[Any] = []
    reader = redis.Redis.from_url(redis_url)
    thread = threading.Thread(target=lambda: popped.append(reader.blpop(["q"], timeout=1)))
    thread.start()
    try:
        for _ in range(200):  # until the reader is blocked on the list
            if any(client.get("cmd") == "blpop" for client in raw_redis.client_list()):
                break
            threading.Event().wait(0.01)
        with pytest.raises(QueueFullError):
            lane.push("q", [_message(1, BIG)], 30, 0)
    finally:
        thread.join(5)
        reader.close()
    assert popped == [None]
    assert not raw_redis.exists("q")


def test_a_deferred_big_push_needs_no_script_and_settles_with_the_transaction(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    big: PushItem = ("q", [_message(1, BIG)], 30)
    assert lane.can_defer(big)  # its check script goes as text: nothing to have loaded first
    lane.push_deferred(big, 100)
    raw_redis.rpush("full", b"1")
    full: PushItem = ("full", [_message(2, BIG)], 30)
    lane.push_deferred(full, 1)
    outcomes = lane.settle()
    assert outcomes[0] == (big, None)
    assert outcomes[1][0] == full and isinstance(outcomes[1][1], QueueFullError)
    assert raw_redis.lrange("q", 0, -1) == [big[1][0]]
    assert raw_redis.lrange("full", 0, -1) == [b"1"]


def test_a_big_push_to_a_key_of_another_type_is_an_error_and_changes_nothing(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    raw_redis.set("q", b"a string")
    error = lane.push_many([("q", [_message(1, BIG)], 30), ("ok", [b"small"], 30)], 100)
    assert isinstance(error[0], redis.ResponseError) and "WRONGTYPE" in str(error[0])
    assert error[1] is None
    assert raw_redis.get("q") == b"a string"
    assert raw_redis.lrange("ok", 0, -1) == [b"small"]


def test_a_transaction_refused_when_queued_reports_why(lane: Lane, raw_redis: redis.Redis) -> None:
    """Out of memory: RPUSH is refused when queued, EXEC discards the transaction; the OOM error is the outcome."""
    raw_redis.config_set("maxmemory-policy", "noeviction")
    raw_redis.config_set("maxmemory", "1")
    try:
        error = lane.push_many([("q", [_message(1, BIG)], 30)], 100)[0]
    finally:
        raw_redis.config_set("maxmemory", "0")
    assert isinstance(error, redis.exceptions.OutOfMemoryError)
    assert not raw_redis.exists("q")
    # The connection is still in step: the next push and its reply line up.
    assert lane.push_many([("q", [_message(2, BIG)], 30)], 100) == [None]
    assert raw_redis.llen("q") == 1
