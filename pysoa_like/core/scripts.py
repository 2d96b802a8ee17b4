"""The send scripts, the meaning of their replies, how a push is made, and the queue-full retry policy.

PROTOCOL.md section 3. A push is one ``EVALSHA`` of a send script, or, for a big message once the connection
has shown it may run transactions, ``MULTI`` / ``RPUSH`` / ``EVAL`` of the check script / ``EXEC``:
:func:`push_commands` gives the commands, :func:`push_outcome` and :func:`transaction_outcome` the meaning of
Redis' replies. Error replies are any ``Exception`` whose first argument is Redis' text (the driver's own
exception classes), so this module needs no Redis client.
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

from pysoa_like.core.constants import QUEUE_FULL_BACKOFF_DIVISOR

__all__ = [
    "LUA_REFUSED_FUNCTION",
    "QUEUE_FULL_ERROR",
    "SEND_CHECK_LUA_SCRIPT",
    "SEND_MESSAGES_LUA_SCRIPT",
    "SEND_MESSAGE_LUA_SCRIPT",
    "TRANSACTION_PUSH_BYTES",
    "PushItem",
    "PushVerdict",
    "is_big",
    "push_commands",
    "push_outcome",
    "queue_full_backoff_seconds",
    "queue_full_come_back_seconds",
    "queue_full_error_message",
    "script_command",
    "script_index",
    "transaction_outcome",
    "transaction_probe_commands",
    "transactions_allowed",
]

# The error text the script replies with when the list is at capacity; redis-py puts it in ResponseError.args[0].
QUEUE_FULL_ERROR = "queue full"

#: A Lua function every send script starts with: ``refused(result, command, undo)`` answers the error of a
#: command run with ``redis.pcall``, first trimming the ``undo`` messages the script pushed off the list again.
#: An ACL refusal is answered ``NOPERM`` naming the command (Redis 6.2 and 7.x only say that the script's user
#: "can't run this command", without saying which; 8.x says "ACL failure in script: User ... has no permissions to
#: run" it), so a missing right is easy to find and reads the same on every version; any other error (WRONGTYPE,
#: OOM, ...) is passed on unchanged. A push refused half way therefore never leaves its messages behind without a
#: TTL. The rights a push needs are EVALSHA, EVAL, LLEN, RPUSH, EXPIRE and LTRIM (see ``docs/security.rst``).
LUA_REFUSED_FUNCTION = """\
local function refused(result, command, undo)
    if undo > 0 then
        redis.pcall('LTRIM', KEYS[1], 0, -undo - 1)
    end
    local text = tostring(result.err)
    if string.find(text, "can't run this command", 1, true) or string.find(text, 'no permissions to run', 1, true)
            or string.find(text, 'NOPERM', 1, true) then
        return redis.error_reply('NOPERM the Redis user may not run ' .. command .. ' on ' .. KEYS[1] ..
            ' (a push runs LLEN, RPUSH, EXPIRE and, to undo itself, LTRIM); nothing was pushed')
    end
    return redis.error_reply(text)
end
"""

# Run as EVALSHA <sha> 1 <key> <expiry_seconds> <capacity> <message>. Checking the length, pushing and refreshing
# the list's TTL must happen as one step, or concurrent senders could overfill the list.
SEND_MESSAGE_LUA_SCRIPT = (
    LUA_REFUSED_FUNCTION
    + """\
local key = KEYS[1]
local length = redis.pcall('LLEN', key)
if type(length) == 'table' then
    return refused(length, 'LLEN', 0)
end
if length >= tonumber(ARGV[2]) then
    return redis.error_reply('queue full')
end
local pushed = redis.pcall('RPUSH', key, ARGV[3])
if type(pushed) == 'table' then
    return refused(pushed, 'RPUSH', 0)
end
local refreshed = redis.pcall('EXPIRE', key, ARGV[1])
if type(refreshed) == 'table' then
    return refused(refreshed, 'EXPIRE', 1)
end
return 1
"""
)


# Like the one-message script, for several messages pushed as one step: a chunked response's chunks then stay
# together in the list even when several servers answer the same client at once (the PySOA chunk interleaving
# race). With one message it behaves exactly like the one-message script.
SEND_MESSAGES_LUA_SCRIPT = (
    LUA_REFUSED_FUNCTION
    + """\
local key = KEYS[1]
local count = #ARGV - 2
local length = redis.pcall('LLEN', key)
if type(length) == 'table' then
    return refused(length, 'LLEN', 0)
