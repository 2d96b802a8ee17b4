"""Big messages are pushed by RPUSH in MULTI/EXEC, checked after the push: the outcome is the send script's."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.errors import MessageSendError
from pysoa_like.common.transport.redis_gateway._lanes import Lane, PushItem, QueueFullError
from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.core.message import FramedMessage
from pysoa_like.core.redis_protocol import TRANSACTION_PUSH_BYTES, push_plan
from pysoa_like.core.scripts import SEND_CHECK_LUA_SCRIPT, SEND_MESSAGE_LUA_SCRIPT, SEND_MESSAGES_LUA_SCRIPT

BIG = TRANSACTION_PUSH_BYTES
# The scripts as Redis' script cache names them: a transaction push runs the check script (sent as text), a push by
# the send script runs the script for one message or the one for several.
_SCRIPT_SHAS = [
    hashlib.sha1(script.encode()).hexdigest()
    for script in (SEND_CHECK_LUA_SCRIPT, SEND_MESSAGE_LUA_SCRIPT, SEND_MESSAGES_LUA_SCRIPT)
]


def _message(tag: int, size: int) -> bytes:
    return b"%08d" % tag + b"m" * (size - 8)


def _scripts_run(raw_redis: redis.Redis) -> list[bool]:
    """Whether Redis ran the check script, the send script for one message and the one for several (since the
    script cache was last flushed)."""
    return [bool(known) for known in raw_redis.script_exists(*_SCRIPT_SHAS)]


def test_a_big_message_goes_in_a_transaction_and_a_small_one_through_the_script(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    """Redis runs the check script for a big message (in its transaction), the send script for a small one."""
    raw_redis.script_flush()
    big, small = _message(1, BIG), _message(2, BIG - 1)
    lane.push("q", [big], 30, 100)
    lane.push("q", [big], 30, 100)
    assert _scripts_run(raw_redis) == [True, False, False]
    lane.push("q", [small], 30, 100)
    assert _scripts_run(raw_redis) == [True, True, False]
    assert raw_redis.lrange("q", 0, -1) == [big, big, small]
    assert 25 <= raw_redis.ttl("q") <= 30
    raw_redis.script_flush()
    lane.close()  # a new connection may belong to another user or server: it finds out again
    lane.push("q", [big], 30, 100)
    assert _scripts_run(raw_redis) == [True, False, False]
    assert raw_redis.llen("q") == 4


def test_chunks_that_are_big_together_go_in_one_transaction(lane: Lane, raw_redis: redis.Redis) -> None:
    raw_redis.script_flush()
    chunks = [_message(n, BIG // 4 + 1) for n in range(4)]
    lane.push("q", chunks, 30, 100)
    assert _scripts_run(raw_redis) == [True, False, False]
    assert raw_redis.lrange("q", 0, -1) == chunks


def test_a_framed_message_is_pushed_byte_for_byte(lane: Lane, raw_redis: redis.Redis) -> None:
    raw_redis.script_flush()
    framed = FramedMessage(b"pysoa-redis/3//", b"p" * BIG)
    lane.push("q", [framed], 30, 100)
    assert _scripts_run(raw_redis) == [True, False, False]
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
    assert not lane.push_deferred(push_plan(big, 100))  # whether this connection may run transactions is not known yet
    assert not lane.has_deferred
    lane.push("warm-up", [_message(0, BIG)], 30, 100)
    assert lane.push_deferred(push_plan(big, 100))  # its check script goes as text: nothing else to have loaded first
    raw_redis.rpush("full", b"1")
    full: PushItem = ("full", [_message(2, BIG)], 30)
    assert lane.push_deferred(push_plan(full, 1))
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


@pytest.mark.parametrize("full", [False, True])
def test_a_transaction_refused_when_queued_answers_as_the_send_script(
    lane: Lane, raw_redis: redis.Redis, full: bool
) -> None:
    """Out of memory: RPUSH is refused when queued and EXEC discards the transaction. The push is made again
    with the send script, which checks the capacity first: a full list still answers queue full."""
    lane.push("warm-up", [_message(0, BIG)], 30, 100)
    raw_redis.delete("warm-up")
    raw_redis.rpush("q", b"old")
    raw_redis.config_set("maxmemory-policy", "noeviction")
    raw_redis.config_set("maxmemory", "1")
    try:
        by_transaction = lane.push_many([("q", [_message(1, BIG)], 30)], 1 if full else 100)[0]
        by_script = lane.push_many([("q", [_message(2, 64)], 30)], 1 if full else 100)[0]
    finally:
        raw_redis.config_set("maxmemory", "0")
    expected = QueueFullError if full else redis.exceptions.OutOfMemoryError
    assert type(by_transaction) is type(by_script) is expected
    assert raw_redis.lrange("q", 0, -1) == [b"old"]
    # The connection is still in step: the next push and its reply line up.
    assert lane.push_many([("q", [_message(3, BIG)], 30)], 100) == [None]
    assert raw_redis.llen("q") == 2


def test_a_batch_mixing_big_items_and_a_vanished_script_pushes_everything_in_order(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    small, big = _message(1, 64), _message(2, BIG)
    lane.push("q", [small], 30, 100)
    lane.push("q", [big], 30, 100)
    raw_redis.script_flush()
    items: list[PushItem] = [("q", [small], 30), ("q", [big], 30), ("q", [small, small], 30), ("q", [big], 30)]
    assert lane.push_many(items, 100) == [None] * 4
    # The items the script could not push are pushed again after the others (they are separate messages).
    assert sorted(raw_redis.lrange("q", 0, -1)) == sorted([small, big, small, big, small, small, big])
    assert raw_redis.lrange("q", 2, 3) == [big, big]  # the transactions ran the first time


_ACL_PASSWORD = "pw"


@pytest.fixture
def restricted_lane(redis_url: str, raw_redis: redis.Redis) -> Iterator[tuple[Lane, str]]:
    """A lane of an ACL user with what the send script needs but no MULTI/EXEC (``+@list +@scripting``)."""
    raw_redis.script_flush()
    user = "listonly"
    raw_redis.execute_command(
        "ACL", "SETUSER", user, "on", f">{_ACL_PASSWORD}", "~*", "+@list", "+@scripting", "+expire"
    )
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"username": user, "password": _ACL_PASSWORD})
    try:
        yield backend.lane_at(0), user
    finally:
        backend.close()
        raw_redis.execute_command("ACL", "DELUSER", user)


def test_a_user_who_may_not_run_transactions_pushes_big_items_with_the_script(
    restricted_lane: tuple[Lane, str], raw_redis: redis.Redis
) -> None:
    lane, _user = restricted_lane
    big = _message(1, BIG)
    assert lane.push_many([("q", [big], 30), ("full", [big], 30)], 1) == [None, None]
    with pytest.raises(QueueFullError):
        lane.push("q", [big], 30, 1)
    assert raw_redis.lrange("q", 0, -1) == [big]  # pushed once, never twice
    assert 25 <= raw_redis.ttl("q") <= 30
    assert _scripts_run(raw_redis) == [False, True, False]  # no transaction ever ran: refused by the ACL


def test_a_user_who_may_not_trim_pushes_big_items_with_the_script(redis_url: str, raw_redis: redis.Redis) -> None:
    """Without LTRIM a refused push could not be taken back: the probe finds that out first."""
    user = "notrim"
    raw_redis.execute_command(
        "ACL",
        "SETUSER",
        user,
        "on",
        f">{_ACL_PASSWORD}",
        "~*",
        "+@list",
        "+@scripting",
        "+@transaction",
        "+expire",
        "-ltrim",
    )
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"username": user, "password": _ACL_PASSWORD})
    raw_redis.script_flush()
    try:
        lane = backend.lane_at(0)
        raw_redis.rpush("q", b"old")
        with pytest.raises(QueueFullError):
            lane.push("q", [_message(1, BIG)], 30, 1)
        lane.push("q", [_message(2, BIG)], 30, 100)
        assert _scripts_run(raw_redis) == [False, True, False]  # the probe found LTRIM refused: no transaction
    finally:
        backend.close()
        raw_redis.execute_command("ACL", "DELUSER", user)
    assert raw_redis.lrange("q", 0, -1) == [b"old", _message(2, BIG)]


def test_a_user_who_loses_transactions_after_the_probe_gets_the_true_outcome(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """MULTI refused after the probe: RPUSH and the check ran on their own; their replies are the outcome."""
    user = "changing"
    raw_redis.execute_command("ACL", "SETUSER", user, "on", f">{_ACL_PASSWORD}", "~*", "+@all")
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"username": user, "password": _ACL_PASSWORD})
    try:
        lane = backend.lane_at(0)
        lane.push("q", [_message(1, BIG)], 30, 100)
        raw_redis.execute_command("ACL", "SETUSER", user, "-multi")
        assert lane.push_many([("q", [_message(2, BIG)], 30)], 100) == [None]
        # Transactions are off for this connection.
        assert not lane.push_deferred(push_plan(("q", [_message(3, BIG)], 30), 100))
        assert not lane.has_deferred
        lane.push("q", [_message(3, BIG)], 30, 100)
    finally:
        backend.close()
        raw_redis.execute_command("ACL", "DELUSER", user)
    assert raw_redis.lrange("q", 0, -1) == [_message(n, BIG) for n in (1, 2, 3)]
    assert 25 <= raw_redis.ttl("q") <= 30


def test_attempts_after_a_full_queue_use_the_script(redis_url: str, raw_redis: redis.Redis) -> None:
    """A refused transaction sends the whole message to replicas and the AOF; the retries do not."""
    client = RedisClientTransport(
        "full",
        backend_type="redis.standard",
        backend_layer_kwargs={"hosts": [redis_url]},
        queue_capacity=1,
        queue_full_retries=2,
    )
    raw_redis.rpush("pysoa:service.full", b"old")
    raw_redis.script_flush()
    body = {"actions": [{"action": "a", "body": {"blob": "b" * BIG}}]}
    with pytest.raises(MessageSendError, match="full"):
        client.send_request_message(1, {}, body)
    # The first attempt's transaction ran the check script, the retries the send script.
    assert _scripts_run(raw_redis) == [True, True, False]
    assert raw_redis.lrange("pysoa:service.full", 0, -1) == [b"old"]
