"""Tests of chunked responses: when, how to split, and reassembly (PROTOCOL.md section 5)."""

from __future__ import annotations

import random

import pytest

from pysoa_like.common.transport.errors import InvalidMessageError, MessageTooLarge
from pysoa_like.common.transport.redis_gateway.protocol import (
    ChunkReassembler,
    ParsedMessage,
    frame_for_sending,
    frame_message,
    parse_message,
    reject_chunked_request,
    split_into_chunks,
    validate_chunk_settings,
)
from pysoa_like.core.constants import ProtocolVersion

MSGPACK = "application/msgpack"
V3 = ProtocolVersion.VERSION_3


def _chunk(count: int | None, chunk_id: int | None, payload: bytes = b"p", mime: str | None = MSGPACK) -> ParsedMessage:
    return ParsedMessage(V3, mime, count, chunk_id, payload)


def test_observed_chunk_sizes_for_250000_byte_string_response() -> None:
    """A 250,000-byte string response with T=102400 gives chunks of 102473, 102473 and 45521 bytes.

    The msgpack envelope around the string adds 248 bytes, so the serialized payload is 250,248 bytes.
    """
    payload = b"\x83" + bytes(250_247)
    chunks = split_into_chunks(payload, MSGPACK, 102_400)
    assert [len(c) for c in chunks] == [102_473, 102_473, 45_521]
    assert chunks[0].startswith(b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:1;\x83")
    assert chunks[2].startswith(b"pysoa-redis/3//content-type:application/msgpack;chunk-count:3;chunk-id:3;")


def test_chunk_slices_cover_payload_in_order() -> None:
    """Chunk i carries payload bytes ``[(i-1)*T, i*T)`` and the count is ``ceil(size / T)``."""
    payload = bytes(range(256)) * 10
    chunks = [parse_message(c) for c in split_into_chunks(payload, MSGPACK, 1000)]
    assert [c.chunk_id for c in chunks] == [1, 2, 3]
    assert {c.chunk_count for c in chunks} == {3}
    assert [c.payload for c in chunks] == [payload[0:1000], payload[1000:2000], payload[2000:]]
    assert {c.content_type for c in chunks} == {MSGPACK}


def test_exact_multiple_has_no_empty_chunk() -> None:
    """A payload of exactly k*T bytes gives k chunks, none empty."""
    chunks = split_into_chunks(b"a" * 300, MSGPACK, 100)
    assert len(chunks) == 3
    assert all(parse_message(c).payload == b"a" * 100 for c in chunks)


def test_split_refuses_non_positive_size() -> None:
    """A chunk size below 1 is refused."""
    with pytest.raises(ValueError, match="at least 1 byte"):
        split_into_chunks(b"abc", MSGPACK, 0)


@pytest.mark.parametrize(
    ("size", "threshold", "version", "expected"),
    [
        (250_000, 102_400, 3, True),
        (102_400, 102_400, 3, False),  # only strictly larger messages are chunked
        (102_401, 102_400, 3, True),
        (250_000, -1, 3, False),  # disabled
        (250_000, 0, 3, False),
        (100, 102_400, 1, False),  # small enough for any version
    ],
)
def test_when_a_reply_is_chunked(size: int, threshold: int, version: int, expected: bool) -> None:
    """Servers chunk only when ``0 < T < size`` and the request was version 3; chunks are split_into_chunks'."""
    messages, _oversized, chunked = frame_for_sending(b"x" * size, MSGPACK, version, 1_000_000, 0, threshold)
    assert chunked is expected
    if expected:
        assert messages == split_into_chunks(b"x" * size, MSGPACK, threshold)
    else:
        assert [bytes(message) for message in messages] == [frame_message(b"x" * size, MSGPACK, version)]


@pytest.mark.parametrize("version", [ProtocolVersion.VERSION_1, ProtocolVersion.VERSION_2])
def test_chunking_too_large_for_v1_v2_raises(version: ProtocolVersion) -> None:
    """A message over the threshold for a v1/v2 client raises MessageTooLarge with its size."""
    with pytest.raises(MessageTooLarge, match="Message exceeds maximum message size") as info:
        frame_for_sending(b"x" * 200_000, MSGPACK, version, 1_000_000, 0, 102_400)
    assert info.value.message_size_in_bytes == 200_000


@pytest.mark.parametrize(("threshold", "maximum"), [(-1, 0), (102_400, 512_000), (200_000, 1_000_000)])
def test_valid_chunk_settings(threshold: int, maximum: int) -> None:
    """Disabled chunking, or T >= 102400 with a maximum of at least 5*T, is accepted."""
    validate_chunk_settings(threshold, maximum)


@pytest.mark.parametrize(
    ("threshold", "maximum", "message"),
    [
        (0, 10_000_000, "-1 \\(disabled\\) or at least 102400"),
        (102_399, 10_000_000, "-1 \\(disabled\\) or at least 102400"),
        (-2, 10_000_000, "-1 \\(disabled\\) or at least 102400"),
        (102_400, 511_999, "at least 5 times"),
        (102_400, 256_000, "at least 5 times"),
    ],
)
def test_invalid_chunk_settings(threshold: int, maximum: int, message: str) -> None:
    """A threshold below the minimum, or a maximum below 5*T, is refused with a message naming the setting."""
    with pytest.raises(ValueError, match=message):
        validate_chunk_settings(threshold, maximum)


def test_reassembler_joins_chunks_in_order() -> None:
    """The reassembler accepts the sequence 1..n and joins the slices."""
    payload = bytes(range(200)) * 7
    chunks = [parse_message(c) for c in split_into_chunks(payload, MSGPACK, 333)]
    reassembler = ChunkReassembler(chunks[0])
    assert (reassembler.chunk_count, reassembler.content_type, reassembler.version) == (5, MSGPACK, V3)
    results = [reassembler.add(c) for c in chunks[1:]]
    assert results == [False, False, False, True]
    assert reassembler.complete
    assert reassembler.payload() == payload


def test_reassembler_single_chunk_is_complete() -> None:
    """A one-chunk message is complete at once."""
    reassembler = ChunkReassembler(_chunk(1, 1, b"all"))
    assert reassembler.complete
    assert reassembler.payload() == b"all"


def test_reassembler_tolerates_chunks_without_content_type() -> None:
    """Later chunks may omit the content type; the first chunk's one is kept."""
    reassembler = ChunkReassembler(_chunk(2, 1, b"a"))
    assert reassembler.add(_chunk(2, 2, b"b", mime=None))
    assert (reassembler.payload(), reassembler.content_type) == (b"ab", MSGPACK)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (_chunk(None, 1), "lacks chunk-count or chunk-id"),
        (_chunk(3, None), "lacks chunk-count or chunk-id"),
        (_chunk(0, 1), "less than 1"),
        (_chunk(3, 2), "expected chunk 1"),
    ],
)
def test_reassembler_rejects_bad_first_chunk(first: ParsedMessage, message: str) -> None:
    """A first chunk without both headers, with count < 1 or not numbered 1 is invalid."""
    with pytest.raises(InvalidMessageError, match=message):
        ChunkReassembler(first)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (_chunk(None, None), "without chunk headers"),
        (_chunk(3, None), "without chunk headers"),
        (_chunk(4, 2), "chunk-count 4 differs from 3"),
        (_chunk(3, 3), "got chunk 3, expected chunk 2 of 3"),
        (_chunk(3, 1), "got chunk 1, expected chunk 2 of 3"),
    ],
)
def test_reassembler_rejects_bad_sequence(second: ParsedMessage, message: str) -> None:
    """A later chunk with missing headers, another count or the wrong id raises InvalidMessageError."""
    reassembler = ChunkReassembler(_chunk(3, 1))
    with pytest.raises(InvalidMessageError, match=message):
        reassembler.add(second)


