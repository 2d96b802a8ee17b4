"""Byte-level interop: the same request bytes get the same reply bytes from PySOA 1.4.9 and pysoa_like.

Each test pushes one hand-built request straight into a service queue of a PySOA server and of a
pysoa_like server (each on its own Redis), pops the raw reply (every chunk) from the reply list and
compares: framing headers exactly, the decoded envelope with key order, and the raw payload bytes
with only the ``__expiry__`` timestamp masked. Clients are compared the same way on the request side.
"""

from __future__ import annotations

import itertools
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer, Serializer
from tests.interop._harness import Deployment
from tests.interop._matrix import BIG_SIZE, TYPES_BODY

_SERIALIZERS: dict[str, Serializer] = {"msgpack": MsgpackSerializer(), "json": JSONSerializer()}
_MIME = {"msgpack": "application/msgpack", "json": "application/json"}
_HEADERS = re.compile(rb"^(pysoa-redis/\d+//)?((?:(?:content-type|chunk-count|chunk-id):[A-Za-z0-9_/.-]+;)*)")
_MSGPACK_EXPIRY = re.compile(rb"\xaa__expiry__\xcb.{8}", re.DOTALL)
_JSON_EXPIRY = re.compile(rb'"__expiry__": [0-9.e+-]+')
_thread_ids = itertools.count(1)

Exchange = Callable[..., list[bytes]]
"""``exchange(implementation, service, version, meta, body, expect_reply=True)``: the reply chunks.

``meta`` must hold the ``reply_to``; with ``expect_reply=False`` it only pushes the request.
"""


def _frame(version: int, serializer: str, payload: bytes) -> bytes:
    if version == 1:
        return payload
    header = f"content-type:{_MIME[serializer]};".encode()
    return header + payload if version == 2 else b"pysoa-redis/3//" + header + payload


def _split(message: bytes) -> tuple[bytes, bytes]:
    match = _HEADERS.match(message)
    assert match is not None
    return message[: match.end()], message[match.end() :]


def _job(actions: list[dict[str, Any]], continue_on_error: bool = False) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": continue_on_error, "suppress_response": False},
        "context": {"switches": [1], "correlation_id": "cid-wire"},
        "actions": actions,
    }


@pytest.fixture(scope="module")
def exchange(deployment_factory: Callable[[str, str], Deployment]) -> Exchange:
    """``exchange(implementation, service, version, meta, body)``: the raw reply chunks for one request."""

    def run(
        implementation: str,
        service: str,
        version: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        expect_reply: bool = True,
    ) -> list[bytes]:
        serializer = "json" if service.startswith("interop_json") else "msgpack"
        reply_to = meta["reply_to"]
        envelope = {"request_id": 4321, "meta": meta, "body": body}
        host, port = deployment_factory(implementation, "single").hosts[0]
        with redis.Redis(host=host, port=port) as connection:
            connection.rpush(
                f"pysoa:service.{service}", _frame(version, serializer, _SERIALIZERS[serializer].dict_to_blob(envelope))
            )
            if not expect_reply:
                return []
            popped = connection.blpop([f"pysoa:{reply_to}"], 15)
            assert popped is not None, f"no reply from the {implementation} server"
            chunks = [popped[1]]
            count = re.search(rb"chunk-count:(\d+);", _split(chunks[0])[0])
            for _ in range(int(count.group(1)) - 1 if count else 0):
                popped = connection.blpop([f"pysoa:{reply_to}"], 15)
                assert popped is not None, f"missing chunk from the {implementation} server"
                chunks.append(popped[1])
        return chunks

    return run


def _mask_expiry(payload: bytes) -> bytes:
    return _JSON_EXPIRY.sub(b'"__expiry__": 0', _MSGPACK_EXPIRY.sub(b"\xaa__expiry__\xcb" + bytes(8), payload))


