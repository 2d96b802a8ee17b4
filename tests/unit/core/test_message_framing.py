"""Tests of reading message framing: the version marker and header parsing (PROTOCOL.md section 4)."""

from __future__ import annotations

import json
import random

import pytest

from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.common.transport.redis_gateway.protocol import (
    ParsedMessage,
    UnsupportedProtocolVersionError,
    check_envelope,
    frame_message,
    parse_message,
)
from pysoa_like.core.constants import ProtocolVersion

MSGPACK = "application/msgpack"
JSON = "application/json"

# The observed PySOA 1.4.9 JSON request from PROTOCOL.md section 7, exactly as pushed.
OBSERVED_JSON_REQUEST = (
    b'pysoa-redis/3//content-type:application/json;{"request_id": 619637, "meta": {"client_version": [1, 4, 9], '
    b'"reply_to": "service.echo.d3cdbd07524445b39b74ed237fe7c5cf!7f02fffedb80", "__expiry__": 1795238582.0653288}, '
    b'"body": {"control": {"continue_on_error": false, "suppress_response": true, "foo": 1, "timeout": 5}, '
    b'"context": {"switches": [1, 2, 4], "auth": "tok", "correlation_id": "cid", "caller": "me"}, '
    b'"actions": [{"action": "a", "body": {"x": [1, 2], "s": [3]}}]}}'
)


def test_parse_v3_message() -> None:
    """A version 3 message yields its version, content type and payload."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/msgpack;\x83\xaa")
    assert parsed == ParsedMessage(ProtocolVersion.VERSION_3, MSGPACK, None, None, b"\x83\xaa")
    assert not parsed.is_chunk


def test_parse_v2_message() -> None:
    """A message starting with ``content-type`` is version 2 with that header."""
    parsed = parse_message(b"content-type:application/json;{}")
    assert (parsed.version, parsed.content_type, parsed.payload) == (ProtocolVersion.VERSION_2, JSON, b"{}")


def test_parse_v1_message_returns_same_object() -> None:
    """A version 1 message has no content type and its payload is the received object itself."""
    raw = b"\x83\xaarequest_id"
    parsed = parse_message(raw)
    assert (parsed.version, parsed.content_type) == (ProtocolVersion.VERSION_1, None)
    assert parsed.payload is raw


def test_parse_tolerates_whitespace_around_header_parts() -> None:
    """The observed whitespace-laden header ``pysoa-redis/3// content-type : application/msgpack ;`` is read."""
    parsed = parse_message(b"pysoa-redis/3// content-type : application/msgpack ;\x83")
    assert (parsed.content_type, parsed.payload) == (MSGPACK, b"\x83")


def test_parse_tolerates_tabs_and_newlines_in_headers() -> None:
    """Any ASCII whitespace may surround names, colons and values."""
    parsed = parse_message(b"pysoa-redis/3//\tchunk-count\n:\r2\x0b;\x0cchunk-id:1;data")
    assert (parsed.chunk_count, parsed.chunk_id, parsed.payload) == (2, 1, b"data")


def test_parse_leaves_whitespace_after_last_header() -> None:
    """Nothing is stripped after the last ``;``: trailing-looking whitespace belongs to the payload."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/json; {}")
    assert parsed.payload == b" {}"


def test_parse_reads_chunk_headers() -> None:
    """Chunk headers are parsed as integers."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:2;abc")
    assert (parsed.chunk_count, parsed.chunk_id, parsed.payload) == (3, 2, b"abc")
    assert parsed.is_chunk


def test_parse_leaves_unknown_headers_in_payload() -> None:
    """An unknown header name ends the header loop and stays in front of the payload."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/json;x-trace:abc;{}")
    assert (parsed.content_type, parsed.payload) == (JSON, b"x-trace:abc;{}")


def test_parse_stops_at_value_with_disallowed_character() -> None:
    """A header whose value has a character outside ``[A-Za-z0-9_/.-]`` is not a header."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/x+y;{}")
    assert (parsed.content_type, parsed.payload) == (None, b"content-type:application/x+y;{}")


def test_parse_header_loop_runs_in_v1_and_v2_too() -> None:
    """Headers are read after the version is known in every version; a v2 message may carry chunk headers."""
    parsed = parse_message(b"content-type:application/json;chunk-count:1;chunk-id:1;{}")
    assert (parsed.version, parsed.chunk_count, parsed.chunk_id) == (ProtocolVersion.VERSION_2, 1, 1)


