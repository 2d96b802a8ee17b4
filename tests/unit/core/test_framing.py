"""Tests of framing a message for sending: the head of each version, chunk headers, header values (PROTOCOL.md
section 4)."""

from __future__ import annotations

import msgpack
import pytest

from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.framing import frame_message, validate_header_value

MSGPACK = "application/msgpack"
JSON = "application/json"

# The start of a real PySOA 1.4.9 request, hex from PROTOCOL.md section 4.
OBSERVED_V3_START = bytes.fromhex(
    "70 79 73 6f 61 2d 72 65 64 69 73 2f 33 2f 2f"
    "63 6f 6e 74 65 6e 74 2d 74 79 70 65 3a"
    "61 70 70 6c 69 63 61 74 69 6f 6e 2f 6d 73 67 70 61 63 6b 3b"
    "83 aa 72 65 71 75 65 73 74 5f 69 64 ce 00 05 3a a2"
)


def test_v1_frame_is_the_payload() -> None:
    """Version 1 sends the payload with no header at all."""
    assert frame_message(b"\x83abc", MSGPACK, ProtocolVersion.VERSION_1) == b"\x83abc"


def test_v2_frame_has_content_type_header() -> None:
    """Version 2 prefixes ``content-type:<mime>;``."""
    assert frame_message(b"{}", JSON, 2) == b"content-type:application/json;{}"


def test_v3_frame_has_marker_and_content_type() -> None:
    """Version 3 prefixes the marker and the content-type header (the default version)."""
    assert frame_message(b"{}", JSON) == b"pysoa-redis/3//content-type:application/json;{}"


def test_v3_frame_matches_observed_pysoa_bytes() -> None:
    """A framed msgpack envelope starts with exactly the bytes PySOA 1.4.9 was seen sending."""
    envelope = {"request_id": 342690, "meta": {}, "body": {}}
    framed = frame_message(msgpack.packb(envelope, use_bin_type=True), MSGPACK, ProtocolVersion.VERSION_3)
    assert framed.startswith(OBSERVED_V3_START)


def test_chunk_frame_headers() -> None:
    """A chunk carries content-type, chunk-count and chunk-id in that order, as plain decimals."""
    framed = frame_message(memoryview(b"xyz"), MSGPACK, 3, chunk_count=12, chunk_id=3)
    assert framed == b"pysoa-redis/3//content-type:application/msgpack;chunk-count:12;chunk-id:3;xyz"


@pytest.mark.parametrize(("version", "count", "chunk"), [(1, 2, 1), (2, 2, 1), (3, 2, None), (3, None, 1)])
def test_chunk_frame_needs_v3_and_both_headers(version: int, count: int | None, chunk: int | None) -> None:
    """Chunk headers are refused outside version 3 or when only one of them is given."""
    with pytest.raises(ValueError, match=r"(?i)chunk"):
        frame_message(b"x", MSGPACK, version, chunk_count=count, chunk_id=chunk)


@pytest.mark.parametrize("mime", ["application/x foo", "", "text/plain;charset=utf-8", "caf\u00e9/x"])
def test_frame_refuses_unsendable_mime_types(mime: str) -> None:
    """A MIME type with characters a PySOA header cannot hold is refused before sending."""
    with pytest.raises(ValueError, match="cannot be sent"):
        frame_message(b"x", mime, 3)


def test_frame_refuses_unknown_version() -> None:
    """Framing with a version other than 1, 2 or 3 is refused."""
    with pytest.raises(ValueError, match="Unknown Redis Gateway protocol version"):
        frame_message(b"x", MSGPACK, 4)


def test_validate_header_value_accepts_allowed_characters() -> None:
    """Every character of ``[A-Za-z0-9_/.-]`` is accepted in a header value."""
    value = "AZaz09_/.-"
    assert validate_header_value(value) == value