def _decode(headers: bytes, payload: bytes) -> dict[str, Any]:
    serializer = "json" if b"application/json" in headers or payload.startswith(b"{") else "msgpack"
    envelope = _SERIALIZERS[serializer].blob_to_dict(payload)
    expiry = envelope["meta"].pop("__expiry__")
    assert isinstance(expiry, float) and abs(expiry - (time.time() + 60)) < 30
    return envelope


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 3000 else text[:1500] + " ... " + text[-1500:]


def _ordered(value: Any) -> Any:
    # Key order is part of the bytes: compare dicts as lists of pairs.
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def _assert_same_replies(
    exchange: Exchange,
    service: str,
    version: int,
    meta: dict[str, Any],
    body: dict[str, Any],
    expected_like_headers: list[bytes] | None = None,
    like_context: dict[str, Any] | None = None,
    error_order_matters: bool = True,
) -> None:
    # The same reply key on both sides (each server has its own Redis), so the echoed meta matches too.
    meta = {**meta, "reply_to": f"service.{service}.{uuid.uuid4().hex}!{next(_thread_ids):012x}"}
    pysoa_split = [_split(chunk) for chunk in exchange("pysoa", service, version, meta, body)]
    like_split = [_split(chunk) for chunk in exchange("like", service, version, meta, body)]
    pysoa_headers = [headers for headers, _ in pysoa_split]
    assert [headers for headers, _ in like_split] == (expected_like_headers or pysoa_headers)
    pysoa_payload = b"".join(payload for _, payload in pysoa_split)
    like_payload = b"".join(payload for _, payload in like_split)
    pysoa_envelope = _decode(pysoa_headers[0], pysoa_payload)
    like_envelope = _decode(like_split[0][0], like_payload)
    exact = like_context is None and error_order_matters
    if like_context is not None:
        assert like_envelope["body"]["context"] == like_context
        like_envelope["body"]["context"] = pysoa_envelope["body"]["context"]
    if not error_order_matters:
        for envelope in (like_envelope, pysoa_envelope):
            envelope["body"]["errors"].sort(key=repr)
    assert _ordered(like_envelope) == _ordered(pysoa_envelope), (
        f"\npysoa_like: {_short(like_envelope)}\nPySOA:      {_short(pysoa_envelope)}"
    )
    if exact:
        assert _mask_expiry(like_payload) == _mask_expiry(pysoa_payload)


CLIENT_META = {"client_version": [1, 4, 9]}
VERSIONS = [pytest.param(version, id=f"v{version}") for version in (1, 2, 3)]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("service", ["interop", "interop_json"])
def test_success_reply_bytes_match(exchange: Exchange, service: str, version: int) -> None:
    """A two-action job gets byte-identical replies (bar __expiry__) from both servers."""
    body = _job(
        [
            {"action": "echo", "body": {"a": [1, "\u2603", None], "b": {"c": 1.5}}},
            {"action": "square", "body": {"number": 9}},
        ]
    )
    _assert_same_replies(exchange, service, version, {**CLIENT_META, "extra_meta": "echoed"}, body)


@pytest.mark.parametrize("version", VERSIONS)
def test_typed_reply_bytes_match(exchange: Exchange, version: int) -> None:
    """A msgpack reply full of ext types (datetime, date, time, Decimal, Amount, bytes) is byte-identical."""
    _assert_same_replies(exchange, "interop", version, CLIENT_META, _job([{"action": "echo", "body": TYPES_BODY}]))


@pytest.mark.parametrize("client_version", [[1, 4, 9], [0, 70, 0], [0, 69, 99], None])
@pytest.mark.parametrize("service", ["interop", "interop_json"])
def test_action_error_reply_bytes_match(exchange: Exchange, service: str, client_version: list[int] | None) -> None:
    """Action errors (and whether is_caller_error is sent, by client_version) are byte-identical."""
    meta = {} if client_version is None else {"client_version": client_version}
    body = _job(
        [{"action": "fail", "body": {"caller": True}}, {"action": "nope"}, {"action": "fail"}], continue_on_error=True
    )
    _assert_same_replies(exchange, service, 3, meta, body)


