"""The atomic send script and the queue-full retry policy (PROTOCOL.md section 3)."""

from __future__ import annotations

import random
from collections.abc import Callable

from pysoa_like.common.transport.redis_gateway.constants import QUEUE_FULL_BACKOFF_DIVISOR

__all__ = [
    "QUEUE_FULL_ERROR",
    "SEND_MESSAGE_LUA_SCRIPT",
    "queue_full_backoff_seconds",
    "queue_full_error_message",
]

# The error text the script replies with when the list is at capacity; redis-py puts it in ResponseError.args[0].
QUEUE_FULL_ERROR = "queue full"

# Run as EVALSHA <sha> 1 <key> <expiry_seconds> <capacity> <message>. Checking the length, pushing and refreshing
# the list's TTL must happen as one step, or concurrent senders could overfill the list.
SEND_MESSAGE_LUA_SCRIPT = """\
local key = KEYS[1]
local expiry_seconds = ARGV[1]
local capacity = tonumber(ARGV[2])
local message = ARGV[3]
if redis.call('LLEN', key) >= capacity then
    return redis.error_reply('queue full')
end
redis.call('RPUSH', key, message)
redis.call('EXPIRE', key, expiry_seconds)
return 1
"""


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
