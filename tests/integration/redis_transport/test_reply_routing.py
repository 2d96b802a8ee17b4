"""A client thread accepts its own replies only: each once, with the nonce its request carried, within bounds.

Replies are pushed by hand into a real Redis, as a server (or an attacker) would, using the request the client
queued.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.protocol import frame_message, split_into_chunks
from pysoa_like.core.worker_watch import worker_key
from pysoa_like.test.redis import RedisServerProcess
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response, queued_request
from tests.malformed_corpus import Kind, corpus

ClientFactory = Callable[..., RedisClientTransport]
ERROR = "client.transport.redis_gateway.receive.error."


def _reply(request_id: Any, meta: dict[str, Any], **body: Any) -> bytes:
    envelope = {"request_id": request_id, "meta": meta, "body": job_response(**body)}
    return frame_message(MsgpackSerializer().dict_to_blob(envelope), "application/msgpack")


def _sent(client: RedisClientTransport, raw_redis: redis.Redis, request_id: int) -> dict[str, Any]:
    """Send request ``request_id`` and return its meta as a server sees it."""
    client.send_request_message(request_id, {"client_version": [1, 4, 9]}, job_request())
    queued_id, meta = queued_request(raw_redis)
    assert queued_id == request_id
    return meta


def _push(raw_redis: redis.Redis, meta: dict[str, Any], *messages: bytes) -> None:
    raw_redis.rpush("pysoa:" + meta["reply_to"], *messages)


@pytest.fixture
def metrics() -> RecordingMetrics:
    return RecordingMetrics()


@pytest.fixture
def client(make_client: ClientFactory, metrics: RecordingMetrics) -> RedisClientTransport:
    return make_client(metrics=metrics)


def test_a_reply_with_a_foreign_request_id_is_dropped_and_the_wait_goes_on(
    client: RedisClientTransport, raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A stranger's reply ahead of ours is counted and skipped; ours is returned (PySOA's call failed at once)."""
    meta = _sent(client, raw_redis, 1)
    _push(raw_redis, meta, _reply(999, meta, who="stranger"), _reply(1, meta, who="ours"))
    reply = client.receive_response_message(2)
    assert (reply.request_id, reply.body) == (1, job_response(who="ours"))
    assert metrics.counters[ERROR + "unknown_reply"] == 1
    assert client.requests_outstanding == 0


