"""A server that receives right after replying writes the reply and the wait for its next request together
(``ServerTransport.receive_follows``).

What must hold: the reply still arrives at once, the next receive gets the next request, a refused reply is
still counted and logged (or pushed again when Redis forgot the script) without losing the wait, and a request
the wait took when the server stops goes back to the head of the queue for another worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import redis

from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]
_REQUESTS = "pysoa:service.echo"


def _answer_next(server: RedisServerTransport, **body: object) -> int:
    request_id, meta, _body = server.receive_request_message(5)
    server.send_response_message(request_id, meta, job_response(answered=request_id, **body))
    return int(request_id)


def _waiting_in_blpop(raw_redis: redis.Redis) -> int:
    return sum(1 for client in raw_redis.client_list() if client.get("cmd") == "blpop" and "b" in client["flags"])


def _announced(
    make_client: ClientFactory, make_server: ServerFactory, **server_kwargs: object
) -> tuple[RedisClientTransport, RedisServerTransport]:
    """A client and a server that answered one request (loading the send script) and announced its receives."""
    client, server = make_client(), make_server(**server_kwargs)
    client.send_request_message(0, {}, job_request())
    _answer_next(server)
    assert client.receive_response_message(5).request_id == 0
    server.receive_follows(5)
    return client, server


def test_the_wait_for_the_next_request_is_on_when_the_reply_is_sent(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = _announced(make_client, make_server)
    client.send_request_message(1, {}, job_request())
    _answer_next(server)
    started = time.monotonic()
    reply = client.receive_response_message(5)  # a client in the server's thread: not held by the server's wait
    assert time.monotonic() - started < 1
    assert (reply.request_id, reply.body) == (1, job_response(answered=1))
    deadline = time.monotonic() + 2
    while not _waiting_in_blpop(raw_redis) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _waiting_in_blpop(raw_redis) == 1  # waiting for the next request before any receive
    client.send_request_message(2, {}, job_request())
    assert _answer_next(server) == 2
    server.flush_responses()
    assert client.receive_response_message(5).request_id == 2


def test_without_the_announcement_no_wait_is_sent_with_the_reply(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = _announced(make_client, make_server)
    server.receive_follows(None)
    client.send_request_message(1, {}, job_request())
    _answer_next(server)
    time.sleep(0.05)
    assert _waiting_in_blpop(raw_redis) == 0
    assert client.receive_response_message(5).request_id == 1


def test_a_request_the_wait_took_goes_back_to_the_head_of_the_queue_when_the_server_stops(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = _announced(make_client, make_server)
    client.send_request_message(1, {}, job_request())
    _answer_next(server)  # the wait for the next request goes out with this reply
    client.send_request_message(2, {}, job_request())  # taken by that wait
    client.send_request_message(3, {}, job_request())
    server.flush_responses()  # stopping: no receive reads the wait
    assert raw_redis.llen(_REQUESTS) == 2
    other = make_server()
    assert [_answer_next(other), _answer_next(other)] == [2, 3]
    other.flush_responses()
    assert [client.receive_response_message(5).request_id for _ in range(3)] == [1, 2, 3]


def test_a_refused_reply_is_counted_and_logged_and_the_next_request_still_received(
    make_client: ClientFactory,
    make_server: ServerFactory,
    raw_redis: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = RecordingMetrics()
    client, server = _announced(make_client, make_server, metrics=metrics, queue_capacity=2, queue_full_retries=0)
    client.send_request_message(1, {}, job_request())
    raw_redis.rpush("pysoa:" + client._reply_to(), b"filler", b"filler")  # the reply list is full
    _answer_next(server)
    client.send_request_message(2, {}, job_request())
    with caplog.at_level(logging.ERROR, logger="pysoa_like.transport"):
        assert _answer_next(server) == 2
    assert "the reply list is full" in caplog.text
    assert metrics.counters["server.transport.redis_gateway.send.error.redis_queue_full"] == 1


def test_a_reply_whose_script_redis_forgot_is_pushed_again(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    client, server = _announced(make_client, make_server)
    raw_redis.script_flush()
    client.send_request_message(1, {}, job_request())
    _answer_next(server)  # EVALSHA of an unknown script, found out when the wait is read
    client.send_request_message(2, {}, job_request())
    assert _answer_next(server) == 2
    server.flush_responses()
    assert [client.receive_response_message(5).request_id for _ in range(2)] == [1, 2]
