"""Lanes (one connection per thread and ring slot), batched sends and drained receives, on a real Redis."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageSendError
from pysoa_like.common.transport.redis_gateway._lanes import Lane, QueueFullError
from pysoa_like.common.transport.redis_gateway.backend.standard import StandardRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.redis_protocol import push_plan
from pysoa_like.test.redis import RedisServerProcess
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]


def test_push_many_pushes_every_item_in_one_write(lane: Lane, raw_redis: redis.Redis) -> None:
    """Each item lands in its own list, in order; a full list fails only its own item."""
    raw_redis.rpush("full", b"old", b"older", b"oldest")
    errors = lane.push_many([("a", [b"1"], 30), ("full", [b"2"], 30), ("a", [b"3", b"4"], 30)], capacity=3)
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], QueueFullError)
    assert raw_redis.lrange("a", 0, -1) == [b"1", b"3", b"4"]
    assert raw_redis.lrange("full", 0, -1) == [b"old", b"older", b"oldest"]
    assert 25 <= raw_redis.ttl("a") <= 30


def test_push_reloads_the_script_after_a_script_flush(lane: Lane, raw_redis: redis.Redis) -> None:
    """NOSCRIPT (a restarted or flushed Redis) is answered by sending the script text; nothing is lost."""
    lane.push("q", [b"first"], 30, 100)
    raw_redis.script_flush()
    lane.push_many([("q", [b"second"], 30), ("q", [b"third", b"fourth"], 30)], 100)
    assert raw_redis.lrange("q", 0, -1) == [b"first", b"second", b"third", b"fourth"]


def test_only_pushes_of_a_script_already_run_on_the_connection_are_deferred(lane: Lane, raw_redis: redis.Redis) -> None:
    """A push is written without waiting only once its script ran on the connection; otherwise nothing is written."""
    one, two = ("q", [b"1"], 30), ("q", [b"2", b"3"], 30)
    assert not lane.push_deferred(push_plan(one, 100)) and not lane.push_deferred(push_plan(two, 100))
    assert not lane.has_deferred and not raw_redis.exists("q")
    lane.push(*one, 100)
    assert not lane.push_deferred(push_plan(two, 100))  # (one message and several go through two scripts)
    assert lane.push_deferred(push_plan(one, 100))
    assert lane.has_deferred
    assert lane.settle() == [(one, None)]
    assert not lane.has_deferred
    lane.close()  # a new connection: Redis may have been restarted, so nothing is assumed loaded
    assert not lane.push_deferred(push_plan(one, 100))
    assert raw_redis.lrange("q", 0, -1) == [b"1", b"1"]


def test_a_pop_after_deferred_pushes_keeps_only_the_failed_ones(lane: Lane, raw_redis: redis.Redis) -> None:
    """The replies to deferred pushes read by a pop leave the failures, and only them, in ``settled``."""
    raw_redis.rpush("full", b"x")
    lane.push("q", [b"0"], 30, 100)  # loads the script, so the next pushes may be deferred
    assert lane.push_deferred(push_plan(("q", [b"1"], 30), 1))  # q holds one already: full at capacity 1
    assert lane.push_deferred(push_plan(("r", [b"2"], 30), 1))
    assert lane.push_deferred(push_plan(("full", [b"3"], 30), 1))
    raw_redis.rpush("wait", b"w")
    assert lane.blocking_pop("wait", 1.0) == [b"w"]
    failed = [item for item, error in lane.settled if isinstance(error, QueueFullError)]
    assert failed == [("q", [b"1"], 30), ("full", [b"3"], 30)] and len(lane.settled) == 2
    assert raw_redis.lrange("r", 0, -1) == [b"2"]


def test_push_raises_queue_full(lane: Lane, raw_redis: redis.Redis) -> None:
    raw_redis.rpush("q", b"x", b"y")
    with pytest.raises(QueueFullError):
        lane.push("q", [b"z"], 30, 2)


def test_blocking_pop_drains_what_is_already_there(lane: Lane, raw_redis: redis.Redis) -> None:
    raw_redis.rpush("q", b"1", b"2", b"3", b"4")
    assert lane.blocking_pop("q", 1) == [b"1"]
    assert lane.blocking_pop("q", 1, drain=2) == [b"2", b"3", b"4"]
    assert lane.blocking_pop("q", 0.05, drain=5) == []


def test_drain_falls_back_to_single_pops_when_lpop_takes_no_count() -> None:
    """On a Redis whose LPOP rejects a count (before 6.2), the BLPOP reply is kept and draining stops."""
    with RedisServerProcess(extra_args=["--rename-command", "LPOP", "LPOP_RENAMED"]) as server:
        backend = StandardRedisClient(hosts=[server.url])
        try:
            lane = backend.lane_at(0)
            with server.client() as raw:
                raw.rpush("q", b"1", b"2")
                assert lane.blocking_pop("q", 1, drain=5) == [b"1"]
                assert lane.blocking_pop("q", 1, drain=5) == [b"2"]
                raw.rpush("q", b"3")
                assert lane.blocking_pop("q", 1, drain=5) == [b"3"]
        finally:
            backend.close()


def test_a_connection_killed_while_idle_is_replaced_before_the_next_push(lane: Lane, raw_redis: redis.Redis) -> None:
    """A connection closed by Redis between two commands is found closed and replaced: nothing fails or is lost."""
    lane.push("q", [b"1"], 30, 100)
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    time.sleep(0.01)
    assert lane.check_connection()
    lane.push("q", [b"2"], 30, 100)
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    time.sleep(0.01)
    lane.push("q", [b"3"], 30, 100)  # found closed by the write itself
    assert raw_redis.lrange("q", 0, -1) == [b"1", b"2", b"3"]


def test_each_thread_has_its_own_lane_and_close_lanes_closes_them(redis_url: str, raw_redis: redis.Redis) -> None:
    backend = StandardRedisClient(hosts=[redis_url])
    try:
        mine = backend.lane_at(0)
        assert backend.lane_at(0) is mine
        theirs: list[Lane] = []

        def other_thread() -> None:
            lane = backend.lane_at(0)
            lane.push("q", [b"from thread"], 30, 100)
            theirs.append(lane)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert theirs and theirs[0] is not mine
        mine.push("q", [b"from main"], 30, 100)
        before = len(raw_redis.client_list())
        backend.close_lanes()
        # Redis notices a closed connection when its event loop next runs: a loaded machine may take a moment.
        deadline = time.monotonic() + 5
        while len(raw_redis.client_list()) >= before:
            assert time.monotonic() < deadline, "the closed lanes' connections are still open in Redis"
            time.sleep(0.01)
        # A closed lane reconnects on its next command.
        mine.push("q", [b"again"], 30, 100)
        assert raw_redis.lrange("q", 0, -1) == [b"from thread", b"from main", b"again"]
    finally:
        backend.close()


def test_batched_sends_reach_redis_together_at_the_flush(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """Ten requests sent in a batch reach Redis when the batch is flushed; the server gets all ten, in order."""
    client = make_client()
    server = make_server()
    assert client.begin_send_batch() is True
    assert client.begin_send_batch() is False  # already open on this thread
    for request_id in range(10):
        client.send_request_message(request_id, {}, job_request())
    assert raw_redis.llen("pysoa:service.echo") == 0  # held back until the flush
    assert client.flush_send_batch() == {}
    assert client.requests_outstanding == 10
    assert [server.receive_request_message().request_id for _ in range(10)] == list(range(10))


def test_a_batch_reports_the_requests_that_could_not_be_pushed(
    make_client: ClientFactory, raw_redis: redis.Redis
) -> None:
    """With room for three, the last two of five batched requests fail (after no retries) and are not awaited."""
    client = make_client(queue_capacity=3, queue_full_retries=0)
    client.begin_send_batch()
    for request_id in range(5):
        client.send_request_message(request_id, {}, job_request())
    failed = client.flush_send_batch()
    assert sorted(failed) == [3, 4]
    assert all(isinstance(error, MessageSendError) for error in failed.values())
    assert client.requests_outstanding == 3
    assert raw_redis.llen("pysoa:service.echo") == 3


def _reply_lists(raw_redis: redis.Redis) -> list[bytes]:
    return sorted(raw_redis.keys("pysoa:service.*!*"))


def test_the_first_receive_takes_every_reply_already_waiting(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """Eight replies already waiting leave Redis with the first receive, then are handed out in order."""
    client = make_client()
    server = make_server()
    for request_id in range(8):
        client.send_request_message(request_id, {}, job_request())
    for _ in range(8):
        request_id, meta, _body = server.receive_request_message()
        server.send_response_message(request_id, meta, job_response(n=request_id))
    (reply_list,) = _reply_lists(raw_redis)
    assert raw_redis.llen(reply_list) == 8
    received = [client.receive_response_message(1).request_id]
    assert not raw_redis.exists(reply_list)  # all taken by the first receive
    received += [client.receive_response_message(1).request_id for _ in range(7)]
    assert received == list(range(8))
    assert client.receive_response_message(1).request_id is None  # nothing outstanding any more


def test_a_receive_takes_no_more_replies_than_are_awaited(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """With one reply awaited, a receive takes that one: what else is in the reply list stays there."""
    client = make_client()
    server = make_server()
    client.send_request_message(1, {}, job_request())
    request_id, meta, _body = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response())
    (reply_list,) = _reply_lists(raw_redis)
    raw_redis.rpush(reply_list, b"not awaited")
    assert client.receive_response_message(1).request_id == 1
    assert raw_redis.lrange(reply_list, 0, -1) == [b"not awaited"]


def test_drained_chunked_replies_are_reassembled_from_what_was_held(
    make_client: ClientFactory, make_server: ServerFactory
) -> None:
    """Two chunked replies and a whole one, all drained at once, come out whole and in order."""
    chunking = {"chunk_messages_larger_than_bytes": 102400, "maximum_message_size_in_bytes": 5 * 102400}
    client = make_client()
    server = make_server(**chunking)
    for request_id in range(3):
        client.send_request_message(request_id, {}, job_request())
    sizes = {0: 250_000, 1: 10, 2: 210_000}
    for _ in range(3):
        request_id, meta, _body = server.receive_request_message()
        server.send_response_message(request_id, meta, job_response(data="z" * sizes[request_id]))
    replies = [client.receive_response_message(1) for _ in range(3)]
    assert [reply.request_id for reply in replies] == [0, 1, 2]
    assert [len(reply.body["actions"][0]["body"]["data"]) for reply in replies] == [250_000, 10, 210_000]


def test_parallel_calls_batch_and_report_failed_pushes_in_place(
    make_server: ServerFactory, redis_url: str, raw_redis: redis.Redis
) -> None:
    """A parallel call whose request list has room for two: with catch_transport_errors, the third job's
    entry is its MessageSendError; without, the call raises it and sends nothing more."""
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [redis_url]},
            "queue_capacity": 2,
            "queue_full_retries": 0,
        },
    }
    client = Client({"echo": {"transport": transport}})
    actions = [{"action": "a", "body": {"n": n}} for n in range(3)]
    future = client.call_actions_parallel_future("echo", actions, catch_transport_errors=True)
    assert raw_redis.llen("pysoa:service.echo") == 2
    server = make_server()
    for _ in range(2):
        request_id, meta, body = server.receive_request_message()
        reply = {"actions": [{"action": "a", "body": body["actions"][0]["body"], "errors": []}], "errors": []}
        server.send_response_message(request_id, meta, reply)
    results = list(future.result(5))
    assert [result.body for result in results[:2]] == [{"n": 0}, {"n": 1}]
    assert isinstance(results[2], MessageSendError)
    with pytest.raises(MessageSendError):
        client.call_actions_parallel("echo", actions)


def _serve_one(server: RedisServerTransport, **body: Any) -> None:
    request_id, meta, _body = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response(**body))


def _server_lane(server: RedisServerTransport) -> Lane:
    return server.core.backend_layer.lane_at(0)


def _primed(
    make_client: ClientFactory, make_server: ServerFactory, requests: int, **server_kwargs: Any
) -> tuple[RedisClientTransport, RedisServerTransport]:
    """A client that sent ``requests`` requests and a server that answered the first (loading its script)."""
    client = make_client()
    server = make_server(**server_kwargs)
    for request_id in range(requests):
        client.send_request_message(request_id, {}, job_request())
    _serve_one(server, n=0)
    return client, server


def test_server_replies_are_confirmed_during_the_next_receive(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """Once the script is loaded on the connection, a reply is written and its acknowledgement read later."""
    client, server = _primed(make_client, make_server, 3)
    _serve_one(server, n=1)
    assert _server_lane(server).has_deferred  # written, acknowledgement not read yet
    _serve_one(server, n=2)  # this receive read the previous acknowledgement
    server.flush_responses()
    assert not _server_lane(server).has_deferred
    assert [client.receive_response_message(1).request_id for _ in range(3)] == [0, 1, 2]


def test_a_deferred_reply_to_a_full_list_is_dropped_at_once(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """A reply refused because the client's list is full is not retried, whatever queue_full_retries says."""
    client, server = _primed(
        make_client, make_server, 2, queue_capacity=2, queue_full_retries=3
    )  # synchronous, loads the script
    reply_key = "pysoa:" + client._reply_to()
    raw_redis.rpush(reply_key, b"filler")  # now full: two messages
    request_id, meta, _body = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response(n=1))  # deferred: refused by Redis
    raw_redis.lpop(reply_key, 2)  # room now, but the refusal stands
    started = time.monotonic()
    server.flush_responses()
    assert time.monotonic() - started < 0.2
    assert raw_redis.llen(reply_key) == 0