def test_parse_unknown_version_raises_specific_error() -> None:
    """``pysoa-redis/9//`` raises UnsupportedProtocolVersionError, an InvalidMessageError."""
    with pytest.raises(UnsupportedProtocolVersionError, match="version 9"):
        parse_message(b"pysoa-redis/9//content-type:application/json;{}")


def test_parse_non_numeric_chunk_header_is_invalid() -> None:
    """A chunk header value that is not a decimal number is an invalid message, not a crash."""
    with pytest.raises(InvalidMessageError, match="chunk-count"):
        parse_message(b"pysoa-redis/3//chunk-count:abc;chunk-id:1;x")


def test_parse_last_duplicate_header_wins() -> None:
    """When a header repeats, its last value counts."""
    parsed = parse_message(b"pysoa-redis/3//content-type:application/json;content-type:application/msgpack;x")
    assert parsed.content_type == MSGPACK


def test_parse_observed_json_request() -> None:
    """The observed PySOA JSON request parses, and its envelope checks out with every field intact."""
    parsed = parse_message(OBSERVED_JSON_REQUEST)
    assert (parsed.version, parsed.content_type) == (ProtocolVersion.VERSION_3, JSON)
    received = check_envelope(json.loads(parsed.payload), now=1795238500.0, service_name="echo")
    assert received.request_id == 619637
    assert received.meta is not None and received.body is not None
    assert received.meta["reply_to"] == "service.echo.d3cdbd07524445b39b74ed237fe7c5cf!7f02fffedb80"
    assert received.meta["client_version"] == [1, 4, 9]
    assert received.body["context"]["correlation_id"] == "cid"
    assert received.body["actions"] == [{"action": "a", "body": {"x": [1, 2], "s": [3]}}]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_frame_parse_round_trip_random_payloads(version: int) -> None:
    """Framing then parsing gives back the payload, version and MIME type for many random payloads."""
    rng = random.Random(version)
    for _ in range(300):
        # Envelopes always start with a map marker, never with bytes a header could swallow.
        payload = bytes([0x83]) + rng.randbytes(rng.randrange(0, 2000))
        mime = rng.choice([MSGPACK, JSON, "application/x-custom.v1"])
        parsed = parse_message(frame_message(payload, mime, version))
        assert parsed.payload == payload
        assert parsed.version == version
        assert parsed.content_type == (None if version == 1 else mime)


def test_parse_version_with_leading_zero() -> None:
    """The marker number is read as a decimal, so ``03`` is version 3, as in PySOA."""
    assert parse_message(b"pysoa-redis/03//content-type:application/json;{}").version == ProtocolVersion.VERSION_3


@pytest.mark.parametrize("digits", [b"0", b"4", b"9" * 5000])
def test_parse_unknown_or_absurd_version_numbers_raise_cleanly(digits: bytes) -> None:
    """Version 0, 4 or a 5000-digit number raises UnsupportedProtocolVersionError, never another error."""
    with pytest.raises(UnsupportedProtocolVersionError):
        parse_message(b"pysoa-redis/" + digits + b"//{}")
    with pytest.raises(UnsupportedProtocolVersionError):
        ProtocolVersion.extract_version(b"pysoa-redis/" + digits + b"//{}")


def test_parse_garbage_never_crashes_unexpectedly() -> None:
    """Random garbage either parses or raises InvalidMessageError, for many inputs."""
    rng = random.Random(99)
    pieces = [
        b"pysoa-redis/",
        b"3//",
        b"//",
        b"content-type",
        b"chunk-id",
        b"chunk-count",
        b":",
        b";",
        b" ",
        b"7",
        b"x",
    ]
    for _ in range(2000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12))) + rng.randbytes(rng.randrange(0, 8))
        try:
            parsed = parse_message(raw)
        except InvalidMessageError:
            continue
        assert raw.endswith(parsed.payload)


def test_parse_overlong_chunk_number_is_invalid() -> None:
    """A chunk number of absurd length is an invalid message rather than an int-conversion error."""
    with pytest.raises(InvalidMessageError, match="chunk-id"):
        parse_message(b"pysoa-redis/3//chunk-count:1;chunk-id:" + b"1" * 5000 + b";x")
