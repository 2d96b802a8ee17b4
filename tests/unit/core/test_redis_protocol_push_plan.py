"""How the core pushes a message: a send script's EVALSHA, or a transaction for a big one."""

from __future__ import annotations

from pysoa_like.core.redis_protocol import TRANSACTION_PUSH_BYTES, push_commands, push_plan, script_command

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
    """One look at an item gives its script (one message or several), whether it is big, and its EVALSHA."""
    small, chunks, big = push_plan(_SMALL, 10), push_plan(_CHUNKS, 10), push_plan(_BIG, 10)
    assert (small.script, chunks.script) == (0, 1)
    assert (small.big, chunks.big, big.big) == (False, False, True)
    assert small.command == script_command(False, _SMALL, 10)
    assert chunks.command == script_command(False, _CHUNKS, 10)


def test_a_big_push_is_a_transaction_checked_by_a_script() -> None:
    commands = push_commands(_BIG, 10000, transaction=True)
    assert [command[0] for command in commands] == ["MULTI", "RPUSH", "EVAL", "EXEC"]
    assert commands[1][1:] == ("pysoa:service.echo", _BIG[1][0])
