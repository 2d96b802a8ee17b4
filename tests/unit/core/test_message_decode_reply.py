"""Tests of ``decode_reply`` and ``accept_reply``: a popped reply's bytes to the message its waiting call gets, or why
it is dropped (PROTOCOL.md sections 3, 4 and 5), through the core's own API."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.serializer.msgpack_serializer import MsgpackSerializer
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.core.message import (
    DroppedReply,
    PendingReplies,
    ReceivedMessage,
    ReplyChunk,
    accept_reply,
    decode_reply,
)

NOW = 1_700_000_000.25
_MSGPACK = MsgpackSerializer()


class _Unreadable(Serializer):
    """A serializer whose decoding fails with an error of its own (not the library's InvalidMessage)."""

    mime_type = "application/x-unreadable-test"

    def dict_to_blob(self, message_dict: dict[Any, Any]) -> bytes:
        return b""

    def blob_to_dict(self, blob: bytes) -> dict[Any, Any]:
        raise ValueError("cannot read this")


_SERIALIZERS: dict[str | None, Serializer] = {
    None: _MSGPACK,
    "application/msgpack": _MSGPACK,
    _Unreadable.mime_type: _Unreadable(),
}


def _awaiting(*ids: int) -> PendingReplies:
    pending = PendingReplies()
    for request_id in ids:
        pending.expect(request_id, f"nonce-{request_id}", forget_after=NOW + 100, now=NOW)
    return pending


def _reply(request_id: Any, nonce: str | None = None, expiry: float = NOW + 60, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"__expiry__": expiry}
    if nonce is not None:
        meta["reply_nonce"] = nonce
    return {"request_id": request_id, "meta": meta, "body": {"actions": []}, **extra}


def _v3(message: Any, headers: bytes = b"content-type:application/msgpack;") -> bytes:
    return b"pysoa-redis/3//" + headers + msgpack.packb(message, use_bin_type=True)


def _dropped(raw: bytes, pending: PendingReplies) -> DroppedReply:
    with pytest.raises(DroppedReply) as caught:
        decode_reply(raw, _SERIALIZERS, NOW, "echo", pending)
    return caught.value


def test_the_awaited_reply_is_decoded_and_no_longer_awaited() -> None:
    pending = _awaiting(4, 5)
    received = decode_reply(_v3(_reply(4, "nonce-4")), _SERIALIZERS, NOW, "echo", pending)
    assert received == ReceivedMessage(4, {"__expiry__": NOW + 60, "reply_nonce": "nonce-4"}, {"actions": []})
    assert list(pending) == [5]


def test_the_deserialize_hook_replaces_the_serializers_own_call() -> None:
    seen: list[Serializer] = []

    def deserialize(serializer: Serializer, payload: Any) -> Any:
        seen.append(serializer)
        return serializer.blob_to_dict(bytes(payload))

    decode_reply(_v3(_reply(4, "nonce-4")), _SERIALIZERS, NOW, "echo", _awaiting(4), deserialize)
    assert seen == [_MSGPACK]


def test_a_chunk_is_handed_back_to_the_driver() -> None:
    """Collecting the other chunks is I/O: the driver gets the parsed chunk, and nothing is judged yet."""
    pending = _awaiting(4)
    raw = _v3(_reply(4, "nonce-4"), b"content-type:application/msgpack;chunk-count:2;chunk-id:1;")
    with pytest.raises(ReplyChunk) as caught:
        decode_reply(raw, _SERIALIZERS, NOW, "echo", pending)
    assert (caught.value.parsed.chunk_count, caught.value.parsed.chunk_id) == (2, 1)
    assert list(pending) == [4]


@pytest.mark.parametrize(
    "raw",
    [
        b"pysoa-redis/3//content-type:application/msgpack;\xc1",
        _v3({"x": 1}, b"content-type:" + b"application/x-unreadable-test;"),
    ],
    ids=["bad msgpack", "serializer's own error"],
)
def test_an_unreadable_reply_is_dropped_as_invalid_and_answers_nobody(raw: bytes) -> None:
    pending = _awaiting(4)
    dropped = _dropped(raw, pending)
    assert (dropped.reason, dropped.answers) == ("invalid_message", None)
    assert dropped.error is not None
    assert list(pending) == [4]


@pytest.mark.parametrize(
    ("reply", "reason", "detail"),
    [
        (_reply(4, "wrong"), "forged_reply", "the reply to request 4 does not echo its request's nonce"),
        (_reply(4), "forged_reply", "the reply to request 4 does not echo its request's nonce"),
        (_reply(9, "nonce-9"), "unknown_reply", "no request 9 is awaited (late, duplicate or foreign)"),
    ],
    ids=["wrong nonce", "no nonce", "not awaited"],
)
def test_a_reply_for_no_waiting_call_is_dropped_and_the_wait_goes_on(reply: Any, reason: str, detail: str) -> None:
    pending = _awaiting(4)
    dropped = _dropped(_v3(reply), pending)
    assert (dropped.reason, str(dropped), dropped.answers, dropped.error) == (reason, detail, None, None)
    assert list(pending) == [4]


def test_an_expired_reply_names_the_awaited_call_it_answers() -> None:
    """The awaited call's own expired reply ends that call (the driver decides how); a stranger's answers nobody."""
    pending = _awaiting(4)
    own = _dropped(_v3(_reply(4, "nonce-4", expiry=NOW - 1)), pending)
    assert (own.reason, own.answers) == ("message_expired", 4)
    assert isinstance(own.error, MessageReceiveTimeout)
    assert not pending
    stranger = _dropped(_v3(_reply(9, "nonce-9", expiry=NOW - 1)), _awaiting(4))
    assert (stranger.reason, stranger.answers) == ("message_expired", None)


def test_an_unusable_envelope_names_the_call_it_answers_unless_its_id_cannot_be_awaited() -> None:
    own = _dropped(_v3(_reply(4, "nonce-4", body=[1])), _awaiting(4))
    assert (own.reason, own.answers) == ("invalid_message", 4) and isinstance(own.error, InvalidMessageError)
    unhashable = _dropped(_v3(_reply([4], "nonce-4", body=[1])), _awaiting(4))
    assert (unhashable.reason, unhashable.answers) == ("invalid_message", None)


def test_accept_reply_uses_the_drivers_own_keys() -> None:
    """A driver that awaits calls by another key than the request id (the asyncio one) gets that key back."""
    pending = PendingReplies()
    pending.expect(("call", 4), "n", forget_after=NOW + 100, now=NOW)

    def key_of(request_id: Any, meta: Any) -> Any:
        return ("call", request_id) if request_id == 4 else None

    key, received = accept_reply(_reply(4, "n"), NOW, "echo", pending, key_of)
    assert key == ("call", 4) and received.request_id == 4
    with pytest.raises(DroppedReply) as caught:
        accept_reply(_reply(5, "n"), NOW, "echo", pending, key_of)
    assert caught.value.reason == "unknown_reply"
