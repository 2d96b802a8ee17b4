"""What Redis' replies to a push mean, the transaction probe, and the queue-full policy (PROTOCOL.md section 3)."""

from __future__ import annotations

import pytest

from pysoa_like.core.push_outcomes import (
    PushVerdict,
    push_outcome,
    queue_full_backoff_seconds,
    queue_full_error_message,
    transaction_outcome,
    transactions_allowed,
)
from pysoa_like.core.redis_protocol import RespError


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


@pytest.mark.parametrize(
    ("retry", "jitter", "expected"), [(0, 0.0, 0.25), (0, 0.5, 0.375), (3, 0.0, 2.0), (9, 1.0, 128.25)]
)
def test_queue_full_backoff(retry: int, jitter: float, expected: float) -> None:
    """Retry i sleeps ``(2**i + random()) / 4.0`` seconds."""
    assert queue_full_backoff_seconds(retry, lambda: jitter) == expected


def test_queue_full_backoff_default_jitter_in_range() -> None:
    """With the real random source the first backoff lies in [0.25, 0.5)."""
    assert all(0.25 <= queue_full_backoff_seconds(0) < 0.5 for _ in range(50))


def test_queue_full_error_message() -> None:
    """The final send error names the queue and the retry count as PySOA does."""
    assert queue_full_error_message("service.echo", 10) == "Redis queue service.echo was full after 10 retries"
