"""Queue capacity, queue-full retries, message expiry and size limits against a real Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
    QueueFullSendError,
)
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.test.redis import RedisServerProcess
from tests.integration._latency_proxy import LatencyProxy
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response, queued_request

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]


def test_queue_full_retries_then_fails(make_client: ClientFactory, metrics: RecordingMetrics) -> None:
    """A full request list is retried queue_full_retries times with backoff, then MessageSendError names it."""
    client = make_client(metrics=metrics, queue_capacity=1, queue_full_retries=2)
    client.send_request_message(1, {}, job_request())
    started = time.monotonic()
    with pytest.raises(QueueFullSendError, match=r"^Redis queue service\.echo was full after 2 retries$") as info:
        client.send_request_message(2, {}, job_request())
    # When to come back: the middle of the next wait of the schedule, (2**2 + 0.5) / 4.
    assert info.value.retry_after == 1.125
    # Backoff (2**0 + r)/4 + (2**1 + r)/4 is between 0.75 and 1.25 seconds.
    assert 0.7 <= time.monotonic() - started < 2.0
    assert metrics.counters["client.transport.redis_gateway.send.queue_full_retry"] == 2
    assert metrics.counters["client.transport.redis_gateway.send.queue_full_retry.retry_2"] == 1
    assert metrics.counters["client.transport.redis_gateway.send.error.redis_queue_full"] == 1
    assert client.requests_outstanding == 1


@pytest.mark.parametrize("big", [False, True], ids=["script", "transaction"])
def test_out_of_memory_is_the_same_error_on_every_redis_version(
    make_client: ClientFactory, raw_redis: redis.Redis, big: bool
) -> None:
    """A push Redis refuses for lack of memory raises MessageSendError caused by redis-py's OutOfMemoryError with
    Redis' own words, whether the send script (Redis 6.2 prefixes the refusal with the script's location) or a
    transaction pushed it."""
    client = make_client()
    client.send_request_message(1, {}, job_request())  # loads the send script while there is memory
    # A message of 32 KiB or more goes as a transaction (docs/performance.rst), a smaller one by the send script.
    body = {**job_request(), "actions": [{"action": "a", "body": {"blob": "b" * 60_000}}]} if big else job_request()
    raw_redis.config_set("maxmemory-policy", "noeviction")
    raw_redis.config_set("maxmemory", "1")
    try:
        with pytest.raises(MessageSendError) as refused:
            client.send_request_message(2, {}, body)
    finally:
        raw_redis.config_set("maxmemory", "0")
    assert isinstance(refused.value.__cause__, redis.exceptions.OutOfMemoryError)
    assert str(refused.value) == (
        "Redis error sending to service echo: command not allowed when used memory > 'maxmemory'."
    )
    assert raw_redis.llen("pysoa:service.echo") == 1


class SlowSerializer(MsgpackSerializer):
    """Msgpack that takes 1.2 seconds to serialize request 2 (as a request of many MiB may)."""

    def dict_to_blob(self, data: dict[str, Any]) -> bytes:
        if data.get("request_id") == 2:
            time.sleep(1.2)
        return super().dict_to_blob(data)


def test_redis_has_the_calls_time_to_take_a_push_from_the_end_of_its_serialization(
    redis_server: RedisServerProcess, raw_redis: redis.Redis
) -> None:
    """The push of a request whose serialization took longer than its expiry still gets that expiry (and the
    read margin) for Redis to answer: a Redis half a second slow takes it."""
    with LatencyProxy(redis_server.address, 0.0) as proxy:
        client = RedisClientTransport(
            "echo",
            backend_type="redis.standard",
            backend_layer_kwargs={"hosts": [proxy.address]},
            default_serializer_config={"path": f"{__name__}:SlowSerializer"},
        )
        client.send_request_message(1, {}, job_request())  # (connected)
        proxy.request_delay = 0.5
        client.send_request_message(2, {}, job_request(), message_expiry_in_seconds=0.05)
    assert [queued_request(raw_redis)[0] for _request in range(2)] == [1, 2]


def test_default_expiry(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """Without a per-call expiry, the list TTL and __expiry__ both use message_expiry_in_seconds."""
    make_client(message_expiry_in_seconds=30).send_request_message(1, {}, job_request())
    assert 28 <= raw_redis.ttl("pysoa:service.echo") <= 30


@pytest.mark.parametrize(("expiry", "ttl"), [(5, 15), (2.5, 13)])
def test_explicit_expiry_adds_ten_seconds(
    make_client: ClientFactory, raw_redis: redis.Redis, expiry: float, ttl: int
) -> None:
    """A per-call expiry T gives the list a TTL of T + 10 (rounded up, so fractions work)."""
    make_client().send_request_message(1, {}, job_request(), message_expiry_in_seconds=expiry)
    assert ttl - 2 <= raw_redis.ttl("pysoa:service.echo") <= ttl


def test_expired_request_is_dropped(
    make_client: ClientFactory, make_server: ServerFactory, metrics: RecordingMetrics
) -> None:
    """A request past its __expiry__ is dropped by the server as an idle receive, then the next one is served."""
    client, server = make_client(), make_server(metrics=metrics)
    client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=0.05)
    time.sleep(0.1)
    with pytest.raises(MessageReceiveTimeout):
        server.receive_request_message()
    assert metrics.counters["server.transport.redis_gateway.receive.error.message_expired"] == 1
    client.send_request_message(2, {}, job_request())
    assert server.receive_request_message().request_id == 2


def test_expired_reply_is_a_timeout(make_client: ClientFactory, make_server: ServerFactory) -> None:
    """A reply past its __expiry__ makes the client's receive raise MessageReceiveTimeout."""
    client = make_client()
    server = make_server(message_expiry_in_seconds=0.05)
    client.send_request_message(1, {}, job_request())
    request_id, meta, _ = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response())
    time.sleep(0.1)
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(1)
    assert client.requests_outstanding == 0