def test_a_deferred_reply_that_stays_refused_is_logged_and_counted(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = RecordingMetrics()
    client, server = _primed(make_client, make_server, 2, metrics=metrics, queue_capacity=2, queue_full_retries=0)
    raw_redis.rpush("pysoa:" + client._reply_to(), b"filler")
    request_id, meta, _body = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response(n=1))  # returns: the refusal comes later
    with caplog.at_level(logging.ERROR, logger="pysoa_like.transport"):
        server.flush_responses()
    assert "Could not deliver a reply to 'service.echo." in caplog.text
    assert "the reply list is full" in caplog.text
    assert metrics.counters["server.transport.redis_gateway.send.error.redis_queue_full"] == 1


def test_a_deferred_reply_survives_a_script_flush(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = _primed(make_client, make_server, 2)
    raw_redis.script_flush()
    _serve_one(server, n=1)  # EVALSHA of an unknown script: refused, found out when flushing
    server.flush_responses()
    assert [client.receive_response_message(1).request_id for _ in range(2)] == [0, 1]


def test_a_connection_lost_with_a_reply_unconfirmed_is_replaced_and_the_reply_pushed_again(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """The receive that was to read the acknowledgement finds the connection closed: it pushes the reply again on
    a new connection (the client drops the copy) and goes on with its own wait."""
    client, server = _primed(make_client, make_server, 3)
    _serve_one(server, n=1)
    assert _server_lane(server).has_deferred
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    _serve_one(server, n=2)
    server.flush_responses()
    received = {client.receive_response_message(1).request_id for _ in range(3)}
    assert received == {0, 1, 2}
    assert raw_redis.llen("pysoa:" + client._reply_to()) <= 1  # at most the dropped copy is left


def _seconds_to_give_up_on_a_silent_redis(lane: Lane, raw_redis: redis.Redis) -> float:
    """How long a small command on ``lane`` waits for a Redis that answers nobody (paused for 2 s) before it raises
    ``redis.TimeoutError``; returns once the pause is over."""
    raw_redis.execute_command("CLIENT", "PAUSE", 2000, "ALL")
    started = time.monotonic()
    try:
        with pytest.raises(redis.TimeoutError):
            lane.execute("PING")
        return time.monotonic() - started
    finally:
        time.sleep(max(0.0, started + 2.1 - time.monotonic()))  # the pause ends by itself (UNPAUSE would wait too)


def test_a_blpop_longer_than_the_socket_timeout_gets_its_reply_and_the_timeout_still_holds(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """A BLPOP waiting longer than socket_timeout gets a reply that comes in time; a silent Redis is found within
    socket_timeout afterwards."""
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"socket_timeout": 0.5})
    try:
        lane = backend.lane_at(0)
        big = b"z" * (3 * 1024 * 1024)
        lane.push("q", [big], 30, 100)
        assert lane.blocking_pop("q", 3.0) == [big]
        assert _seconds_to_give_up_on_a_silent_redis(lane, raw_redis) < 1.8
    finally:
        backend.close()


@contextmanager
def _pushed_later(raw_redis: redis.Redis, key: str, value: bytes, after: float) -> Iterator[None]:
    """``value`` is pushed onto ``key`` ``after`` seconds into the block (the pushing thread is joined at its end)."""
    pusher = threading.Timer(after, lambda: raw_redis.rpush(key, value))
    pusher.start()
    try:
        yield
    finally:
        pusher.join()


def test_a_blpop_after_deferred_pushes_waits_its_own_time_not_the_socket_timeout(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """A server's pop written after its deferred reply pushes waits as long as it asked, longer than socket_timeout,
    and gets a reply that comes then (the read of the pushes' replies once cut it at socket_timeout, dropping the
    connection)."""
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"socket_timeout": 0.5})
    try:
        lane = backend.lane_at(0)
        lane.push("replies", [b"warm-up"], 30, 100)  # loads the script, so the next push may be deferred
        assert lane.push_deferred(push_plan(("replies", [b"reply"], 30), 100))
        with _pushed_later(raw_redis, "requests", b"late request", 0.9):
            assert lane.blocking_pop("requests", 2.0) == [b"late request"]
        assert raw_redis.lrange("replies", 0, -1) == [b"warm-up", b"reply"]
    finally:
        backend.close()


