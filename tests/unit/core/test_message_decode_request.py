"""Tests of ``decode_request``: a popped request's bytes to what the server serves, or the reason it is refused
(PROTOCOL.md sections 3, 4, 5 and 9), through the core's own API."""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.serializer.json_serializer import JSONSerializer
from pysoa_like.common.serializer.msgpack_serializer import MsgpackSerializer
from pysoa_like.common.transport.base import ReceivedMeta
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.message import RequestMeta, UndecodableRequest, decode_request
from pysoa_like.core.nesting import MAXIMUM_NESTING_DEPTH

NOW = 1_700_000_000.25
_REPLY_TO = "service.echo.0123456789abcdef!7f9c5f051b80"
_META = {"reply_to": _REPLY_TO, "client_version": [1, 4, 9], "__expiry__": NOW + 5.0}
_MSGPACK = MsgpackSerializer()
_JSON = JSONSerializer()
_SERIALIZERS: dict[str | None, Serializer] = {
    None: _MSGPACK,
    "application/msgpack": _MSGPACK,
    "application/json": _JSON,
}


def _decode(raw: bytes, deserialize: Any = None) -> Any:
    return decode_request(raw, _SERIALIZERS, NOW, "echo", deserialize)


def _v3(message: Any, headers: bytes = b"content-type:application/msgpack;") -> bytes:
    return b"pysoa-redis/3//" + headers + msgpack.packb(message, use_bin_type=True)


def _refusal(raw: bytes) -> UndecodableRequest:
    with pytest.raises(UndecodableRequest) as caught:
        _decode(raw)
    return caught.value


def test_a_good_request_comes_with_a_meta_remembering_its_framing() -> None:
    """Id, meta and body come back; the meta is a ``RequestMeta`` (a ``ReceivedMeta``) with the request's protocol
    version, serializer, client version and deadline, and no problem."""
    body = {"control": {}, "context": {}, "actions": [{"action": "ping", "body": {}}]}
    request_id, meta, received_body = _decode(_v3({"request_id": 7, "meta": dict(_META), "body": body}))
    assert (request_id, dict(meta), received_body) == (7, _META, body)
    assert isinstance(meta, RequestMeta) and isinstance(meta, ReceivedMeta)
    assert meta.protocol_version is ProtocolVersion.VERSION_3 and meta.serializer is _MSGPACK
    assert (meta.client_version, meta.deadline, meta.client_version_problem, meta.delivery) == (
        (1, 4, 9),
        NOW + 5.0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("raw", "version", "serializer"),
    [
        (msgpack.packb({"request_id": 1, "meta": _META}, use_bin_type=True), ProtocolVersion.VERSION_1, _MSGPACK),
        (
            b"content-type:application/json;" + b'{"request_id": 1, "meta": {"reply_to": "%s"}}' % _REPLY_TO.encode(),
            ProtocolVersion.VERSION_2,
            _JSON,
        ),
    ],
    ids=["v1", "v2 json"],
)
def test_older_framings_and_other_serializers_are_remembered(
    raw: bytes, version: ProtocolVersion, serializer: Any
) -> None:
    """The meta remembers a version 1 or 2 framing and the serializer the ``content-type`` named."""
    meta = _decode(raw).meta
    assert meta.protocol_version is version and meta.serializer is serializer


def test_a_malformed_client_version_is_served_and_reported_on_the_meta() -> None:
    """A malformed ``client_version`` does not refuse the request: its client is taken for 0.40.0, and why is kept."""
    meta = _decode(_v3({"request_id": 1, "meta": dict(_META, client_version="1.4")})).meta
    assert meta.client_version == (0, 40, 0)
    assert meta.client_version_problem is not None and "client_version" in meta.client_version_problem


def test_the_deserialize_hook_is_called_with_the_serializer_and_the_payload() -> None:
    """A transport that times its deserialization gets the call instead of the serializer's own method."""
    calls: list[tuple[Any, bytes]] = []

    def deserialize(serializer: Serializer, payload: Any) -> Any:
        calls.append((serializer, bytes(payload)))
        return serializer.blob_to_dict(bytes(payload))

    message = {"request_id": 3, "meta": dict(_META)}
    assert _decode(_v3(message), deserialize).request_id == 3
    assert calls == [(_MSGPACK, msgpack.packb(message, use_bin_type=True))]


def test_an_expired_request_raises_the_expiry() -> None:
    """An expired request is not a refusal: it is dropped silently, as PySOA does."""
    with pytest.raises(MessageReceiveTimeout, match=r"^Message expired for service echo$"):
        _decode(_v3({"request_id": 1, "meta": dict(_META, __expiry__=NOW - 1)}))


def test_refusals_before_the_envelope_carry_no_message() -> None:
    """Unknown versions, bad framing, chunks and undecodable payloads are refused with nothing read to answer with."""
    newer = _refusal(b"pysoa-redis/9//" + msgpack.packb({"request_id": 1}))
    assert newer.reason == "unsupported_protocol_version"
    chunk = _refusal(_v3({"request_id": 1}, b"content-type:application/msgpack;chunk-count:2;chunk-id:1;"))
    assert chunk.reason == "chunked_request" and "chunked request" in str(chunk.error)
    garbage = _refusal(b"pysoa-redis/3//content-type:application/msgpack;\xc1")
    assert garbage.reason == "invalid_message"
    for refusal in (newer, chunk, garbage):
        assert (refusal.message, refusal.version, refusal.serializer) == (None, None, None)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"meta": dict(_META), "body": {}}, "no_request_id"),
        ({"request_id": 1, "meta": dict(_META), "body": [1]}, "invalid_message"),
    ],
)
def test_a_bad_envelope_is_refused_with_what_an_answer_needs(message: Any, reason: str) -> None:
    """The deserialized message, its framing version and serializer come with the refusal: the answer uses them."""
    refusal = _refusal(_v3(message))
    assert refusal.reason == reason and isinstance(refusal.error, InvalidMessageError)
    assert (refusal.message, refusal.version, refusal.serializer) == (message, ProtocolVersion.VERSION_3, _MSGPACK)


def test_too_deep_nesting_is_refused_first() -> None:
    deep: Any = 1
    for _ in range(MAXIMUM_NESTING_DEPTH + 5):
        deep = [deep]
    raw = b"pysoa-redis/3//content-type:application/json;" + _JSON.dict_to_blob({"meta": dict(_META), "body": deep})
    assert _refusal(raw).reason == "too_deep"


@pytest.mark.parametrize(
    ("reply_to", "reason"),
    [(None, "missing_reply_queue"), ("", "missing_reply_queue"), ("service.echo", "invalid_reply_queue")],
)
def test_a_reply_queue_a_server_must_not_push_to_is_refused(reply_to: Any, reason: str) -> None:
    """No reply queue, or one a server must not push to: refused, with no answer (there is nowhere to send it)."""
    refusal = _refusal(_v3({"request_id": 1, "meta": dict(_META, reply_to=reply_to), "body": {}}))
    assert refusal.reason == reason and refusal.serializer is None


def test_a_suppressed_response_needs_no_reply_queue() -> None:
    body = {"control": {"suppress_response": True}, "actions": []}
    assert _decode(_v3({"request_id": 1, "meta": {}, "body": body})).body == body