def test_request_too_large(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """A request above maximum_message_size_in_bytes raises MessageTooLarge and nothing is sent."""
    client = make_client(maximum_message_size_in_bytes=1000)
    with pytest.raises(MessageTooLarge) as info:
        client.send_request_message(1, {}, {**job_request(), "actions": [{"action": "a", "body": {"x": "y" * 2000}}]})
    assert info.value.message_size_in_bytes > 1000
    assert raw_redis.llen("pysoa:service.echo") == 0
    assert client.requests_outstanding == 0


def test_oversized_request_is_logged(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    """A request above log_messages_larger_than_bytes is sent and logged on the oversized-message logger."""
    client = make_client(log_messages_larger_than_bytes=100)
    with caplog.at_level("WARNING", logger="pysoa_like.transport.oversized_message"):
        client.send_request_message(1, {}, {**job_request(), "actions": [{"action": "a", "body": {"x": "y" * 200}}]})
    assert any("Oversized message" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"queue_capacity": "10"}, "queue_capacity"),
        ({"backend_layer_kwargs": {"hosts": [1]}}, "backend_layer_kwargs.hosts.0"),
        ({"backend_type": "redis.clustr"}, "backend_type"),
        ({"protocol_version": 4}, "protocol_version"),
        ({"receive_timeout_in_seconds": 0}, "receive_timeout_in_seconds"),
        ({"backend_layer_kwargs": {"host": "x"}}, "unknown key host"),
    ],
)
def test_bad_settings_fail_at_construction_naming_the_key(kwargs: dict[str, object], key: str) -> None:
    """A bad transport setting raises ValueError naming the key, before anything connects."""
    settings: dict[str, object] = {"backend_type": "redis.standard", **kwargs}
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        RedisClientTransport("echo", **settings)  # type: ignore[arg-type]


def test_missing_backend_type_fails() -> None:
    """backend_type is required, as in PySOA."""
    with pytest.raises(ValueError, match="backend_type"):
        RedisClientTransport("echo")


def test_bad_chunk_settings_fail() -> None:
    """Chunking below 102400 bytes, or with a maximum under five chunks, is refused at construction."""
    with pytest.raises(ValueError, match="chunk_messages_larger_than_bytes"):
        RedisServerTransport("echo", backend_type="redis.standard", chunk_messages_larger_than_bytes=1000)
    with pytest.raises(ValueError, match="maximum_message_size_in_bytes"):
        RedisServerTransport("echo", backend_type="redis.standard", chunk_messages_larger_than_bytes=102400)


def test_a_recording_recorder_times_each_side_deserializing(
    make_client: ClientFactory, make_server: ServerFactory
) -> None:
    """With a recorder that records, the request's and the reply's deserialization are timed (``receive.deserialize``)
    on each side, the core decoding them through the transport's timed call; the round trip is unchanged."""
    client_metrics, server_metrics = RecordingMetrics(), RecordingMetrics()
    client, server = make_client(metrics=client_metrics), make_server(metrics=server_metrics)
    client.send_request_message(1, {}, job_request())
    request_id, meta, body = server.receive_request_message()
    assert (request_id, body) == (1, job_request())
    server.send_response_message(request_id, meta, job_response(n=1))
    assert client.receive_response_message(5).body == job_response(n=1)
    assert server_metrics.timers["server.transport.redis_gateway.receive.deserialize"] == 1
    assert client_metrics.timers["client.transport.redis_gateway.receive.deserialize"] == 1
