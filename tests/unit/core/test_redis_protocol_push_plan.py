"""How the core pushes a message: a send script's EVALSHA, or a transaction for a big one."""

from __future__ import annotations

from typing import Any

import pytest
from redis.connection import PythonRespSerializer

from pysoa_like.core.framing import FramedMessage
from pysoa_like.core.redis_protocol import (
    TRANSACTION_PUSH_BYTES,
    pack_commands,
    push_commands,
    push_plan,
    script_command,
)

_SMALL = ("pysoa:service.echo", [b"m"], 60)
_CHUNKS = ("pysoa:service.echo.c!t", [b"a", b"b"], 60)
_BIG = ("pysoa:service.echo", [b"x" * TRANSACTION_PUSH_BYTES], 60)


def test_a_small_push_is_one_evalsha_naming_the_key_expiry_capacity_and_message() -> None:
    ((name, sha, keys, key, expiry, capacity, message),) = push_commands(_SMALL, 10000, transaction=False)
    assert (name, keys, key, expiry, capacity, message) == ("EVALSHA", 1, "pysoa:service.echo", 60, 10000, b"m")
    assert len(sha) == 40 and int(sha, 16) >= 0


def test_chunks_go_to_another_script_than_single_messages() -> None:
    assert script_command(False, _SMALL, 1)[1] != script_command(False, _CHUNKS, 1)[1]
    assert script_command(True, _SMALL, 1)[0] == "EVAL"


def test_a_push_plan_names_the_script_the_size_and_the_evalsha() -> None:
    """One look at an item gives its script (one message or several), whether it is big, and its EVALSHA; the plan
    keeps the item and the capacity, so a connection given it needs nothing else to write it."""
    small, chunks, big = push_plan(_SMALL, 10), push_plan(_CHUNKS, 10), push_plan(_BIG, 10)
    assert (small.item, small.capacity, big.item, big.capacity) == (_SMALL, 10, _BIG, 10)
    assert (small.script, chunks.script) == (0, 1)
    assert (small.big, chunks.big, big.big) == (False, False, True)
    for item, plan in ((_SMALL, small), (_CHUNKS, chunks), (_BIG, big)):
        assert b"".join(pack_commands([plan.command])) == b"".join(pack_commands([script_command(False, item, 10)]))


_FRAMED = FramedMessage(b"2;content-type:application/msgpack;", b"p" * 20000)


@pytest.mark.parametrize(
    "item",
    [
        _SMALL,
        _CHUNKS,
        ("pysoa:service.clé-ü.c!t", [b"", b"\r\n", b"x" * 17000], 3600),
        ("pysoa:service.echo", [_FRAMED], 60),
        ("pysoa:service.echo", [b"x" * (TRANSACTION_PUSH_BYTES - 1)], 60),
        ("pysoa:service.echo", [_FRAMED, _FRAMED], 60),
        ("pysoa:service.echo", [b"m"], 2.5),
    ],
)
def test_a_push_goes_out_as_the_bytes_redis_py_writes_for_its_evalsha(item: Any) -> None:
    """However a plan holds its EVALSHA (encoded at once when small), the bytes written are redis-py's for it."""
    key, messages, expiry = item
    plain = [bytes(message) for message in messages]
    sha = script_command(False, item, 10000)[1]
    expected = PythonRespSerializer(6000, _encode).pack("EVALSHA", sha, 1, key, expiry, 10000, *plain)
    assert b"".join(pack_commands([push_plan(item, 10000).command])) == b"".join(expected)
    assert b"".join(pack_commands([push_plan(item, 10000).command, ("PING",)])) == b"".join(expected) + (
        b"*1\r\n$4\r\nPING\r\n"
    )


@pytest.mark.parametrize("size", [16383, 16384, 16385, 16400, TRANSACTION_PUSH_BYTES - 1])
@pytest.mark.parametrize("count", [1, 2])
def test_a_push_around_the_large_argument_size_is_the_bytes_of_its_evalsha_and_a_large_one_is_not_copied(
    size: int, count: int
) -> None:
    """Pushes of 16 KiB of messages or less may be encoded by their plan in one piece; over that, a message is written
    as it is (the rule of pack_commands: nothing larger is ever copied), and the bytes are the same either way."""
    messages = [b"a" * (size - count + 1)] + [b"b"] * (count - 1)
    item = ("pysoa:service.echo", messages, 60)
    buffers = pack_commands([push_plan(item, 10000).command, ("PING",)])
    expected = pack_commands([script_command(False, item, 10000), ("PING",)])
    assert b"".join(buffers) == b"".join(expected)
    assert any(buffer is messages[0] for buffer in buffers) == (len(messages[0]) > 16384)


def _encode(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def test_a_big_push_is_a_transaction_checked_by_a_script() -> None:
    commands = push_commands(_BIG, 10000, transaction=True)
    assert [command[0] for command in commands] == ["MULTI", "RPUSH", "EVAL", "EXEC"]
    assert commands[1][1:] == ("pysoa:service.echo", _BIG[1][0])
