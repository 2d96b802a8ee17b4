"""Requests and replies travel through a real Redis in every protocol version and serializer."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from tests.integration.redis_transport._helpers import SERIALIZERS, job_request, job_response

ClientFactory = Callable[..., RedisClientTransport]
ServerFactory = Callable[..., RedisServerTransport]

_EXPECTED_PREFIX = {
    (1, "msgpack"): b"\x83",
    (1, "json"): b'{"request_id"',
    (2, "msgpack"): b"content-type:application/msgpack;\x83",
    (2, "json"): b'content-type:application/json;{"request_id"',
    (3, "msgpack"): b"pysoa-redis/3//content-type:application/msgpack;\x83",
    (3, "json"): b'pysoa-redis/3//content-type:application/json;{"request_id"',
}


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_round_trip_in_each_version_and_serializer(
    make_client: ClientFactory, make_server: ServerFactory, raw_redis: redis.Redis, version: int, serializer: str
) -> None:
    """A request and its reply keep the client's framing and serializer on the wire, and arrive intact."""
    client = make_client(protocol_version=version, default_serializer_config=SERIALIZERS[serializer])
    # Version 1 names no serializer, so both sides must be configured alike; otherwise the server keeps its
    # default (msgpack) and must still answer in the request's serializer.
    server = make_server(default_serializer_config=SERIALIZERS[serializer]) if version == 1 else make_server()
    client.send_request_message(42, {"client_version": [1, 4, 9]}, job_request())
    [raw_request] = raw_redis.lrange("pysoa:service.echo", 0, -1)
    assert raw_request.startswith(_EXPECTED_PREFIX[(version, serializer)])

    request_id, meta, body = server.receive_request_message()
    assert request_id == 42
    assert body == job_request()
    assert list(meta) == ["client_version", "reply_to", "reply_nonce", "__expiry__"]

    server.send_response_message(request_id, meta, job_response(y=2))
    reply_key = "pysoa:" + meta["reply_to"]
    [raw_reply] = raw_redis.lrange(reply_key, 0, -1)
    assert raw_reply.startswith(_EXPECTED_PREFIX[(version, serializer)])

    reply = client.receive_response_message(1)
    assert reply.request_id == 42
    assert reply.body == job_response(y=2)
    assert reply.meta is not None
    assert reply.meta["reply_to"] == meta["reply_to"]
    assert reply.meta["__expiry__"] >= meta["__expiry__"]


def test_reply_key_is_per_transport_and_thread(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """reply_to is service.<S>.<32 hex client id>!<thread hex>, differing between transports and threads."""
    first, second = make_client(), make_client()
    first.send_request_message(1, {}, job_request())
    second.send_request_message(2, {}, job_request())

    def send_from_thread() -> None:
        first.send_request_message(3, {}, job_request())

    thread = threading.Thread(target=send_from_thread)
    thread.start()
    thread.join()
    server_reader = make_client()  # only to reuse its serializer for decoding raw bytes
    reply_tos = []
    for raw in raw_redis.lrange("pysoa:service.echo", 0, -1):
        envelope = server_reader.core.default_serializer.blob_to_dict(raw.split(b";", 1)[1])
        reply_tos.append(envelope["meta"]["reply_to"])
    pattern = re.compile(r"service\.echo\.([0-9a-f]{32})!([0-9a-f]{12,})")
    matches = [pattern.fullmatch(reply_to) for reply_to in reply_tos]
    assert all(matches)
    assert matches[0] is not None and matches[1] is not None and matches[2] is not None
    assert matches[0].group(1) == first.client_id != matches[1].group(1)
    assert matches[0].group(2) != matches[2].group(2)
    assert first.requests_outstanding == 1  # the other thread's request is counted in that thread


def test_receive_with_nothing_outstanding_does_not_touch_redis() -> None:
    """With no request outstanding in this thread, a receive returns (None, None, None) even if Redis is down."""
    client = RedisClientTransport(
        "echo", backend_type="redis.standard", backend_layer_kwargs={"hosts": ["redis://127.0.0.1:1/0"]}
    )
    assert client.receive_response_message(5) == ReceivedMessage(None, None, None)


def test_suppressed_request_is_not_awaited(make_client: ClientFactory, raw_redis: redis.Redis) -> None:
    """A suppress_response request is sent but not counted, so the next receive returns at once."""
    client = make_client()
    client.send_request_message(1, {}, job_request(suppress_response=True))
    assert raw_redis.llen("pysoa:service.echo") == 1
    assert client.requests_outstanding == 0
    assert client.receive_response_message(5) == ReceivedMessage(None, None, None)


def test_float_receive_timeout(make_client: ClientFactory) -> None:
    """A fractional receive timeout waits about that long and raises MessageReceiveTimeout."""
    client = make_client()
    client.send_request_message(1, {}, job_request())
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(0.3)
    assert 0.25 <= time.monotonic() - started < 2.0
    assert client.requests_outstanding == 1


def test_blpop_longer_than_socket_timeout(make_client: ClientFactory, transport_kwargs: dict[str, Any]) -> None:
    """A receive may wait longer than the connection's socket_timeout without a spurious read timeout."""
    kwargs = {"hosts": transport_kwargs["backend_layer_kwargs"]["hosts"], "connection_kwargs": {"socket_timeout": 0.2}}
    client = make_client(backend_layer_kwargs=kwargs)
    client.send_request_message(1, {}, job_request())
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(0.8)
    assert time.monotonic() - started >= 0.75


def test_request_meta_is_not_modified(make_client: ClientFactory) -> None:
    """The caller's meta dict is copied, never changed."""
    meta: dict[str, Any] = {"client_version": [1, 0, 0]}
    make_client().send_request_message(1, meta, job_request())
    assert meta == {"client_version": [1, 0, 0]}


def test_reply_echoes_extra_request_meta(make_client: ClientFactory, make_server: ServerFactory) -> None:
    """Extra request meta keys added by middleware come back in the reply meta."""
    client, server = make_client(), make_server()
    client.send_request_message(5, {"client_version": [1, 4, 9], "trace": "t-1"}, job_request())
    request_id, meta, _ = server.receive_request_message()
    server.send_response_message(request_id, meta, job_response())
    reply = client.receive_response_message(1)
    assert reply.meta is not None and reply.meta["trace"] == "t-1"


def test_unknown_content_type_falls_back_to_default_serializer(
    make_server: ServerFactory, raw_redis: redis.Redis
) -> None:
    """A request naming an unregistered MIME type is read with the server's default serializer."""
    from pysoa_like.common.serializer import MsgpackSerializer

    payload = MsgpackSerializer().dict_to_blob({"request_id": 9, "meta": {"reply_to": "x!1"}, "body": job_request()})
    raw_redis.rpush("pysoa:service.echo", b"pysoa-redis/3//content-type:application/x-foo;" + payload)
    request_id, _, body = make_server().receive_request_message()
    assert (request_id, body) == (9, job_request())
