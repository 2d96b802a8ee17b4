"""A bad request message never breaks the server transport: it is logged, counted, answered if possible, skipped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer, Serializer
from pysoa_like.common.transport.base import ReceivedMeta
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageTooLarge
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.protocol import frame_message, parse_message
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport, RequestMeta
from tests.integration.redis_transport._helpers import SERIALIZERS, RecordingMetrics, job_request, job_response

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]

QUEUE = "pysoa:service.echo"
REPLY_TO = "service.echo.0123456789abcdef0123456789abcdef!000000000001"
ERROR_PREFIX = "server.transport.redis_gateway.receive.error."


def _envelope(**overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "request_id": 11,
        "meta": {"client_version": [1, 4, 9], "reply_to": REPLY_TO},
        "body": job_request(),
    }
    envelope.update(overrides)
    return {key: value for key, value in envelope.items() if value is not None}


def _msgpack(envelope: dict[str, Any]) -> bytes:
    return MsgpackSerializer().dict_to_blob(envelope)


def _answer(raw_redis: redis.Redis) -> tuple[int, dict[str, Any]] | None:
    """The version and decoded envelope of the error reply sent to REPLY_TO, if any."""
    raw = raw_redis.lpop("pysoa:" + REPLY_TO)
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    parsed = parse_message(raw)
    serializer = Serializer.resolve_serializer(parsed.content_type or "application/msgpack")
    return int(parsed.version), serializer.blob_to_dict(parsed.payload)


def _serves_next(client: RedisClientTransport, server: RedisServerTransport) -> None:
    client.send_request_message(99, {"client_version": [1, 4, 9]}, job_request())
    assert server.receive_request_message().request_id == 99


@pytest.fixture
def server(make_server: ServerFactory, metrics: RecordingMetrics) -> RedisServerTransport:
    """A server transport recording its metrics."""
    return make_server(metrics=metrics)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xc1\xc1 garbage \x00\xff", id="garbage-bytes"),
        pytest.param(b"pysoa-redis/3//content-type:application/json;{not json", id="undecodable-json"),
        pytest.param(b"pysoa-redis/3//content-type:application/msgpack;\x93\x01", id="truncated-msgpack"),
        pytest.param(_msgpack({"request_id": 1, "meta": "x", "body": {}}), id="meta-not-a-map"),
        pytest.param(b"", id="empty-message"),
        pytest.param(b"pysoa-redis/3//chunk-count:x1;", id="bad-chunk-header"),
    ],
)
def test_undecodable_message_is_skipped(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
    caplog: pytest.LogCaptureFixture,
    raw: bytes,
) -> None:
    """An undecodable message is logged and counted; with no known reply queue nothing is answered."""
    client, server = client_and_server
    raw_redis.rpush(QUEUE, raw)
    _serves_next(client, server)
    assert metrics.counters[ERROR_PREFIX + "invalid_message"] == 1
    assert any(r.name == "pysoa_like.transport" and "Skipped a bad request" in r.getMessage() for r in caplog.records)


@pytest.fixture
def client_and_server(
    make_client: ClientFactory, server: RedisServerTransport
) -> tuple[RedisClientTransport, RedisServerTransport]:
    """A client and the recording server transport."""
    return make_client(), server


def test_unknown_protocol_version_is_answered_in_v3(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """A pysoa-redis/9// request with a readable envelope gets a v3 INVALID job error in its serializer."""
    client, server = client_and_server
    payload = JSONSerializer().dict_to_blob(_envelope())
    raw_redis.rpush(QUEUE, b"pysoa-redis/9//content-type:application/json;" + payload)
    _serves_next(client, server)
    answer = _answer(raw_redis)
    assert answer is not None
    version, envelope = answer
    assert version == 3
    assert envelope["request_id"] == 11
    [error] = envelope["body"]["errors"]
    assert error["code"] == "INVALID"
    assert "Unsupported Redis Gateway protocol version 9" in error["message"]
    assert error["is_caller_error"] is True
    assert envelope["body"]["actions"] == []
    assert metrics.counters[ERROR_PREFIX + "unsupported_protocol_version"] == 1