end
if length + count > tonumber(ARGV[2]) then
    return redis.error_reply('queue full')
end
local pushed = redis.pcall('RPUSH', key, unpack(ARGV, 3))
if type(pushed) == 'table' then
    return refused(pushed, 'RPUSH', 0)
end
local refreshed = redis.pcall('EXPIRE', key, ARGV[1])
if type(refreshed) == 'table' then
    return refused(refreshed, 'EXPIRE', count)
end
return count
"""
)

# A script handed a message copies it into Lua and back out (about 1.4 ms of Redis CPU per MiB, more than the
# whole RPUSH). From TRANSACTION_PUSH_BYTES on, an item is pushed instead by RPUSH inside MULTI/EXEC (Redis keeps
# a big argument without copying it), then checked by this script in the same transaction: it sees the list
# with the new messages, and when that is over capacity (exactly when the send script would have refused
# them) it trims them off again and answers the same error. Nothing else runs between the two, so no reader
# can see the messages of a refused push, and the outcome is the send script's in every case.
SEND_CHECK_LUA_SCRIPT = (
    LUA_REFUSED_FUNCTION
    + """\
local key = KEYS[1]
local count = tonumber(ARGV[3])
local length = redis.pcall('LLEN', key)
if type(length) == 'table' then
    return refused(length, 'LLEN', count)
end
if length > tonumber(ARGV[2]) then
    redis.call('LTRIM', key, 0, -count - 1)
    return redis.error_reply('queue full')
end
local refreshed = redis.pcall('EXPIRE', key, ARGV[1])
if type(refreshed) == 'table' then
    return refused(refreshed, 'EXPIRE', count)
end
return count
"""
)
_CHECK_SCRIPT_TEXT = SEND_CHECK_LUA_SCRIPT.encode()

#: From this many bytes of messages on, a push goes as a transaction (where the connection allows it).
TRANSACTION_PUSH_BYTES = 32768

# The two send scripts by index (see script_index), each as (SHA-1, text): Redis names scripts by SHA-1.
_SCRIPTS: tuple[tuple[str, bytes], ...] = tuple(
    (hashlib.sha1(script.encode()).hexdigest(), script.encode())
    for script in (SEND_MESSAGE_LUA_SCRIPT, SEND_MESSAGES_LUA_SCRIPT)
)

#: One push: ``(key, messages, expiry_seconds)``; the messages go to the list in one atomic step. A message is
#: ``bytes`` or a :class:`~pysoa_like.core.framing.FramedMessage`.
PushItem = tuple[str, Sequence[Any], int]


class PushVerdict(enum.Enum):
    """What Redis' reply to a push means."""

    PUSHED = "pushed"
    QUEUE_FULL = "queue full"
    #: Redis ran nothing (``NOSCRIPT``, or a transaction discarded at ``EXEC``): push again with the script text.
    PUSH_AGAIN = "push again"
    #: Refused for another reason (``WRONGTYPE``, ``OOM``, an ACL refusal, ...): the error is the outcome.
    REFUSED = "refused"


def is_big(item: PushItem) -> bool:
    """Whether an item is big enough to be pushed in a transaction (see ``SEND_CHECK_LUA_SCRIPT``)."""
    total = 0
    for message in item[1]:
        total += len(message)
    return total >= TRANSACTION_PUSH_BYTES


def script_index(item: PushItem) -> int:
    """Which send script pushes ``item``: 0 for one message, 1 for several (the chunks of one reply)."""
    return 0 if len(item[1]) == 1 else 1


def script_command(use_text: bool, item: PushItem, capacity: int) -> tuple[Any, ...]:
    """The send script's command for ``item``: ``EVALSHA`` (or ``EVAL`` with the text, to load it)."""
    key, messages, expiry_seconds = item
    sha, text = _SCRIPTS[script_index(item)]
    if use_text:
        return ("EVAL", text, 1, key, expiry_seconds, capacity, *messages)
    return ("EVALSHA", sha, 1, key, expiry_seconds, capacity, *messages)


def push_commands(item: PushItem, capacity: int, transaction: bool) -> list[tuple[Any, ...]]:
    """The commands that push one item: the send script, or a transaction (four replies to read)."""
    if not transaction:
        return [script_command(False, item, capacity)]
    key, messages, expiry_seconds = item
    return [
        ("MULTI",),
        ("RPUSH", key, *messages),
        ("EVAL", _CHECK_SCRIPT_TEXT, 1, key, expiry_seconds, capacity, len(messages)),
        ("EXEC",),
    ]


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