def test_a_duplicated_reply_is_dropped_and_later_calls_get_their_own(
    client: RedisClientTransport, raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A reply sent twice is taken once; the copy never stands in for the next request's reply."""
    first = _sent(client, raw_redis, 1)
    _push(raw_redis, first, _reply(1, first, n=1), _reply(1, first, n=1))
    assert client.receive_response_message(2).request_id == 1
    second = _sent(client, raw_redis, 2)
    _push(raw_redis, second, _reply(2, second, n=2))
    reply = client.receive_response_message(2)
    assert (reply.request_id, reply.body) == (2, job_response(n=2))
    assert metrics.counters[ERROR + "unknown_reply"] == 1


@pytest.mark.parametrize("nonce", [None, "0000000000000000"], ids=["no-nonce", "wrong-nonce"])
def test_a_reply_without_its_requests_nonce_is_refused(
    client: RedisClientTransport, raw_redis: redis.Redis, metrics: RecordingMetrics, nonce: str | None
) -> None:
    """A reply with the awaited id but not the request's nonce (a forgery through a server) is dropped."""
    meta = _sent(client, raw_redis, 1)
    forged_meta = {key: value for key, value in meta.items() if key != "reply_nonce"}
    if nonce is not None:
        forged_meta["reply_nonce"] = nonce
    _push(raw_redis, meta, _reply(1, forged_meta, who="attacker"), _reply(1, meta, who="server"))
    assert client.receive_response_message(2).body == job_response(who="server")
    assert metrics.counters[ERROR + "forged_reply"] == 1


def test_replies_without_a_nonce_can_be_allowed_but_never_a_wrong_one(
    make_client: ClientFactory, raw_redis: redis.Redis
) -> None:
    """With require_reply_nonce=False a reply that echoes no nonce is accepted; a wrong nonce still is not."""
    client = make_client(require_reply_nonce=False)
    meta = _sent(client, raw_redis, 1)
    wrong = {**meta, "reply_nonce": "ffffffffffffffff"}
    bare = {key: value for key, value in meta.items() if key != "reply_nonce"}
    _push(raw_redis, meta, _reply(1, wrong, who="attacker"), _reply(1, bare, who="rebuilt meta"))
    assert client.receive_response_message(2).body == job_response(who="rebuilt meta")


def test_reply_queues_are_random_per_client_instance_and_thread(
    make_client: ClientFactory, raw_redis: redis.Redis
) -> None:
    """Each transport and thread gets 32 + 16 random hex digits, nothing derived from the host, process or thread."""
    names: list[str] = []

    def send(client: RedisClientTransport) -> None:
        names.append(_sent(client, raw_redis, 1)["reply_to"])

    first, second = make_client(), make_client()
    send(first)
    send(second)
    thread = threading.Thread(target=send, args=(first,))
    thread.start()
    thread.join()
    parts = [re.fullmatch(r"service\.echo\.([0-9a-f]{32})!([0-9a-f]{16})", name) for name in names]
    assert all(parts), names
    client_ids = [match.group(1) for match in parts if match]
    thread_keys = [match.group(2) for match in parts if match]
    assert client_ids[0] == client_ids[2] != client_ids[1]
    assert len(set(thread_keys)) == 3
    assert format(threading.get_ident(), "x") not in names[0]


def test_a_trickling_chunked_reply_is_bounded_by_the_receive_timeout(
    client: RedisClientTransport, raw_redis: redis.Redis, redis_url: str
) -> None:
    """Chunks arriving one every 0.2 s no longer keep a 1 s receive reading (and growing) for as long as they come."""
    meta = _sent(client, raw_redis, 1)
    envelope = {"request_id": 1, "meta": meta, "body": job_response(data="x" * 200_000)}
    chunks = split_into_chunks(MsgpackSerializer().dict_to_blob(envelope), "application/msgpack", 2_000)
    stop = threading.Event()

    def trickle() -> None:
        with redis.Redis.from_url(redis_url) as pusher:
            for chunk in chunks:
                if stop.wait(0.2):
                    return
                pusher.rpush("pysoa:" + meta["reply_to"], chunk)

    pusher = threading.Thread(target=trickle)
    pusher.start()
    started = time.monotonic()
    try:
        with pytest.raises(MessageReceiveTimeout):
            client.receive_response_message(1)
    finally:
        stop.set()
        pusher.join()
    assert time.monotonic() - started < 2.5


def test_a_chunked_reply_over_the_maximum_size_is_dropped(
    make_client: ClientFactory, raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """Chunks adding up to more than maximum_reply_size_in_bytes are dropped; the next reply is still read."""
    client = make_client(metrics=metrics, maximum_reply_size_in_bytes=300_000)
    meta = _sent(client, raw_redis, 1)
    envelope = {"request_id": 1, "meta": meta, "body": job_response(data="x" * 400_000)}
    chunks = split_into_chunks(MsgpackSerializer().dict_to_blob(envelope), "application/msgpack", 100_000)
    _push(raw_redis, meta, *chunks, _reply(1, meta, small=True))
    assert client.receive_response_message(2).body == job_response(small=True)
    # The chunks after the one over the limit are dropped too: none of them starts a chunked reply.
    assert metrics.counters[ERROR + "invalid_message"] >= 1


@pytest.mark.parametrize("kind", corpus(), ids=lambda kind: kind.name)
def test_a_malformed_reply_never_takes_the_place_of_the_real_one(
    kind: Kind, client: RedisClientTransport, raw_redis: redis.Redis
) -> None:
    """Every corpus message pushed ahead of the real reply is dropped; the real reply is returned next."""
    meta = _sent(client, raw_redis, 7)  # the corpus' request id, without its nonce
    _push(raw_redis, meta, kind.raw, _reply(7, meta, real=True))
    received = []
    for _ in range(2):
        try:
            received.append(client.receive_response_message(0.5))
            break
        except MessageReceiveTimeout:
            continue  # an incomplete chunk sequence waits out the receive; the real reply is held back
    assert [reply.body for reply in received] == [job_response(real=True)]


class _UnreadableSerializer(MsgpackSerializer):
    """Writes MessagePack but cannot read: its decoding fails with an error of its own, as a custom one may."""

    mime_type = "application/x-unreadable-reply-test"

    def blob_to_dict(self, blob: Any) -> dict[Any, Any]:
        raise ValueError("this serializer reads nothing")


def test_a_reply_its_serializer_cannot_read_is_dropped_not_raised(
    client: RedisClientTransport, raw_redis: redis.Redis, metrics: RecordingMetrics
) -> None:
    """A serializer's own error (not the library's ``InvalidMessage``) on a popped reply drops that reply, counted as
    ``invalid_message``; the call still gets its real reply (the error used to end the receive)."""
    meta = _sent(client, raw_redis, 7)
    envelope = {"request_id": 7, "meta": meta, "body": job_response(real=False)}
    unreadable = frame_message(_UnreadableSerializer().dict_to_blob(envelope), _UnreadableSerializer.mime_type)
    _push(raw_redis, meta, unreadable, _reply(7, meta, real=True))
    assert client.receive_response_message(5).body == job_response(real=True)
    assert metrics.counters[ERROR + "invalid_message"] == 1


def _unusable_or_expired(request_id: int, meta: dict[str, Any], expired: bool) -> bytes:
    """The reply to ``request_id`` (its meta echoed, nonce and all), expired or with a body that is not a map."""
    if expired:
        envelope = {"request_id": request_id, "meta": {**meta, "__expiry__": time.time() - 30}, "body": job_response()}
    else:
        envelope = {"request_id": request_id, "meta": meta, "body": "not a map"}
    return frame_message(MsgpackSerializer().dict_to_blob(envelope), "application/msgpack")


def test_the_awaited_calls_expired_reply_ends_the_receive_at_once(
    client: RedisClientTransport, raw_redis: redis.Redis, metrics: RecordingMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    """PySOA's behaviour: the awaited reply, expired, is a timeout at once (counted, not logged as a dropped reply)."""
    meta = _sent(client, raw_redis, 7)
    _push(raw_redis, meta, _unusable_or_expired(7, meta, expired=True))
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout, match="expired"):
        client.receive_response_message(10)
    assert time.monotonic() - started < 5
    assert metrics.counters[ERROR + "message_expired"] == 1
    assert "Dropped a reply" not in caplog.text
    assert client.requests_outstanding == 0


def test_the_awaited_calls_unusable_reply_fails_the_receive(
    client: RedisClientTransport, raw_redis: redis.Redis
) -> None:
    meta = _sent(client, raw_redis, 7)
    _push(raw_redis, meta, _unusable_or_expired(7, meta, expired=False))
    with pytest.raises(InvalidMessageError, match=r"^The reply to request 7 is unusable: .*body is not a map"):
        client.receive_response_message(10)
    assert client.requests_outstanding == 0


def test_redis_failing_while_a_chunked_reply_is_collected_is_raised_not_dropped() -> None:
    """Redis stopping while the receive pops the rest of a chunked reply is a ``MessageReceiveError`` at once, as
    for any receive; not a dropped reply (counted ``invalid_message``) followed by waiting out the timeout."""
    metrics = RecordingMetrics()
    with RedisServerProcess() as server, server.client() as raw:
        client = RedisClientTransport(
            "echo", metrics, backend_type="redis.standard", backend_layer_kwargs={"hosts": [server.url]}
        )
        meta = _sent(client, raw, 1)
        envelope = {"request_id": 1, "meta": meta, "body": job_response(data="x" * 20_000)}
        first = split_into_chunks(MsgpackSerializer().dict_to_blob(envelope), "application/msgpack", 2_000)[0]
        _push(raw, meta, first)
        stopper = threading.Timer(0.5, server.kill)
        stopper.start()
        started = time.monotonic()
        try:
            with pytest.raises(MessageReceiveError):
                client.receive_response_message(20)
        finally:
            stopper.join()
        assert time.monotonic() - started < 15
        assert ERROR + "invalid_message" not in metrics.counters


@pytest.mark.parametrize("expired", [True, False], ids=["expired", "unusable"])
def test_a_watched_request_whose_reply_failed_its_call_is_no_longer_watched(
    make_client: ClientFactory, raw_redis: redis.Redis, expired: bool
) -> None:
    """With ``detect_dead_workers``: once the awaited call's expired or unusable reply ended the receive, that request
    is not watched any more, so its worker's liveness key going away later is nobody's news (a later receive used
    to return a made-up ``WORKER_DIED`` response for it)."""
    metrics = RecordingMetrics()
    client = make_client(metrics=metrics, detect_dead_workers=True)
    meta = _sent(client, raw_redis, 1)
    liveness_key = worker_key(meta["reply_to"], meta["reply_nonce"])
    raw_redis.set(liveness_key, b"1")  # a worker took the request
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(1.5)  # long enough for the client to see the key alive
    _push(raw_redis, meta, _unusable_or_expired(1, meta, expired))
    with pytest.raises(MessageReceiveTimeout if expired else InvalidMessageError):
        client.receive_response_message(5)
    raw_redis.delete(liveness_key)  # the worker goes away afterwards
    _sent(client, raw_redis, 2)
    with pytest.raises(MessageReceiveTimeout):
        client.receive_response_message(2.5)  # request 2's reply never comes; request 1 is nobody's concern now
    assert ERROR + "worker_died" not in metrics.counters