@pytest.mark.parametrize("service", ["interop", "interop_json"])
def test_chunked_reply_bytes_match(exchange: Exchange, service: str) -> None:
    """A 3 MiB reply to a v3 request: the same chunk count, chunk headers and bytes from both servers."""
    _assert_same_replies(exchange, service, 3, CLIENT_META, _job([{"action": "big", "body": {"size": BIG_SIZE}}]))


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("service", ["interop", "interop_json"])
def test_too_large_reply_uses_the_request_framing(exchange: Exchange, service: str, version: int) -> None:
    """RESPONSE_TOO_LARGE for a v1/v2 request: PySOA's reply, framed as the request, with the correlation id.

    Two deliberate differences, both readable by every PySOA client: PySOA 1.4.9 sends this second
    reply as v3 (PROTOCOL.md section 4, a known bug), pysoa_like in the request's own version; and
    PySOA's context is ``{}`` (section 12), pysoa_like keeps the request's correlation id.
    """
    mime = b"application/json" if service == "interop_json" else b"application/msgpack"
    framing = b"" if version == 1 else b"content-type:" + mime + b";"
    body = _job([{"action": "big", "body": {"size": BIG_SIZE}}])
    _assert_same_replies(
        exchange, service, version, CLIENT_META, body, [framing], like_context={"correlation_id": "cid-wire"}
    )


@pytest.mark.parametrize("implementation", ["pysoa", "like"])
def test_suppressed_response_is_never_sent(exchange: Exchange, implementation: str) -> None:
    """With suppress_response the server runs the job and sends nothing: the next reply on the key is the next job's."""
    meta = {**CLIENT_META, "reply_to": f"service.interop.{uuid.uuid4().hex}!{next(_thread_ids):012x}"}
    suppressed = _job([{"action": "square", "body": {"number": 2}}])
    suppressed["control"]["suppress_response"] = True
    exchange(implementation, "interop", 3, meta, suppressed, expect_reply=False)
    (reply,) = exchange(implementation, "interop", 3, meta, _job([{"action": "square", "body": {"number": 3}}]))
    envelope = _SERIALIZERS["msgpack"].blob_to_dict(_split(reply)[1])
    assert envelope["body"]["actions"][0]["body"] == {"square": 9}


_INVALID_JOB = {"control": {"continue_on_error": False}, "context": {"switches": ["x"]}, "actions": [], "extra": 1}


def test_invalid_job_reply_has_the_same_errors(exchange: Exchange) -> None:
    """A job request failing PySOA's JobRequest schema gets the same job-level errors from both servers."""
    _assert_same_replies(exchange, "interop", 3, CLIENT_META, _INVALID_JOB, error_order_matters=False)


def test_invalid_job_reply_bytes_match(exchange: Exchange) -> None:
    """The job-level schema errors come in PySOA's order too, so the reply is byte-identical."""
    _assert_same_replies(exchange, "interop", 3, CLIENT_META, _INVALID_JOB)


_REPLY_TO = re.compile(r"^service\.capture\.[0-9a-f]{32}![0-9a-f]{12,}$")
_SEND_CASES = [
    pytest.param("msgpack", 3, 5, id="msgpack-v3-timeout"),
    pytest.param("msgpack", 3, None, id="msgpack-v3"),
    pytest.param("json", 2, 5, id="json-v2-timeout"),
    pytest.param("msgpack", 1, None, id="msgpack-v1"),
]


