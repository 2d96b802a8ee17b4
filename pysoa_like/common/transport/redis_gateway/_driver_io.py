"""The two Redis operations of the transport: the atomic send script and a blocking pop with a bounded read.

Kept apart from the transport logic so that the exact commands are easy to audit: ``EVALSHA`` (script loaded on
``NOSCRIPT`` by redis-py) and ``BLPOP``; nothing else touches data.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script

from pysoa_like.common.transport.redis_gateway.protocol import QUEUE_FULL_ERROR, SEND_MESSAGE_LUA_SCRIPT

__all__ = ["SEND_MESSAGES_LUA_SCRIPT", "QueueFullError", "blocking_pop", "push_messages"]

# Like the protocol core's one-message script, for several messages pushed as one step: a chunked response's
# chunks then stay together in the list even when several servers answer the same client at once (the PySOA
# chunk interleaving race). With one message it behaves exactly like the one-message script.
SEND_MESSAGES_LUA_SCRIPT = """\
local key = KEYS[1]
local count = #ARGV - 2
if redis.call('LLEN', key) + count > tonumber(ARGV[2]) then
    return redis.error_reply('queue full')
end
redis.call('RPUSH', key, unpack(ARGV, 3))
redis.call('EXPIRE', key, ARGV[1])
return count
"""

# A blocking read waits this much longer than the BLPOP timeout, so the server's nil reply always wins the race.
_READ_TIMEOUT_MARGIN_SECONDS = 2.0
# BLPOP 0 blocks forever; never send a timeout that rounds to it.
_MINIMUM_BLPOP_TIMEOUT_SECONDS = 0.01
# Attribute caching the registered scripts on each redis-py client (clients come and go with Sentinel resets).
_SCRIPTS_ATTRIBUTE = "_pysoa_like_send_scripts"


class QueueFullError(Exception):
    """The send script refused the message because the list is at capacity."""


def _scripts(client: redis.Redis) -> tuple[Script, Script]:
    scripts: tuple[Script, Script] | None = getattr(client, _SCRIPTS_ATTRIBUTE, None)
    if scripts is None:
        scripts = (client.register_script(SEND_MESSAGE_LUA_SCRIPT), client.register_script(SEND_MESSAGES_LUA_SCRIPT))
        setattr(client, _SCRIPTS_ATTRIBUTE, scripts)
    return scripts


def push_messages(client: redis.Redis, key: str, messages: list[bytes], expiry_seconds: int, capacity: int) -> None:
    """Push one message, or all chunks of one message, to a list in one atomic step and refresh its TTL.

    Args:
        client: The redis-py client of the list's host.
        key: The full Redis key.
        messages: The framed messages, in order.
        expiry_seconds: The list's new TTL.
        capacity: Refuse when the list would hold more than this many messages.

    Raises:
        QueueFullError: If the list is full.
        redis.RedisError: On any other Redis or connection failure.
    """
    single, several = _scripts(client)
    script = single if len(messages) == 1 else several
    try:
        script(keys=[key], args=[expiry_seconds, capacity, *messages], client=client)
    except redis.ResponseError as exc:
        if exc.args and QUEUE_FULL_ERROR in str(exc.args[0]):
            raise QueueFullError(str(exc)) from exc
        raise


def blocking_pop(client: redis.Redis, key: str, timeout: float) -> bytes | None:
    """``BLPOP key timeout`` whose socket read waits longer than the pop, so it never times out first.

    redis-py's own ``blpop`` reads with the connection's ``socket_timeout`` (5 s by default in redis-py >= 5),
    which would cut off a longer BLPOP; a read without any timeout would hang on a dead network.

    Args:
        client: The redis-py client of the list's host.
        key: The full Redis key.
        timeout: Seconds to block (floats work on Redis >= 6).

    Returns:
        The popped message, or None when the timeout passed.

    Raises:
        redis.RedisError: On a Redis or connection failure (the connection is then closed and the next call
            opens a new one).
    """
    timeout = max(float(timeout), _MINIMUM_BLPOP_TIMEOUT_SECONDS)
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("BLPOP", key, _timeout_argument(timeout))  # type: ignore[no-untyped-call]
        response: Any = connection.read_response(timeout=timeout + _READ_TIMEOUT_MARGIN_SECONDS)
    except BaseException:
        # A half-read reply would corrupt the next command on this connection.
        connection.disconnect()  # type: ignore[no-untyped-call]
        raise
    finally:
        pool.release(connection)
    if response is None:
        return None
    value = response[1]
    return value if isinstance(value, bytes) else bytes(value)


def _timeout_argument(timeout: float) -> str:
    # Whole seconds are sent as integers so that Redis before 6.0, which rejects fractions, still works.
    return str(int(timeout)) if timeout.is_integer() else repr(timeout)
