"""The send scripts: the Lua text Redis runs for a push (PROTOCOL.md section 3) and their ACL refusal handling.

A push is one ``EVALSHA`` of a send script, or, for a big message once the connection has shown it may run
transactions, ``MULTI`` / ``RPUSH`` / ``EVAL`` of the check script / ``EXEC``. How a push is made (and the
scripts' SHA-1s) is in :mod:`pysoa_like.core.redis_protocol`, what Redis' replies to it mean in
:mod:`pysoa_like.core.push_outcomes`.
"""

from __future__ import annotations

__all__ = [
    "LUA_REFUSED_FUNCTION",
    "QUEUE_FULL_ERROR",
    "SEND_CHECK_LUA_SCRIPT",
    "SEND_MESSAGES_LUA_SCRIPT",
    "SEND_MESSAGE_LUA_SCRIPT",
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


# The end of the scripts that push ``count`` messages: the list's TTL refreshed, then the count answered (a refused
# EXPIRE takes the pushed messages back off, see LUA_REFUSED_FUNCTION).
_LUA_REFRESH_THEN_COUNT = """\
local refreshed = redis.pcall('EXPIRE', key, ARGV[1])
if type(refreshed) == 'table' then
    return refused(refreshed, 'EXPIRE', count)
end
return count
"""


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
"""
    + _LUA_REFRESH_THEN_COUNT
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
"""
    + _LUA_REFRESH_THEN_COUNT
)
