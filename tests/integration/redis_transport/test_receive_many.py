"""A server transport's receive of several waiting requests at once (what a concurrent worker with free places
asks for)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import job_request


def test_several_waiting_requests_come_in_one_receive_oldest_first_bad_ones_skipped(
    make_client: Callable[..., RedisClientTransport],
    make_server: Callable[..., RedisServerTransport],
    raw_redis: redis.Redis,
) -> None:
    """Up to ``max_count`` requests already queued come back together, in queue order; a message that is not a
    request is skipped (as a single receive skips it), and what is left stays queued for the next receive."""
    client = make_client()
    server = make_server()
    for number in range(3):
        client.send_request_message(number, {}, job_request(n=number))
    raw_redis.rpush("pysoa:service.echo", b"not a request")
    for number in range(3, 6):
        client.send_request_message(number, {}, job_request(n=number))

    first = server.receive_request_messages(5)
    second = server.receive_request_messages(5)
    assert [message.request_id for message in first] == [0, 1, 2, 3]
    assert [message.request_id for message in second] == [4, 5]
    assert [message.body for message in first + second] == [job_request(n=n) for n in range(6)]
    with pytest.raises(MessageReceiveTimeout):
        server.receive_request_messages(5, receive_timeout_in_seconds=0.1)