@pytest.fixture(scope="module")
def captured_request(
    deployment_factory: Callable[[str, str], Deployment],
) -> Callable[..., tuple[bytes, int, float]]:
    """``capture(client, serializer, version, expiry)``: the raw request a client sends, the queue TTL, and the
    seconds from just before the send to the TTL's reading (what the TTL may have lost on a loaded machine)."""
    deployment = deployment_factory("like", "single")
    host, port = deployment.hosts[0]

    def capture(client: str, serializer: str, version: int, expiry: int | None) -> tuple[bytes, int, float]:
        started = time.monotonic()
        kwargs = {
            "service_name": "capture",
            "actions": [{"action": "echo", "body": {"x": [1, 2], "when": "now"}}],
            "switches": [4, 1, 2, 1],
            "correlation_id": "cid-capture",
            "context": {"auth": "tok", "caller": "me"},
            "control_extra": {"foo": 1},
            "message_expiry_in_seconds": expiry,
        }
        (outcome,) = deployment.call(
            client, {"capture": (serializer, version)}, [{"method": "send_request", "kwargs": kwargs}]
        )
        assert "result" in outcome, outcome
        with redis.Redis(host=host, port=port) as connection:
            ttl = int(connection.ttl("pysoa:service.capture"))
            elapsed = time.monotonic() - started
            message = connection.lpop("pysoa:service.capture")
            assert connection.llen("pysoa:service.capture") == 0
        assert isinstance(message, bytes)
        return message, ttl, elapsed

    return capture


@pytest.mark.parametrize(("serializer", "version", "expiry"), _SEND_CASES)
def test_request_bytes_match_pysoa_client(
    captured_request: Callable[..., tuple[bytes, int, float]], serializer: str, version: int, expiry: int | None
) -> None:
    """Our client's request has PySOA's framing, envelope and meta shape, an equal body, and the same TTL.

    Context key order and switch order differ from PySOA's (it sends ``list(set(switches))``); neither
    carries meaning (servers treat switches as a set), so the body is compared as data.
    """
    started = time.monotonic()
    pysoa_message, pysoa_ttl, pysoa_elapsed = captured_request("pysoa", serializer, version, expiry)
    like_message, like_ttl, like_elapsed = captured_request("like", serializer, version, expiry)
    between_sends = time.monotonic() - started  # the two sends' clocks differ by at most this
    pysoa_headers, pysoa_payload = _split(pysoa_message)
    like_headers, like_payload = _split(like_message)
    assert like_headers == pysoa_headers
    pysoa_envelope = _SERIALIZERS[serializer].blob_to_dict(pysoa_payload)
    like_envelope = _SERIALIZERS[serializer].blob_to_dict(like_payload)
    assert list(like_envelope) == list(pysoa_envelope) == ["request_id", "meta", "body"]
    assert isinstance(like_envelope["request_id"], int)
    # One key more: the nonce the reply must echo (PySOA servers echo the whole meta).
    pysoa_keys = list(pysoa_envelope["meta"])
    assert list(like_envelope["meta"]) == [*pysoa_keys[:2], "reply_nonce", *pysoa_keys[2:]]
    assert re.fullmatch("[0-9a-f]{16}", like_envelope["meta"]["reply_nonce"])
    assert _REPLY_TO.match(like_envelope["meta"]["reply_to"]), like_envelope["meta"]["reply_to"]
    client_version = like_envelope["meta"]["client_version"]
    assert isinstance(client_version, list) and all(isinstance(part, int) for part in client_version)
    assert tuple(client_version) >= (0, 70, 0)
    assert abs(like_envelope["meta"]["__expiry__"] - pysoa_envelope["meta"]["__expiry__"]) < 1 + between_sends
    assert list(like_envelope["body"]) == list(pysoa_envelope["body"]) == ["control", "context", "actions"]
    for envelope in (like_envelope, pysoa_envelope):
        envelope["body"]["context"]["switches"].sort()
    assert like_envelope["body"] == pysoa_envelope["body"]
    # Both queues were given the same TTL: each read lost at most its own elapsed time (and a second of rounding).
    assert abs(like_ttl - pysoa_ttl) <= 1 + math.ceil(max(like_elapsed, pysoa_elapsed))