def test_a_blpop_reply_later_than_the_socket_timeout_is_read_and_the_next_command_keeps_the_timeout(
    redis_url: str, raw_redis: redis.Redis
) -> None:
    """A reply later than socket_timeout is still read within the BLPOP's wait (a big one too); the commands after it
    give up on a silent Redis within socket_timeout again."""
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"socket_timeout": 0.3})
    try:
        lane = backend.lane_at(0)
        lane.push("late", [b"warm-up"], 30, 100)
        assert lane.blocking_pop("late", 1.0) == [b"warm-up"]
        with _pushed_later(raw_redis, "late", b"x", 0.8):
            assert lane.blocking_pop("late", 3.0) == [b"x"]
        assert _seconds_to_give_up_on_a_silent_redis(lane, raw_redis) < 1.8
        lane.push("late", [b"y"], 30, 100)
        assert lane.blocking_pop("late", 0.1) == [b"y"]
        # A late reply too big for the read buffer (received into its own) is read whole as well.
        big = b"B" * (200 * 1024)
        with _pushed_later(raw_redis, "late", big, 0.6):
            assert lane.blocking_pop("late", 3.0) == [big]
        assert _seconds_to_give_up_on_a_silent_redis(lane, raw_redis) < 1.8
    finally:
        backend.close()


