"""A corpus of malformed (and borderline) Redis Gateway messages, as a hostile or buggy peer could push them.

Every kind varies one thing of a well-formed message: the framing (protocol version prefix, headers), the
serializer (undecodable or pathological MessagePack and JSON), one envelope field (``request_id``, ``meta``,
``reply_to``, ``__expiry__``, ``client_version``, ``body`` and the job request inside it) or the chunk headers.
Each kind says what a hardened receiver must do with it: answer it on :data:`REPLY_TO` (with an error, or
normally where the message is acceptable after all), or drop it without an answer (no reply queue or request id
can be read, or the message expired).

The corpus is used three ways: as requests into a server transport (each kind handled, the next real request
served), as replies into a waiting client (each dropped, the real reply still returned) and by the storm test
(thousands of them into running workers).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgpack  # type: ignore[import-untyped,unused-ignore]

from pysoa_like.common.serializer import MsgpackSerializer

__all__ = [
    "FULL_REPLY_QUEUE",
    "NOT_A_LIST_KEY",
    "REPLY_TO",
    "SERVICE",
    "Kind",
    "corpus",
    "nested_request",
    "prepare_redis",
    "valid_envelope",
]

#: The service whose request queue the corpus targets.
SERVICE = "functional"
#: The reply queue every answerable kind names (a well-formed PySOA reply queue name).
REPLY_TO = "service.functional.0123456789abcdef0123456789abcdef!00000000c0de"
#: A key :func:`prepare_redis` fills with a hash (a ``reply_to`` naming it cannot take a reply).
NOT_A_LIST_KEY = "service.functional.not-a-list!0"
#: A reply list :func:`prepare_redis` fills to the default capacity (10,000 items).
FULL_REPLY_QUEUE = "service.functional.full!0"

_MSGPACK = "application/msgpack"
_JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class Kind:
    """One malformed message.

    Attributes:
        name: ``<group>:<what>``, unique in the corpus.
        raw: The bytes to push.
        answered: Whether a hardened server sends a reply to :data:`REPLY_TO` (error or not).
        has_errors: When answered, whether the reply carries job or action errors.
    """

    name: str
    raw: bytes
    answered: bool
    has_errors: bool = True

    @property
    def group(self) -> str:
        return self.name.split(":", 1)[0]


def valid_job(action: str = "who", **action_body: Any) -> dict[str, Any]:
    """A well-formed job request body with one action."""
    return {
        "control": {"continue_on_error": False, "suppress_response": False},
        "context": {"correlation_id": "corpus", "switches": []},
        "actions": [{"action": action, "body": dict(action_body)}],
    }


def valid_envelope(request_id: Any = 7, reply_to: str = REPLY_TO, body: Any = None) -> dict[str, Any]:
    """A well-formed request envelope (PySOA 1.4.9's shape)."""
    return {
        "request_id": request_id,
        "meta": {"client_version": [1, 4, 9], "reply_to": reply_to},
        "body": valid_job() if body is None else body,
    }


def _pack(value: Any) -> bytes:
    return MsgpackSerializer().dict_to_blob(value)


def _v3(payload: bytes, mime: str = _MSGPACK) -> bytes:
    return b"pysoa-redis/3//content-type:" + mime.encode() + b";" + payload


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


_PLACEHOLDER = "\x00splice\x00"


def _splice(envelope: dict[str, Any], raw_value: bytes) -> bytes:
    """MessagePack of ``envelope`` with the string :data:`_PLACEHOLDER` replaced by already-encoded bytes."""
    packed = msgpack.packb(envelope, use_bin_type=True)
    marker = msgpack.packb(_PLACEHOLDER, use_bin_type=True)
    assert packed.count(marker) == 1
    return packed.replace(marker, raw_value)


def _with(path: tuple[Any, ...], value: Any, delete: bool = False) -> dict[str, Any]:
    """A valid envelope with the item at ``path`` replaced (or deleted)."""
    envelope = valid_envelope()
    target: Any = envelope
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return envelope


def _framing() -> list[Kind]:
    good = _pack(valid_envelope())
    return [
        Kind("framing:empty", b"", False),
        Kind("framing:garbage", b"\xc1\xc1 garbage \x00\xff", False),
        Kind("framing:prefix-only", b"pysoa-redis/3//", False),
        Kind("framing:unknown-version", b"pysoa-redis/9//content-type:application/msgpack;" + good, True),
        Kind("framing:unknown-version-garbage", b"pysoa-redis/9//\x00\x01\x02", False),
        Kind("framing:huge-version", b"pysoa-redis/" + b"9" * 400 + b"//" + good, True),
        Kind("framing:version-zero", b"pysoa-redis/0//content-type:application/msgpack;" + good, True),
        Kind("framing:unknown-header", b"pysoa-redis/3//x-foo:bar;content-type:application/msgpack;" + good, False),
        Kind("framing:unknown-mime", _v3(good, "application/x-foo"), True, has_errors=False),
        Kind("framing:empty-content-type", b"pysoa-redis/3//content-type:;" + good, False),
        Kind("framing:mime-mismatch", b"content-type:application/json;" + good, False),
        Kind("framing:v1-json-to-msgpack-server", _json(valid_envelope()), False),
        Kind("framing:v2-msgpack", b"content-type:application/msgpack;" + good, True, has_errors=False),
        Kind("framing:v1-msgpack", good, True, has_errors=False),
        Kind("framing:spaced-header", b"pysoa-redis/3// content-type : application/msgpack ;" + good, True, False),
        Kind("framing:unterminated-header", b"pysoa-redis/3//content-type:application/msgpack" + good, False),
        Kind("framing:long-header-value", b"pysoa-redis/3//content-type:" + b"a" * 20000 + b";" + good, True, False),
        Kind(
            "framing:many-headers", b"pysoa-redis/3//" + b"content-type:application/msgpack;" * 2000 + good, True, False
        ),
        Kind("framing:nul-in-header", b"pysoa-redis/3//content-type:appli\x00cation/msgpack;" + good, False),
        Kind("framing:prefix-without-slashes", b"pysoa-redis/3" + good, False),
    ]


def _deep_lists(depth: int) -> bytes:
    return b"\x91" * depth + b"\x90"


def nested_request(depth: int, action: str = "who", request_id: int = 7) -> bytes:
    """A version 3 msgpack request whose action body holds lists nested ``depth`` deep under key ``x``."""
    envelope = valid_envelope(request_id, body=valid_job(action, x=_PLACEHOLDER))
    return _v3(_splice(envelope, _deep_lists(depth)))


def _serializer() -> list[Kind]:
    good = _pack(valid_envelope())
    with_x = _with(("body", "actions", 0, "body", "x"), _PLACEHOLDER)

    def x_as(raw_value: bytes) -> bytes:
        return _v3(_splice(with_x, raw_value))

    deep_body = _splice(with_x, _deep_lists(900))
    deep_meta = _splice(_with(("meta", "deep"), _PLACEHOLDER), _deep_lists(900))
    very_deep = _splice(with_x, _deep_lists(200_000))
    odd_values = {"n": float("nan"), "b": b"\x00"}
    deep_json = json.dumps(valid_envelope()).replace('"body": {}', '"body": {"x": ' + "[" * 900 + "]" * 900 + "}")
    return [
        Kind("msgpack:truncated", _v3(good[: len(good) // 2]), False),
        Kind("msgpack:list", _v3(_pack_any([1, 2, 3])), False),
        Kind("msgpack:int", _v3(_pack_any(5)), False),
        Kind("msgpack:str", _v3(_pack_any("x")), False),
        Kind("msgpack:nil", _v3(b"\xc0"), False),
        Kind("msgpack:trailing-bytes", _v3(good + b"\x01\x02"), False),
        Kind("msgpack:invalid-utf8", _v3(good.replace(b"\xa3who", b"\xa3\xff\xfe\xfd")), False),
        Kind("msgpack:unknown-ext", x_as(b"\xd4\x63\x00"), False),
        Kind("msgpack:timestamp-ext", x_as(b"\xd6\xff\x00\x00\x00\x01"), False),
        Kind("msgpack:bad-date-ext", x_as(b"\xd6\x03\x07\xe4\x0d\x20"), False),
        Kind("msgpack:bad-decimal-ext", x_as(b"\xc7\x04\x05\xff\xff\x31\x32"), False),
        Kind("msgpack:huge-array-header", _v3(b"\x81\xaarequest_id\xdd\xff\xff\xff\xff"), False),
        Kind("msgpack:huge-map-header", _v3(b"\xdf\xff\xff\xff\xff"), False),
        Kind("msgpack:huge-str-header", _v3(b"\x81\xaarequest_id\xdb\xff\xff\xff\xff"), False),
        Kind("msgpack:deep-body", _v3(deep_body), True),
        Kind("msgpack:deep-meta", _v3(deep_meta), True),
        Kind("msgpack:very-deep", _v3(very_deep), False),
        Kind("msgpack:nan-and-bytes", _v3(_pack(_with(("body", "actions", 0, "body"), odd_values))), True, False),
        Kind("json:invalid", _v3(b"{not json", _JSON), False),
        Kind("json:not-an-object", _v3(b"[1, 2]", _JSON), False),
        Kind("json:invalid-utf8", _v3(b'{"request_id": "\xff"}', _JSON), False),
        Kind("json:deep", _v3(deep_json.encode(), _JSON), True),
        Kind("json:very-deep", _v3(b'{"x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", _JSON), False),
        Kind("json:huge-int", _v3(b'{"request_id": ' + b"9" * 5000 + b"}", _JSON), False),
        Kind("json:bom", _v3(b"\xef\xbb\xbf" + _json(valid_envelope()), _JSON), False),
    ]


def _pack_any(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _envelope_fields() -> list[Kind]:
    kinds: list[Kind] = []

    def add(
        name: str, envelope: dict[str, Any], answered: bool, has_errors: bool = True, json_too: bool = True
    ) -> None:
        kinds.append(Kind(f"envelope:{name}", _v3(_pack(envelope)), answered, has_errors))
        if json_too:
            kinds.append(Kind(f"envelope-json:{name}", _v3(_json(envelope), _JSON), answered, has_errors))

    add("no-request-id", _with(("request_id",), None, delete=True), False)
    add("null-request-id", _with(("request_id",), None), False)
    add("str-request-id", _with(("request_id",), "seven"), True, False)
    add("list-request-id", _with(("request_id",), [7]), True, False)
    add("map-request-id", _with(("request_id",), {"a": 1}), True, False)
    add("huge-request-id", _with(("request_id",), 2**64 - 1), True, False)
    add("no-meta", _with(("meta",), None, delete=True), False)
    add("null-meta", _with(("meta",), None), False)
    add("list-meta", _with(("meta",), [REPLY_TO]), False)
    add("str-meta", _with(("meta",), REPLY_TO), False)
    add("no-reply-to", _with(("meta", "reply_to"), None, delete=True), False)
    add("null-reply-to", _with(("meta", "reply_to"), None), False)
    add("int-reply-to", _with(("meta", "reply_to"), 5), False)
    add("list-reply-to", _with(("meta", "reply_to"), [REPLY_TO]), False)
    add("empty-reply-to", _with(("meta", "reply_to"), ""), False)
    add("reply-to-without-marker", _with(("meta", "reply_to"), "service.functional.abc"), False)
    add("reply-to-own-queue", _with(("meta", "reply_to"), "service." + SERVICE), False)
    add("reply-to-other-queue", _with(("meta", "reply_to"), "service.other"), False)
    add("reply-to-not-a-list", _with(("meta", "reply_to"), NOT_A_LIST_KEY), False)
    add("reply-to-full-list", _with(("meta", "reply_to"), FULL_REPLY_QUEUE), False)
    add("reply-to-huge", _with(("meta", "reply_to"), "service.x!" + "y" * 100_000), False)
    add("reply-to-nul", _with(("meta", "reply_to"), "service.x!\x00"), False, json_too=False)
    add("str-expiry", _with(("meta", "__expiry__"), "soon"), True)
    add("list-expiry", _with(("meta", "__expiry__"), [1]), True)
    add("nan-expiry", _with(("meta", "__expiry__"), float("nan")), True, False)
    add("past-expiry", _with(("meta", "__expiry__"), 1.0), False)
    add("negative-expiry", _with(("meta", "__expiry__"), -5), False)
    add("bool-expiry", _with(("meta", "__expiry__"), True), False)
    add("inf-expiry", _with(("meta", "__expiry__"), float("inf")), True, False)
    add("int-reply-nonce", _with(("meta", "reply_nonce"), 5), True, False)
    add("huge-reply-nonce", _with(("meta", "reply_nonce"), "n" * 100_000), True, False)
    add("watch-worker-without-nonce", _with(("meta", "watch_worker"), True), True, False)
    add("str-watch-worker", _with(("meta", "watch_worker"), "yes"), True, False)
    add("str-client-version", _with(("meta", "client_version"), "1.4.9"), True, False)
    add("str-parts-client-version", _with(("meta", "client_version"), ["1", "x"]), True, False)
    add("huge-client-version", _with(("meta", "client_version"), [2**63, 0, 0]), True, False)
    add("empty-client-version", _with(("meta", "client_version"), []), True, False)
    add("map-client-version", _with(("meta", "client_version"), {"major": 1}), True, False)
    add("no-body", _with(("body",), None, delete=True), True)
    add("null-body", _with(("body",), None), True)
    add("list-body", _with(("body",), [1, 2]), True)
    add("str-body", _with(("body",), "job"), True)
    add("int-body", _with(("body",), 42), True)
    add("empty-body", _with(("body",), {}), True)
    add("extra-top-level-key", {**valid_envelope(), "extra": 1}, True, False)
    add("no-control", _with(("body", "control"), None, delete=True), True)
    add("list-control", _with(("body", "control"), [1]), True)
    add("str-continue-on-error", _with(("body", "control", "continue_on_error"), "yes"), True)
    add("str-suppress-response", _with(("body", "control", "suppress_response"), "yes"), True)
    add("str-timeout", _with(("body", "control", "timeout"), "5"), True, False)
    add("no-context", _with(("body", "context"), None, delete=True), True)
    add("int-correlation-id", _with(("body", "context", "correlation_id"), 5), True)
    add("str-switches", _with(("body", "context", "switches"), "1,2"), True)
    add("float-switches", _with(("body", "context", "switches"), [2.9]), True)
    add("huge-switches", _with(("body", "context", "switches"), [2**64 - 1]), True, False)
    add("no-actions", _with(("body", "actions"), None, delete=True), True)
    add("empty-actions", _with(("body", "actions"), []), True)
    add("map-actions", _with(("body", "actions"), {"action": "who"}), True)
    add("str-action", _with(("body", "actions", 0), "who"), True)
    add("int-action-name", _with(("body", "actions", 0, "action"), 5), True)
    add("list-action-body", _with(("body", "actions", 0, "body"), [1]), True)
    add("unknown-action", _with(("body", "actions", 0, "action"), "nope"), True)
    add("extra-body-key", _with(("body", "extra"), 1), True)
    add("many-actions", _with(("body", "actions"), [{"action": "nope", "body": {}}] * 2000), True)
    return kinds


def _chunk(payload: bytes, headers: bytes, prefix: bytes = b"pysoa-redis/3//") -> bytes:
    return prefix + b"content-type:application/msgpack;" + headers + payload


def _chunk_headers() -> list[Kind]:
    good = _pack(valid_envelope())
    return [
        Kind("chunk:single", _chunk(good, b"chunk-count:1;chunk-id:1;"), True),
        Kind("chunk:first-of-two", _chunk(good[:40], b"chunk-count:2;chunk-id:1;"), False),
        Kind("chunk:second-of-two", _chunk(good[40:], b"chunk-count:2;chunk-id:2;"), False),
        Kind("chunk:count-zero", _chunk(good, b"chunk-count:0;chunk-id:1;"), True),
        Kind("chunk:count-negative", _chunk(good, b"chunk-count:-1;chunk-id:1;"), False),
        Kind("chunk:count-not-a-number", _chunk(good, b"chunk-count:x1;chunk-id:1;"), False),
        Kind("chunk:count-huge", _chunk(good, b"chunk-count:" + b"9" * 40 + b";chunk-id:1;"), False),
        Kind("chunk:id-without-count", _chunk(good, b"chunk-id:1;"), True, has_errors=False),
        Kind("chunk:count-without-id", _chunk(good, b"chunk-count:3;"), True),
        Kind("chunk:id-above-count", _chunk(good, b"chunk-count:2;chunk-id:5;"), True),
        Kind("chunk:repeated-headers", _chunk(good, b"chunk-count:1;chunk-id:1;chunk-count:2;chunk-id:2;"), True),
        Kind("chunk:in-v2", b"content-type:application/msgpack;chunk-count:1;chunk-id:1;" + good, True),
        Kind("chunk:in-v1", b"chunk-count:1;chunk-id:1;" + good, True),
    ]


def corpus() -> list[Kind]:
    """Every kind of the corpus (about 170), each with a unique name."""
    kinds = _framing() + _serializer() + _envelope_fields() + _chunk_headers()
    names = [kind.name for kind in kinds]
    assert len(names) == len(set(names)), "duplicate kind names"
    return kinds


def prepare_redis(client: Any, capacity: int = 10_000) -> None:
    """Create what some kinds point at: a hash under :data:`NOT_A_LIST_KEY`, a full :data:`FULL_REPLY_QUEUE`."""
    client.delete("pysoa:" + NOT_A_LIST_KEY, "pysoa:" + FULL_REPLY_QUEUE)
    client.hset("pysoa:" + NOT_A_LIST_KEY, "field", "value")
    pipe = client.pipeline(transaction=False)
    for start in range(0, capacity, 1000):
        pipe.rpush("pysoa:" + FULL_REPLY_QUEUE, *[b"old reply"] * min(1000, capacity - start))
    pipe.execute()
