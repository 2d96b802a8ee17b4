"""The asyncio driver accepts each call's own reply only, popped in batches: foreign, duplicated, forged and
malformed replies are dropped and counted, a big reply is decoded off the loop in its turn.

Replies are pushed by hand into a real Redis, as a server (or an attacker) would, using the requests the
transport queued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer
from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport
from pysoa_like.common.transport.redis_gateway.protocol import frame_message
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response, queued_request

ERROR = "client.transport.redis_gateway.receive.error."
MSGPACK = "application/msgpack"


def _reply(request_id: Any, meta: dict[str, Any], **body: Any) -> bytes:
    envelope = {"request_id": request_id, "meta": meta, "body": job_response(**body)}
    return frame_message(MsgpackSerializer().dict_to_blob(envelope), MSGPACK)


def _transport(transport_kwargs: dict[str, Any], metrics: RecordingMetrics) -> AsyncRedisClientTransport:
    return AsyncRedisClientTransport("echo", metrics, **transport_kwargs, maximum_message_size_in_bytes=2**20)


async def _sent(transport: AsyncRedisClientTransport, raw_redis: redis.Redis, count: int) -> list[dict[str, Any]]:
    """Send requests 1..count; their metas as a server sees them."""
    for request_id in range(1, count + 1):
        await transport.send_request_message(request_id, {"client_version": [1, 4, 9]}, job_request())
    # A call waiting for its reply does not wait for its push: it is written in the loop's next turn.
    for _ in range(500):
        if raw_redis.llen("pysoa:service.echo") == count:
            break
        await asyncio.sleep(0.01)
    queued = [queued_request(raw_redis) for _ in range(count)]
    assert [request_id for request_id, _meta in queued] == list(range(1, count + 1))
    return [meta for _request_id, meta in queued]


def _push(raw_redis: redis.Redis, meta: dict[str, Any], *messages: bytes) -> None:
    raw_redis.rpush("pysoa:" + meta["reply_to"], *messages)


def _three_calls_answered(
    transport: AsyncRedisClientTransport,
    raw_redis: redis.Redis,
    replies: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], list[bytes]],
) -> list[ReceivedMessage]:
    """Send requests 1 to 3, push ``replies(*their metas)`` onto the reply list in one go, and return what each
    call received (in request order); the transport is closed at the end."""

    async def calls() -> list[ReceivedMessage]:
        metas = await _sent(transport, raw_redis, 3)
        _push(raw_redis, metas[0], *replies(*metas))
        received = await asyncio.gather(*(transport.receive_response_message(i, 5) for i in (1, 2, 3)))
        await transport.aclose()
        return received

    return asyncio.run(calls())


def test_foreign_duplicated_forged_and_malformed_replies_are_dropped_and_each_call_gets_its_own(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """Replies popped in one batch: the junk among them is counted by kind; each call gets its own reply once."""

    def replies(first: dict[str, Any], second: dict[str, Any], third: dict[str, Any]) -> list[bytes]:
        forged = {**first, "reply_nonce": "0000000000000000"}
        return [
            _reply(999, first, who="stranger"),
            _reply(1, forged, who="attacker"),
            _reply(1, first, n=1),
            _reply(1, first, n=1),  # a duplicate
            b"not a framed message",
            _reply(3, third, n=3),
            _reply(2, second, n=2),
        ]

    received = _three_calls_answered(_transport(transport_kwargs, metrics), raw_redis, replies)
    assert [(reply.request_id, reply.body) for reply in received] == [(i, job_response(n=i)) for i in (1, 2, 3)]
    # The transports sharing a reply list tell calls apart by id and nonce: a wrong nonce names no call.
    assert metrics.counters[ERROR + "unknown_reply"] + metrics.counters.get(ERROR + "forged_reply", 0) == 3
    assert metrics.counters[ERROR + "invalid_message"] == 1


def test_a_big_reply_is_decoded_off_the_loop_in_its_turn_and_a_broken_one_is_dropped(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A reply over 256 KiB among small ones reaches its call; a big one that cannot be decoded is counted."""

    def replies(first: dict[str, Any], second: dict[str, Any], third: dict[str, Any]) -> list[bytes]:
        return [
            _reply(1, first, n=1),
            frame_message(b"\xc1" * 300_000, MSGPACK),  # never valid msgpack
            _reply(2, second, blob="x" * 300_000),
            _reply(3, third, n=3),
        ]

    first, second, third = _three_calls_answered(_transport(transport_kwargs, metrics), raw_redis, replies)
    assert (first.body, third.body) == (job_response(n=1), job_response(n=3))
    assert second.body == job_response(blob="x" * 300_000)
    assert metrics.counters[ERROR + "invalid_message"] == 1


