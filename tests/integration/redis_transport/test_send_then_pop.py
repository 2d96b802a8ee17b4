"""A blocking call's request and the wait for its reply go out together (``receive_follows``).

What must hold: the wait is on when the send returns, the reply still arrives, a full request queue is still
refused (or waited out), a script Redis forgot is loaded again, and nothing else that uses the connection in
between loses the reply.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError, QueueFullSendError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]


def _answer_one(server: RedisServerTransport) -> None:
    request_id, meta, _body = server.receive_request_message(5)
    server.send_response_message(request_id, meta, job_response(answered=request_id))
    server.flush_responses()


def _blocked_in_blpop(raw_redis: redis.Redis) -> int:
    """How many connections wait in a BLPOP now (flag ``b``; ``cmd`` alone is a connection's last command)."""
    return sum(1 for client in raw_redis.client_list() if client.get("cmd") == "blpop" and "b" in client["flags"])


def _warm(client: RedisClientTransport, server: RedisServerTransport) -> None:
    """One plain call, so the connection has run the send script."""
    client.send_request_message(1, {}, job_request())
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 1


def test_the_wait_for_the_reply_is_on_when_the_send_returns(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = make_client(), make_server()
    _warm(client, server)
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    assert raw_redis.llen("pysoa:service.echo") == 1  # pushed
    deadline = time.monotonic() + 2
    while not _blocked_in_blpop(raw_redis) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _blocked_in_blpop(raw_redis) == 1  # already waiting for the reply, before any receive
    _answer_one(server)
    reply = client.receive_response_message(5)
    assert (reply.request_id, reply.body) == (2, job_response(answered=2))


def test_without_the_announcement_a_send_does_not_wait(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = make_client(), make_server()
    _warm(client, server)
    client.send_request_message(2, {}, job_request())
    time.sleep(0.05)
    assert _blocked_in_blpop(raw_redis) == 0
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 2


def test_a_full_request_queue_is_still_refused(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    metrics = RecordingMetrics()
    client, server = make_client(metrics=metrics, queue_capacity=2, queue_full_retries=0), make_server()
    _warm(client, server)
    raw_redis.rpush("pysoa:service.echo", b"x", b"y")
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    started = time.monotonic()
    with pytest.raises(QueueFullSendError, match="was full after 0 retries") as info:
        client.receive_response_message(5)
    assert info.value.retry_after == 0.375  # when to come back: (2**0 + 0.5) / 4
    assert time.monotonic() - started < 1  # the wait for a reply that cannot come is not sat out
    assert raw_redis.llen("pysoa:service.echo") == 2
    assert metrics.counters["client.transport.redis_gateway.send.error.redis_queue_full"] == 1
    # The connection is in step again for the next call.
    raw_redis.delete("pysoa:service.echo")
    client.receive_follows(5)
    client.send_request_message(3, {}, job_request())
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 3


def test_after_a_refused_push_the_thread_waits_for_nothing_and_sends_with_its_wait_again(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """The refused request is not awaited any more: the next call's wait goes out with its send again (it was
    sent alone for the two minutes that the refused request stayed awaited)."""
    client, server = make_client(queue_capacity=2, queue_full_retries=0), make_server()
    _warm(client, server)
    # Given a push refused (full queue) while it went out with the wait for its reply
    raw_redis.rpush("pysoa:service.echo", b"x", b"y")
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    with pytest.raises(MessageSendError):
        client.receive_response_message(5)
    # Then nothing is awaited: a receive returns at once, empty
    assert client.requests_outstanding == 0
    assert client.receive_response_message(5) == (None, None, None)
    # And once a call has run the send script on the new connection (the refusal closed the old one), the next
    # call's send starts the wait for its reply, as before the refusal
    raw_redis.delete("pysoa:service.echo")
    for request_id in (3, 4):
        client.receive_follows(5)
        client.send_request_message(request_id, {}, job_request())
        if request_id == 4:
            assert _blocked_in_blpop_soon(raw_redis) == 1
        _answer_one(server)
        assert client.receive_response_message(5).request_id == request_id
    assert client.requests_outstanding == 0


def _blocked_in_blpop_soon(raw_redis: redis.Redis) -> int:
    deadline = time.monotonic() + 2
    while not _blocked_in_blpop(raw_redis) and time.monotonic() < deadline:
        time.sleep(0.01)
    return _blocked_in_blpop(raw_redis)


def test_a_queue_that_drains_during_the_retries_gets_the_request(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = make_client(queue_capacity=1, queue_full_retries=3), make_server()
    _warm(client, server)
    raw_redis.rpush("pysoa:service.echo", b"old")
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    drainer = threading.Timer(0.1, lambda: raw_redis.lpop("pysoa:service.echo"))
    answerer = threading.Thread(target=lambda: (time.sleep(0.2), _answer_one(server)))
    drainer.start()
    answerer.start()
    try:
        reply = client.receive_response_message(5)
    finally:
        drainer.join()
        answerer.join()
    assert reply.request_id == 2


def test_a_script_redis_forgot_is_loaded_again(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = make_client(), make_server()
    _warm(client, server)
    raw_redis.script_flush()
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    answerer = threading.Thread(target=_answer_one, args=(server,))
    answerer.start()
    try:
        assert client.receive_response_message(5).request_id == 2
    finally:
        answerer.join()


def test_another_command_on_the_connection_in_between_keeps_the_reply(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """Something else sent from the thread before the receive (middleware, say) waits for the reply, keeps it."""
    client, server = make_client(), make_server()
    other = make_client("other")
    _warm(client, server)
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    answerer = threading.Thread(target=_answer_one, args=(server,))
    answerer.start()
    try:
        other.send_request_message(9, {}, job_request())  # same Redis, same thread: the same connection
        assert client.receive_response_message(5).request_id == 2
    finally:
        answerer.join()
    assert raw_redis.llen("pysoa:service.other") == 1


def test_an_announcement_taken_back_is_not_used(make_client: ClientFactory, make_server: ServerFactory) -> None:
    client, server = make_client(), make_server()
    _warm(client, server)
    client.receive_follows(5)
    client.receive_follows(None)
    client.send_request_message(2, {}, job_request())
    other = make_client("other")
    started = time.monotonic()
    other.send_request_message(9, {}, job_request())  # not held up by a wait on the connection
    assert time.monotonic() - started < 1
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 2


def test_a_receive_shorter_than_the_announced_wait_ends_on_time(
    make_client: ClientFactory, make_server: ServerFactory
) -> None:
    """The wait sent with the request was 5 s; the receive asks for 0.3 s and gets its timeout then."""
    client, server = make_client(), make_server()
    _warm(client, server)
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(0.3)
    assert 0.25 < time.monotonic() - started < 1.0
    # The request is still there to serve, and the connection is in step for the next call.
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 2
    client.receive_follows(5)
    client.send_request_message(3, {}, job_request())
    _answer_one(server)
    assert client.receive_response_message(5).request_id == 3


def test_a_receive_after_the_announced_wait_ran_out_waits_again(
    make_client: ClientFactory, make_server: ServerFactory
) -> None:
    client, server = make_client(), make_server()
    _warm(client, server)
    client.receive_follows(0.2)
    client.send_request_message(2, {}, job_request())
    time.sleep(0.4)  # the announced wait ends with nothing
    answerer = threading.Timer(0.3, _answer_one, args=(server,))
    answerer.start()
    try:
        assert client.receive_response_message(5).request_id == 2
    finally:
        answerer.join()


@pytest.mark.parametrize("recorded", [True, False], ids=["recorder", "no-op recorder"])
def test_a_connection_redis_closed_while_idle_is_replaced_and_counted(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis, recorded: bool
) -> None:
    """A call on a connection Redis closed while idle goes out on a new one; a recorder counts the replacement."""
    metrics = RecordingMetrics()
    client = make_client(metrics=metrics) if recorded else make_client()
    server = make_server()
    _warm(client, server)
    # Given every connection but this test's closed by Redis while idle
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    time.sleep(0.01)
    # When the next call is made
    client.receive_follows(5)
    client.send_request_message(2, {}, job_request())
    _answer_one(server)
    # Then it gets its reply, and the replaced connection is counted where anything is recorded
    assert client.receive_response_message(5).request_id == 2
    if recorded:
        assert metrics.counters["client.transport.redis_gateway.reconnect"] == 1
