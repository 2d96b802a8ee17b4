"""How the core pushes a message (script or transaction) and what Redis' replies to a push mean."""

from __future__ import annotations

import pytest

from pysoa_like.core.redis_protocol import (
    TRANSACTION_PUSH_BYTES,
    PushVerdict,
    RespError,
    push_commands,
    push_outcome,
    push_plan,
    script_command,
    transaction_outcome,
    transactions_allowed,
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


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (None, PushVerdict.PUSHED),
        (1, PushVerdict.PUSHED),
        (RespError("queue full"), PushVerdict.QUEUE_FULL),
        (RespError("NOSCRIPT No matching script."), PushVerdict.PUSH_AGAIN),
        (RespError("WRONGTYPE Operation against a key holding the wrong kind of value"), PushVerdict.REFUSED),
    ],
)
def test_what_a_send_script_reply_means(reply: object, verdict: PushVerdict) -> None:
    assert push_outcome(reply) is verdict


def test_what_a_transaction_push_replies_mean() -> None:
    ok, queued, full = b"OK", b"QUEUED", RespError("queue full")
    assert transaction_outcome(ok, queued, queued, [1, 1]) == (PushVerdict.PUSHED, None, False)
    assert transaction_outcome(ok, queued, queued, [1, full]) == (PushVerdict.QUEUE_FULL, full, False)
    oom = RespError("OOM command not allowed")
    verdict, error, _multi_refused = transaction_outcome(ok, oom, queued, RespError("EXECABORT discarded"))
    assert verdict is PushVerdict.PUSH_AGAIN and error is oom  # nothing ran: push again with the script
    refused = RespError("NOPERM multi")
    assert transaction_outcome(refused, 1, full, RespError("ERR EXEC without MULTI")) == (
        PushVerdict.QUEUE_FULL,
        full,
        True,
    )


def test_the_probe_allows_transactions_only_when_every_reply_is_good() -> None:
    assert transactions_allowed(b"OK", b"QUEUED", [b"OK"])
    assert not transactions_allowed(RespError("NOPERM"), RespError("NOPERM"), RespError("ERR"))
    assert not transactions_allowed(b"OK", b"QUEUED", [RespError("NOPERM ltrim")])