def test_replies_in_another_content_type_than_the_default_are_decoded_with_its_serializer(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A msgpack client gets JSON replies (a server answering in another serializer): each is decoded with the
    serializer its content-type names, and replies without a content-type with the default one."""

    def json_reply(request_id: int, meta: dict[str, Any], **body: Any) -> bytes:
        envelope = {"request_id": request_id, "meta": meta, "body": job_response(**body)}
        return frame_message(JSONSerializer().dict_to_blob(envelope), "application/json")

    def replies(first: dict[str, Any], second: dict[str, Any], third: dict[str, Any]) -> list[bytes]:
        envelope = {"request_id": 3, "meta": third, "body": job_response(n=3)}
        return [
            json_reply(1, first, n=1),
            json_reply(2, second, n=2),
            b"pysoa-redis/3//" + MsgpackSerializer().dict_to_blob(envelope),
        ]

    received = _three_calls_answered(_transport(transport_kwargs, metrics), raw_redis, replies)
    assert [message.body for message in received] == [job_response(n=1), job_response(n=2), job_response(n=3)]


def test_replies_to_forty_waiting_calls_pushed_at_once_in_reverse_each_reach_their_call(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """Forty calls wait (the reader takes replies in batches, pausing between pops): each gets its own reply."""

    async def calls() -> list[ReceivedMessage]:
        transport = _transport(transport_kwargs, metrics)
        metas = await _sent(transport, raw_redis, 40)
        waiting = asyncio.gather(*(transport.receive_response_message(i, 5) for i in range(1, 41)))
        await asyncio.sleep(0.05)  # the reader is blocked in its pop
        _push(raw_redis, metas[0], *(_reply(i, metas[i - 1], n=i) for i in range(40, 0, -1)))
        received = await waiting
        await transport.aclose()
        return received

    received = asyncio.run(calls())
    assert [(reply.request_id, reply.body) for reply in received] == [(i, job_response(n=i)) for i in range(1, 41)]
    assert not any(name.startswith(ERROR) for name in metrics.counters)


class _UnreadableSerializer(MsgpackSerializer):
    """Writes MessagePack but cannot read: its decoding fails with an error of its own, as a custom one may."""

    mime_type = "application/x-unreadable-async-reply-test"

    def blob_to_dict(self, blob: Any) -> dict[Any, Any]:
        raise ValueError("this serializer reads nothing")


def test_a_reply_its_serializer_cannot_read_is_dropped_and_the_reader_goes_on(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A serializer's own error (not the library's ``InvalidMessage``) on a popped reply drops that reply, counted as
    ``invalid_message``; the reader carries on and every call gets its reply (the error used to end the reader, and
    the calls waited for their timeout)."""
    transport = _transport(transport_kwargs, metrics)

    def replies(first: dict[str, Any], second: dict[str, Any], third: dict[str, Any]) -> list[bytes]:
        envelope = {"request_id": 1, "meta": first, "body": job_response(who="unreadable")}
        unreadable = frame_message(_UnreadableSerializer().dict_to_blob(envelope), _UnreadableSerializer.mime_type)
        return [unreadable, *(_reply(i, meta, who=i) for i, meta in ((1, first), (2, second), (3, third)))]

    received = _three_calls_answered(transport, raw_redis, replies)
    assert [message.body for message in received] == [job_response(who=i) for i in (1, 2, 3)]
    assert metrics.counters[ERROR + "invalid_message"] == 1


def test_an_expired_or_unusable_reply_fails_its_own_call_only(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """Call 1's reply expired and call 2's has a body that is not a map: each of those calls fails with what went
    wrong (both counted and dropped); call 3 gets its reply."""
    transport = _transport(transport_kwargs, metrics)

    async def calls() -> list[Any]:
        first, second, third = await _sent(transport, raw_redis, 3)
        expired = {"request_id": 1, "meta": {**first, "__expiry__": time.time() - 30}, "body": job_response()}
        unusable = {"request_id": 2, "meta": second, "body": "not a map"}
        _push(
            raw_redis,
            first,
            *(frame_message(MsgpackSerializer().dict_to_blob(envelope), MSGPACK) for envelope in (expired, unusable)),
            _reply(3, third, n=3),
        )
        results = await asyncio.gather(
            *(transport.receive_response_message(i, 5) for i in (1, 2, 3)), return_exceptions=True
        )
        await transport.aclose()
        return results

    started = time.monotonic()
    first, second, third = asyncio.run(calls())
    assert time.monotonic() - started < 4  # failed when their replies came, not at their timeout
    assert isinstance(first, MessageReceiveTimeout) and str(first) == "The reply expired before it was received"
    assert isinstance(second, InvalidMessageError) and str(second).startswith("The reply is unusable: ")
    assert third.body == job_response(n=3)
    assert metrics.counters[ERROR + "message_expired"] == metrics.counters[ERROR + "invalid_message"] == 1