def test_a_blpop_whose_reply_never_comes_times_out_after_its_wait_plus_margin(
    redis_url: str, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis not answering at all (paused here) is a TimeoutError once the BLPOP's wait and margin are over."""
    from pysoa_like.common.transport.redis_gateway import _lanes

    monkeypatch.setattr(_lanes, "READ_MARGIN_SECONDS", 0.6)
    backend = StandardRedisClient(hosts=[redis_url], connection_kwargs={"socket_timeout": 0.2})
    try:
        lane = backend.lane_at(0)
        lane.push("silent", [b"w"], 30, 100)
        assert lane.blocking_pop("silent", 0.1) == [b"w"]
        # Redis answers nobody for 1.5 s (and ends the pause by itself: an UNPAUSE would wait for it too).
        raw_redis.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            lane.blocking_pop("silent", 0.3)
        waited = time.monotonic() - started
        # Longer than socket_timeout (the read was tried again), ended at wait + margin (0.9 s), not by the pause.
        assert 0.85 <= waited < 1.4
        # The connection was closed; once the pause is over, the next command opens a new one with socket_timeout.
        time.sleep(max(0.0, started + 1.6 - time.monotonic()))
        lane.push("silent", [b"after"], 30, 100)
        assert lane.blocking_pop("silent", 0.1) == [b"after"]
        assert _seconds_to_give_up_on_a_silent_redis(lane, raw_redis) < 1.8
    finally:
        backend.close()


def test_a_lane_never_waits_forever_and_keeps_a_configured_socket_timeout(
    redis_url: str, raw_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without socket_timeout a lane still gives up on a silent Redis, after its default (redis-py would wait forever);
    a configured socket_timeout is kept; a BLPOP longer than either still gets its whole wait (a per-read timeout)."""
    from pysoa_like.common.transport.redis_gateway import _lanes

    monkeypatch.setattr(_lanes, "DEFAULT_SOCKET_TIMEOUT_SECONDS", 0.4)  # (60 s: too long to wait for here)
    for connection_kwargs in ({}, {"socket_timeout": 0.4}):
        backend = StandardRedisClient(hosts=[redis_url], connection_kwargs=connection_kwargs)
        try:
            lane = backend.lane_at(0)
            lane.push("q", [b"x"], 30, 100)
            assert _seconds_to_give_up_on_a_silent_redis(lane, raw_redis) < 1.8
            with _pushed_later(raw_redis, "q", b"y", 0.7):
                assert lane.blocking_pop("q", 5.0) == [b"x"]
                assert lane.blocking_pop("q", 5.0) == [b"y"]
        finally:
            backend.close()


def test_a_blocking_move_keeps_the_message_and_runs_the_commands_written_before_it(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    """BLMOVE takes the oldest message into the other list; commands written first ran first, replies kept;
    a deferred push on the same connection runs before them (its outcome read on the way)."""
    raw_redis.rpush("queue", b"m1", b"m2")
    raw_redis.rpush("held", b"done", b"kept")
    lane.push("replies", [b"r0"], 30, 100)
    assert lane.push_deferred(push_plan(("replies", [b"r1"], 30), 100))
    before = [("LREM", "held", 1, b"done"), ("LLEN", "replies")]
    assert lane.blocking_pop("queue", 1, move_to="held", before=before) == [b"m1"]
    assert lane.before_replies == [1, 2]
    assert not lane.has_deferred and lane.settled == []  # its outcome read on the way: pushed, nothing to act on
    assert raw_redis.lrange("replies", 0, -1) == [b"r0", b"r1"]
    assert raw_redis.lrange("held", 0, -1) == [b"kept", b"m1"]
    assert raw_redis.lrange("queue", 0, -1) == [b"m2"]


def test_a_blocking_move_that_times_out_returns_nothing_and_still_runs_the_commands_before_it(
    lane: Lane, raw_redis: redis.Redis
) -> None:
    """An empty list: nothing moved, the commands before the wait ran all the same."""
    raw_redis.rpush("held", b"done")
    assert lane.blocking_pop("empty", 0.1, move_to="held", before=[("LREM", "held", 1, b"done")]) == []
    assert lane.before_replies == [1]
    assert raw_redis.exists("held") == 0


def test_commands_written_with_a_deferred_push_run_just_before_it(lane: Lane, raw_redis: redis.Redis) -> None:
    """A deferred push with commands before it: they run first (the DEL empties the list the push then fills),
    their replies are read and dropped, and the push's outcome is reported as usual."""
    lane.push("replies", [b"r0"], 30, 100)
    lane.push_deferred(push_plan(("replies", [b"r1"], 30), 100), before=[("SET", "kept", "x"), ("DEL", "replies")])
    assert lane.settle() == [(("replies", [b"r1"], 30), None)]
    assert raw_redis.get("kept") == b"x"
    assert raw_redis.lrange("replies", 0, -1) == [b"r1"]


def test_successive_waits_each_take_from_their_own_list_for_their_own_time(lane: Lane, raw_redis: redis.Redis) -> None:
    """Waits that follow one another (the same list again, another list, another timeout, a drain) each pop what
    they were asked to and time out after their own timeout."""
    raw_redis.rpush("a", b"a1", b"a2", b"a3")
    raw_redis.rpush("b", b"b1", b"b2")
    assert lane.blocking_pop("a", 1) == [b"a1"]
    assert lane.blocking_pop("a", 1) == [b"a2"]
    assert lane.blocking_pop("b", 1) == [b"b1"]
    assert lane.blocking_pop("a", 1, drain=5) == [b"a3"]
    assert lane.blocking_pop("b", 1) == [b"b2"]
    started = time.monotonic()
    assert lane.blocking_pop("b", 0.2) == []
    assert 0.15 < time.monotonic() - started < 0.9
    raw_redis.rpush("b", b"b3")
    assert lane.blocking_pop("b", 0.2) == [b"b3"]
    # More lists and timeouts than a lane keeps encoded, then the first ones again.
    for round_ in range(2):
        for index in range(12):
            raw_redis.rpush(f"list-{index}", b"%d-%d" % (round_, index))
            assert lane.blocking_pop(f"list-{index}", 1 + index / 4) == [b"%d-%d" % (round_, index)]


@pytest.mark.parametrize("size", [100, 16384, 16385, 30000])
def test_a_push_written_with_its_wait_arrives_whole_whatever_its_size_below_a_transaction(
    lane: Lane, raw_redis: redis.Redis, size: int
) -> None:
    """A push sent with the wait that follows it (one write) reaches its list as it was, the small ones encoded by
    their plan and the larger ones written without a copy, and the wait pops what comes to its list."""
    lane.push("q", [b"loads the script"], 30, 100)
    message = bytes(range(256)) * (size // 256) + b"m" * (size % 256)
    raw_redis.rpush("replies", b"reply")
    assert lane.push_and_pop(push_plan(("q", [message], 30), 100), "replies", 0.5 + size / 100_000)
    assert lane.blocking_pop("replies", 1) == [b"reply"]
    assert raw_redis.lrange("q", 1, -1) == [message]
