"""What Redis' replies to a push mean, whether a connection may push in transactions, and the queue-full policy.

PROTOCOL.md section 3. :func:`push_outcome` and :func:`transaction_outcome` read the replies to the commands
that ``push_commands`` of :mod:`pysoa_like.core.redis_protocol` gives; :func:`transaction_probe_commands` and
:func:`transactions_allowed` find out once per connection whether big items may go in transactions; a push
refused by a full queue is retried after :func:`queue_full_backoff_seconds`. Error replies are any
``Exception`` whose first argument is Redis' text (the driver's own exception classes), so this module needs no
Redis client. Only a refused push, a big one or a connection's first reaches here.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from typing import Any

from pysoa_like.core.constants import QUEUE_FULL_BACKOFF_DIVISOR
from pysoa_like.core.scripts import QUEUE_FULL_ERROR

__all__ = [
    "PushVerdict",
    "push_outcome",
    "queue_full_backoff_seconds",
    "queue_full_come_back_seconds",
    "queue_full_error_message",
    "transaction_outcome",
    "transaction_probe_commands",
    "transactions_allowed",
]


class PushVerdict(enum.Enum):
    """What Redis' reply to a push means."""

    PUSHED = "pushed"
    QUEUE_FULL = "queue full"
    #: Redis ran nothing (``NOSCRIPT``, or a transaction discarded at ``EXEC``): push again with the script text.
    PUSH_AGAIN = "push again"
    #: Refused for another reason (``WRONGTYPE``, ``OOM``, an ACL refusal, ...): the error is the outcome.
    REFUSED = "refused"


def transaction_probe_commands(key: str) -> list[tuple[Any, ...]]:
    """A transaction that changes nothing, to find out whether big items may be pushed in transactions.

    ``MULTI``, ``LTRIM key 0 -1`` and ``EXEC`` change nothing whatever the user may run: without ``MULTI`` the
    ``LTRIM`` keeps the whole list, and ``EXEC`` then fails. Every command that a push's transaction adds to
    the send script's (``MULTI``, ``EXEC``, the check script's ``LTRIM``) must be allowed, or big items go
    through the send script like small ones. A transaction's ``RPUSH`` must never run outside one: that would
    push messages the check script could then not take back. Its three replies go to :func:`transactions_allowed`.
    """
    return [("MULTI",), ("LTRIM", key, 0, -1), ("EXEC",)]


def transactions_allowed(started: Any, queued: Any, result: Any) -> bool:
    """Whether the replies to :func:`transaction_probe_commands` show that transactions may be used."""
    return (
        not isinstance(started, Exception)
        and not isinstance(queued, Exception)
        and isinstance(result, list)
        and not any(isinstance(reply, Exception) for reply in result)
    )


def push_outcome(reply: Any) -> PushVerdict:
    """The meaning of a send script's (or check script's) reply."""
    if not isinstance(reply, Exception):
        return PushVerdict.PUSHED
    text = str(reply.args[0]) if reply.args else ""
    if QUEUE_FULL_ERROR in text:
        return PushVerdict.QUEUE_FULL
    if text.startswith("NOSCRIPT") or type(reply).__name__ == "NoScriptError":
        return PushVerdict.PUSH_AGAIN
    return PushVerdict.REFUSED


def transaction_outcome(started: Any, pushed: Any, checked: Any, result: Any) -> tuple[PushVerdict, Any, bool]:
    """The meaning of the four replies of a transaction push (:func:`push_commands`).

    Returns:
        ``(verdict, error, multi_refused)``: the error reply that decided (None when pushed or discarded), and
        whether ``MULTI`` itself was refused (the user's rights changed since the probe): then ``RPUSH`` and the
        check ran on their own, one after the other, and their own replies tell what happened; the connection
        must stop using transactions.
    """
    if isinstance(result, list):
        for reply in result:
            verdict = push_outcome(reply)
            if verdict is not PushVerdict.PUSHED:
                return verdict, reply, False
        return PushVerdict.PUSHED, None, False
    if isinstance(started, Exception):
        for reply in (pushed, checked):
            verdict = push_outcome(reply)
            if verdict is not PushVerdict.PUSHED:
                return verdict, reply, True
        return PushVerdict.PUSHED, None, True
    # EXECABORT: a command was refused when queued (out of memory, a read-only replica, ...): nothing ran.
    refused = next((reply for reply in (pushed, checked, result) if isinstance(reply, Exception)), result)
    return PushVerdict.PUSH_AGAIN, refused, False


def queue_full_backoff_seconds(retry_index: int, random_value: Callable[[], float] = random.random) -> float:
    """How long to sleep before retry ``retry_index`` (0-based) after a "queue full" refusal.

    Args:
        retry_index: 0 before the first retry, 1 before the second, and so on.
        random_value: The source of the jitter in [0, 1).

    Returns:
        ``(2**retry_index + random_value()) / 4.0`` seconds.
    """
    return (float(2**retry_index) + random_value()) / QUEUE_FULL_BACKOFF_DIVISOR


def queue_full_come_back_seconds(retries: int) -> float:
    """When a client refused by a full queue after ``retries`` retries may come back: the next wait of the
    queue-full schedule (:func:`queue_full_backoff_seconds`, its jitter at the middle), by which workers have had
    the time to take some of the queue's requests.

    Args:
        retries: The retries made (0: the first push was refused and none was made).
    """
    return (float(2**retries) + 0.5) / QUEUE_FULL_BACKOFF_DIVISOR


def queue_full_error_message(queue_name: str, retries: int) -> str:
    """The ``MessageSendError`` text once a queue stayed full through every retry.

    Args:
        queue_name: The queue name without the ``pysoa:`` prefix.
        retries: The configured ``queue_full_retries``.
    """
    return f"Redis queue {queue_name} was full after {retries} retries"