def test_unknown_protocol_version_with_garbage_is_skipped(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """A pysoa-redis/9// message that cannot be read is counted and skipped unanswered."""
    client, server = client_and_server
    raw_redis.rpush(QUEUE, b"pysoa-redis/9//\x00\x01\x02")
    _serves_next(client, server)
    assert _answer(raw_redis) is None
    assert metrics.counters[ERROR_PREFIX + "unsupported_protocol_version"] == 1


def test_missing_request_id_is_skipped(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """A request without request_id is counted and skipped: a reply could not be matched to any call."""
    client, server = client_and_server
    raw_redis.rpush(QUEUE, frame_message(_msgpack(_envelope(request_id=None)), "application/msgpack"))
    _serves_next(client, server)
    assert _answer(raw_redis) is None
    assert metrics.counters[ERROR_PREFIX + "no_request_id"] == 1


def test_missing_reply_to_is_skipped_without_running(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """A request without reply_to is not handed to the server (PySOA ran it, then crashed) and is counted."""
    client, server = client_and_server
    raw_redis.rpush(
        QUEUE, frame_message(_msgpack(_envelope(meta={"client_version": [1, 4, 9]})), "application/msgpack")
    )
    _serves_next(client, server)
    assert metrics.counters[ERROR_PREFIX + "missing_reply_queue"] == 1


def test_suppressed_request_without_reply_to_is_served(server: RedisServerTransport, raw_redis: redis.Redis) -> None:
    """A fire-and-forget request needs no reply queue, so it is served."""
    envelope = _envelope(meta={}, body=job_request(suppress_response=True))
    raw_redis.rpush(QUEUE, frame_message(_msgpack(envelope), "application/msgpack"))
    assert server.receive_request_message().request_id == 11


def test_chunked_request_is_answered(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """A request framed as a single chunk is refused with an INVALID job error, in its version and serializer."""
    client, server = client_and_server
    payload = _msgpack(_envelope())
    raw_redis.rpush(QUEUE, frame_message(payload, "application/msgpack", 3, chunk_count=1, chunk_id=1))
    _serves_next(client, server)
    answer = _answer(raw_redis)
    assert answer is not None
    assert answer[1]["body"]["errors"][0]["message"] == "Unsupported chunked request on server Redis backend"
    assert metrics.counters[ERROR_PREFIX + "chunked_request"] == 1


def test_multi_chunk_request_is_skipped(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """Every chunk of a multi-chunk request is counted and skipped; the next real request is served."""
    client, server = client_and_server
    payload = _msgpack(_envelope())
    half = len(payload) // 2
    raw_redis.rpush(
        QUEUE,
        frame_message(payload[:half], "application/msgpack", 3, chunk_count=2, chunk_id=1),
        frame_message(payload[half:], "application/msgpack", 3, chunk_count=2, chunk_id=2),
    )
    _serves_next(client, server)
    assert metrics.counters[ERROR_PREFIX + "chunked_request"] == 2
    assert _answer(raw_redis) is None


def test_bad_client_version_is_served_and_counted(
    server: RedisServerTransport, raw_redis: redis.Redis, metrics: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    """A string client_version is logged once and counted, and the request is still served (as a 0.40 client,
    the version the server is handed with the meta)."""
    envelope = _envelope(meta={"client_version": ["1", "x"], "reply_to": REPLY_TO})
    raw_redis.rpush(QUEUE, frame_message(_msgpack(envelope), "application/msgpack"))
    received = server.receive_request_message()
    assert received.request_id == 11
    assert isinstance(received.meta, ReceivedMeta) and received.meta.client_version == (0, 40, 0)
    assert metrics.counters[ERROR_PREFIX + "invalid_client_version"] == 1
    assert len([record for record in caplog.records if "client_version" in record.getMessage()]) == 1


def test_a_request_meta_is_built_whole(server: RedisServerTransport, raw_redis: redis.Redis) -> None:
    """The meta a received request carries has everything its reply needs (framing, serializer, client version,
    deadline, delivery), and one cannot be built from the meta dict alone."""
    expiry = time.time() + 30
    envelope = _envelope(meta={"reply_to": REPLY_TO, "client_version": [1, 4, 9], "__expiry__": expiry})
    raw_redis.rpush(QUEUE, frame_message(_msgpack(envelope), "application/msgpack", 3))
    meta = server.receive_request_message().meta
    assert isinstance(meta, RequestMeta) and meta["reply_to"] == REPLY_TO
    assert (meta.protocol_version, meta.serializer.mime_type) == (3, "application/msgpack")
    assert (meta.client_version, meta.deadline, meta.delivery) == ((1, 4, 9), expiry, None)
    with pytest.raises(TypeError):
        RequestMeta({"reply_to": REPLY_TO})  # type: ignore[call-arg]


def test_oversized_reply_error_uses_the_request_framing(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """After a reply is too large, the replacing error reply still goes out in the request's v1 + JSON framing."""
    client = make_client(protocol_version=1, default_serializer_config=SERIALIZERS["json"])
    server = make_server(maximum_message_size_in_bytes=1000, default_serializer_config=SERIALIZERS["json"])
    client.send_request_message(5, {"client_version": [1, 4, 9]}, job_request())
    request_id, meta, _ = server.receive_request_message()
    with pytest.raises(MessageTooLarge):
        server.send_response_message(request_id, meta, job_response(data="z" * 2000))
    error_body = {"errors": [{"code": "RESPONSE_TOO_LARGE", "message": "too large"}], "context": {}, "actions": []}
    server.send_response_message(request_id, meta, error_body)
    [raw] = raw_redis.lrange("pysoa:" + meta["reply_to"], 0, -1)
    assert raw.startswith(b'{"request_id": 5')
    assert client.receive_response_message(1).body == error_body


def test_many_bad_messages_then_a_good_one_in_one_receive(
    client_and_server: tuple[RedisClientTransport, RedisServerTransport],
    raw_redis: redis.Redis,
    metrics: RecordingMetrics,
) -> None:
    """One receive call skips a burst of bad messages and returns the good request behind them."""
    client, server = client_and_server
    raw_redis.rpush(QUEUE, *[b"garbage %d" % i for i in range(20)])
    _serves_next(client, server)
    assert metrics.counters[ERROR_PREFIX + "invalid_message"] == 20


def test_only_bad_messages_end_as_an_idle_receive(
    server: RedisServerTransport, raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """When only bad messages arrive, the receive raises MessageReceiveTimeout within its timeout."""
    raw_redis.rpush(QUEUE, b"garbage")
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        server.receive_request_message()
    assert time.monotonic() - started < 1.5
    assert metrics.counters[ERROR_PREFIX + "invalid_message"] == 1
