"""Chunked replies: split by the server for version 3 clients, pushed atomically, reassembled by the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageTooLarge
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.protocol import frame_message, split_into_chunks
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import (
    SERIALIZERS,
    RecordingMetrics,
    job_request,
    job_response,
    queued_request,
)

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]
_CHUNKING = {"chunk_messages_larger_than_bytes": 102400, "maximum_message_size_in_bytes": 5 * 102400}


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_large_reply_is_chunked_and_reassembled(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis, serializer: str
) -> None:
    """A 250,000-byte reply goes out as three framed chunks and the client gets the whole reply back."""
    metrics = RecordingMetrics()
    client = make_client(default_serializer_config=SERIALIZERS[serializer])
    server = make_server(metrics=metrics, **_CHUNKING)
    client.send_request_message(7, {}, job_request())
    request_id, meta, _ = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response(data="z" * 250_000))
    chunks = raw_redis.lrange("pysoa:" + meta["reply_to"], 0, -1)
    mime = f"application/{serializer}".encode()
    assert [chunk[: chunk.index(b";chunk-id:") + 12] for chunk in chunks] == [
        b"pysoa-redis/3//content-type:" + mime + b";chunk-count:3;chunk-id:%d;" % i for i in (1, 2, 3)
    ]
    assert metrics.values["server.transport.redis_gateway.send.chunk_count"] == [3]
    reply = client.receive_response_message(1)
    assert reply.request_id == 7
    assert reply.body == job_response(data="z" * 250_000)


@pytest.mark.parametrize("version", [1, 2])
def test_reply_needing_chunks_is_too_large_for_v1_and_v2(
    make_client: ClientFactory, make_server: ServerFactory, version: int
) -> None:
    """Version 1 and 2 clients cannot read chunks, so a reply over the chunk threshold is MessageTooLarge."""
    client, server = make_client(protocol_version=version), make_server(**_CHUNKING)
    client.send_request_message(1, {}, job_request())
    request_id, meta, _ = server.receive_request_message()
    with pytest.raises(MessageTooLarge):
        server.send_response_message(request_id, meta, job_response(data="z" * 150_000))


def test_reply_over_the_maximum_is_too_large(make_client: ClientFactory, make_server: ServerFactory) -> None:
    """Without chunking, a reply above maximum_message_size_in_bytes raises MessageTooLarge."""
    client, server = make_client(), make_server(maximum_message_size_in_bytes=1000)
    client.send_request_message(1, {}, job_request())
    request_id, meta, _ = server.receive_request_message()
    with pytest.raises(MessageTooLarge):
        server.send_response_message(request_id, meta, job_response(data="z" * 2000))


def _reply_bytes(meta: dict[str, Any], request_id: int, data: str) -> bytes:
    envelope = {"request_id": request_id, "meta": meta, "body": job_response(data=data)}
    return MsgpackSerializer().dict_to_blob(envelope)


def test_whole_reply_between_chunks_is_kept(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """A whole reply pushed between two chunks of another (PySOA servers do not push chunks atomically) is kept."""
    client = make_client()
    client.send_request_message(1, {}, job_request())
    client.send_request_message(2, {}, job_request())
    (_, meta_1), (_, meta_2) = queued_request(raw_redis), queued_request(raw_redis)
    first, second = split_into_chunks(_reply_bytes(meta_1, 1, "a" * 300), "application/msgpack", 300)
    whole = frame_message(_reply_bytes(meta_2, 2, "b"), "application/msgpack")
    raw_redis.rpush("pysoa:" + meta_1["reply_to"], first, whole, second)
    assert client.receive_response_message(1).request_id == 1
    assert client.receive_response_message(1).request_id == 2
    assert client.requests_outstanding == 0


def test_interleaved_chunks_are_dropped(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """Chunks out of sequence are dropped (and counted) instead of producing a corrupt reply; the wait goes on."""
    metrics = RecordingMetrics()
    client = make_client(metrics=metrics)
    client.send_request_message(1, {}, job_request())
    _, meta = queued_request(raw_redis)
    chunks = split_into_chunks(_reply_bytes(meta, 1, "a" * 300), "application/msgpack", 150)
    raw_redis.rpush("pysoa:" + meta["reply_to"], chunks[0], chunks[2], chunks[1])
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(0.3)
    assert metrics.counters["client.transport.redis_gateway.receive.error.invalid_message"] == 2
