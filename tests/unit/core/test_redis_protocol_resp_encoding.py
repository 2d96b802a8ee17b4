"""The transport's own Redis protocol encoder, checked against redis-py's pure-Python one."""

from __future__ import annotations

from typing import Any

import pytest
from redis.connection import PythonRespSerializer

from pysoa_like.core.redis_protocol import pack_commands, timeout_argument, wait_encoding


def _redis_py_bytes(commands: list[tuple[Any, ...]]) -> bytes:
    serializer = PythonRespSerializer(6000, lambda value: value if isinstance(value, bytes) else str(value).encode())
    return b"".join(b"".join(serializer.pack(*command)) for command in commands)


@pytest.mark.parametrize(
    "commands",
    [
        [("BLPOP", "pysoa:service.x", "5")],
        [("EVALSHA", "ab" * 20, 1, "pysoa:q", 70, 10000, b"\x00\xffpayload")],
        [("BLPOP", "k", "0.25"), ("LPOP", "k", 99)],
        [("EVALSHA", "sha", 1, "clé-ü", 60, 10, b"x" * 20000, b"y" * 5, b"z" * 70000)],
        [("EVAL", b"return 1", 0), ("EVALSHA", "sha", 1, "k", 60, 10, b"")],
    ],
)
def test_the_bytes_match_redis_py(commands: list[tuple[Any, ...]]) -> None:
    assert b"".join(pack_commands(commands)) == _redis_py_bytes(commands)
    # The hiredis path for callers that know every argument is small gives the same bytes.


@pytest.mark.parametrize(("seconds", "argument"), [(5.0, b"5"), (0.25, b"0.25"), (1.5, b"1.5")])
def test_blocking_timeouts_are_whole_seconds_when_they_can_be(seconds: float, argument: bytes) -> None:
    """A float argument (a blocking command's timeout) is an integer when whole: Redis before 6.0 refuses 5.0."""
    assert b"".join(pack_commands([("BLPOP", "k", seconds)])) == b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$%d\r\n%b\r\n" % (
        len(argument),
        argument,
    )


def test_large_arguments_are_written_as_their_own_buffer_without_a_copy() -> None:
    big = b"m" * 100_000
    buffers = pack_commands([("EVALSHA", "sha", 1, "k", 60, 10, big), ("BLPOP", "r", "1")])
    assert any(buffer is big for buffer in buffers)
    assert len(buffers) == 3


def test_a_framed_message_is_one_argument_whose_payload_is_not_copied() -> None:
    """A FramedMessage goes out as the same bytes as its joined form, its payload as a buffer of its own."""
    from pysoa_like.core.framing import frame_message
    from pysoa_like.core.message import FramedMessage

    payload = b"\x81\xa1b" + b"p" * 100_000
    framed = FramedMessage(b"pysoa-redis/3//content-type:application/msgpack;", payload)
    joined = frame_message(payload, "application/msgpack")
    assert framed == joined and bytes(framed) == joined and len(framed) == len(joined) and hash(framed) == hash(joined)
    commands: list[tuple[Any, ...]] = [("EVALSHA", "sha", 1, "k", 60, 10, framed, b"small"), ("BLPOP", "r", "1")]
    buffers = pack_commands(commands)
    assert any(buffer is payload for buffer in buffers)
    expected = [("EVALSHA", "sha", 1, "k", 60, 10, joined, b"small"), ("BLPOP", "r", "1")]
    assert b"".join(buffers) == _redis_py_bytes(expected)


@pytest.mark.parametrize("size", [0, 100, 16384, 16385, 1_000_000])
@pytest.mark.parametrize("version", [1, 2, 3])
def test_frame_for_sending_equals_frame_message(size: int, version: int) -> None:
    """Small payloads are joined to their framing; big ones stay in two pieces; the bytes are the same."""
    from pysoa_like.core.framing import frame_message
    from pysoa_like.core.message import FramedMessage, frame_for_sending

    payload = b"q" * size
    [message], _oversized, _chunked = frame_for_sending(payload, "application/msgpack", version, 2_000_000)
    assert bytes(message) == frame_message(payload, "application/msgpack", version)
    assert isinstance(message, FramedMessage) is (size > 16384 and version > 1)


def test_frame_for_sending_always_gives_bytes_or_framed_bytes() -> None:
    """A serializer returning a bytearray or memoryview still puts plain bytes on the wire (version 1 too)."""
    from pysoa_like.core.message import FramedMessage, frame_for_sending

    for payload in (bytearray(b"abc"), memoryview(b"abc"), bytearray(b"z" * 20000)):
        for version in (1, 3):
            [message], _oversized, _chunked = frame_for_sending(
                payload,  # type: ignore[arg-type]
                "application/msgpack",
                version,
                100_000,
            )
            assert type(message) is bytes or (
                type(message) is FramedMessage and type(message.payload) is bytes and message.payload == payload
            )
    small = FramedMessage(b"content-type:application/msgpack;", b"\x80")
    assert b"".join(pack_commands([("EVALSHA", "sha", 1, "k", 60, 10, small)])).endswith(
        b"\r\n" + bytes(small) + b"\r\n"
    )


@pytest.mark.parametrize("seconds", [0.01, 0.05, 0.25, 0.999, 1.0, 1.5, 4.987654321, 5.0, 30.0, 3600.0])
@pytest.mark.parametrize(("drain", "move_to"), [(0, None), (99, None), (0, "pysoa:service.x:held")])
def test_a_wait_encoded_around_its_timeout_is_the_bytes_of_its_commands(
    seconds: float, drain: int, move_to: str | None
) -> None:
    """A wait kept without its timeout, the timeout encoded each time, goes out as pack_commands writes it."""
    key = "pysoa:service.x"
    commands: list[tuple[Any, ...]] = [
        ("BLPOP", key, seconds) if move_to is None else ("BLMOVE", key, move_to, "LEFT", "RIGHT", seconds)
    ]
    if drain:
        commands.append(("LPOP", key, drain))
    head, tail = wait_encoding(key, drain, move_to)
    assert head + timeout_argument(seconds) + tail == b"".join(pack_commands(commands))