def test_reassembler_rejects_extra_chunk_and_early_payload() -> None:
    """Adding after completion, or asking for the payload before it, raises InvalidMessageError."""
    reassembler = ChunkReassembler(_chunk(2, 1))
    with pytest.raises(InvalidMessageError, match="only 1 of 2"):
        reassembler.payload()
    reassembler.add(_chunk(2, 2))
    with pytest.raises(InvalidMessageError, match="already received"):
        reassembler.add(_chunk(2, 3))


def test_reject_chunked_request() -> None:
    """Servers refuse a request with chunk headers, with PySOA's message, and accept a plain one."""
    reject_chunked_request(parse_message(frame_message(b"{}", MSGPACK)))
    with pytest.raises(InvalidMessageError, match="Unsupported chunked request on server Redis backend"):
        reject_chunked_request(parse_message(frame_message(b"{}", MSGPACK, chunk_count=1, chunk_id=1)))


def test_split_reassemble_round_trip_random_sizes() -> None:
    """Splitting then reassembling gives back the payload for many random sizes and thresholds."""
    rng = random.Random(20240607)
    for _ in range(400):
        threshold = rng.randrange(1, 5000)
        payload = rng.randbytes(rng.randrange(threshold + 1, threshold * 12))
        framed = split_into_chunks(payload, MSGPACK, threshold)
        assert len(framed) == -(-len(payload) // threshold)
        reassembler = ChunkReassembler(parse_message(framed[0]))
        for chunk in framed[1:]:
            reassembler.add(parse_message(chunk))
        assert reassembler.payload() == payload
