"""The atomic send script and the queue-full retry policy (PROTOCOL.md section 3)."""

from __future__ import annotations

import random
from collections.abc import Callable

from pysoa_like.common.transport.redis_gateway.constants import QUEUE_FULL_BACKOFF_DIVISOR

__all__ = [
    "LUA_REFUSED_FUNCTION",
    "QUEUE_FULL_ERROR",
    "SEND_MESSAGE_LUA_SCRIPT",
    "queue_full_backoff_seconds",
    "queue_full_error_message",
]

# The error text the script replies with when the list is at capacity; redis-py puts it in ResponseError.args[0].
QUEUE_FULL_ERROR = "queue full"

#: A Lua function every send script starts with: ``refused(result, command, undo)`` answers the error of a
#: command run with ``redis.pcall``, first trimming the ``undo`` messages the script pushed off the list again.
#: An ACL refusal is answered ``NOPERM`` naming the command (Redis itself only says that the script's user "can't
#: run this command", without saying which), so a missing right is easy to find; any other error (WRONGTYPE,
#: OOM, ...) is passed on unchanged. A push refused half way therefore never leaves its messages behind without a
#: TTL. The rights a push needs are EVALSHA, EVAL, LLEN, RPUSH, EXPIRE and LTRIM (see ``docs/security.rst``).
LUA_REFUSED_FUNCTION = """\
local function refused(result, command, undo)
    if undo > 0 then
        redis.pcall('LTRIM', KEYS[1], 0, -undo - 1)
    end
    local text = tostring(result.err)
    if string.find(text, "can't run this command", 1, true) or string.find(text, 'NOPERM', 1, true) then
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


def queue_full_backoff_seconds(retry_index: int, random_value: Callable[[], float] = random.random) -> float:
    """How long to sleep before retry ``retry_index`` (0-based) after a "queue full" refusal.

    Args:
        retry_index: 0 before the first retry, 1 before the second, and so on.
        random_value: The source of the jitter in [0, 1).

    Returns:
        ``(2**retry_index + random_value()) / 4.0`` seconds.
    """
    return (float(2**retry_index) + random_value()) / QUEUE_FULL_BACKOFF_DIVISOR


def queue_full_error_message(queue_name: str, retries: int) -> str:
    """The ``MessageSendError`` text once a queue stayed full through every retry.

    Args:
        queue_name: The queue name without the ``pysoa:`` prefix.
        retries: The configured ``queue_full_retries``.
    """
    return f"Redis queue {queue_name} was full after {retries} retries"
