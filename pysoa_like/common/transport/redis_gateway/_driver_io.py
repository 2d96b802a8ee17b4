"""The Redis commands of the transport, sent over one dedicated connection per thread and ring slot.

Only these commands ever touch data: ``EVALSHA`` of the send script (``EVAL`` once after ``NOSCRIPT``), ``BLPOP``
and, to drain a reply list that holds several replies, ``LPOP key count``; a big message is pushed with ``RPUSH``
inside ``MULTI``/``EXEC``, followed in the same transaction by a script that checks the capacity (see
:data:`SEND_CHECK_LUA_SCRIPT`), once a transaction that changes nothing (``MULTI``, ``LTRIM key 0 -1``,
``EXEC``) has shown that the connection's user may run them. They are kept here so that the exact commands are
easy to audit.

A :class:`Lane` owns one redis-py connection, made from the slot client's pool settings (so TLS, ACL users,
passwords, unix sockets and every ``connection_kwargs`` apply) but never returned to a pool: a connection pool's
get and release cost more CPU than the command itself on a fast network. Lanes belong to one thread each (see
:meth:`BaseRedisClient.lane_at`), so no lock is taken. Several commands can go out in one write
(:meth:`Lane.push_many`), which turns the sends of a parallel call into one round trip.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from pysoa_like.common.transport.redis_gateway._driver_connection import READ_MARGIN_SECONDS, TimedConnection
from pysoa_like.common.transport.redis_gateway._protocol.framing import FramedMessage, OutgoingMessage
from pysoa_like.common.transport.redis_gateway._protocol.sending import LUA_REFUSED_FUNCTION
from pysoa_like.common.transport.redis_gateway._resp_reader import ReplyReader
from pysoa_like.common.transport.redis_gateway.protocol import QUEUE_FULL_ERROR, SEND_MESSAGE_LUA_SCRIPT

__all__ = [
    "DEFAULT_SOCKET_TIMEOUT_SECONDS",
    "SEND_CHECK_LUA_SCRIPT",
    "SEND_MESSAGES_LUA_SCRIPT",
    "Lane",
    "PushItem",
    "QueueFullError",
    "TransactionAbortedError",
    "is_no_script",
    "must_push_again",
    "pack_commands",
]

# Like the protocol core's one-message script, for several messages pushed as one step: a chunked response's
# chunks then stay together in the list even when several servers answer the same client at once (the PySOA
# chunk interleaving race). With one message it behaves exactly like the one-message script.
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
# whole RPUSH). From this many bytes on, an item is pushed instead by RPUSH inside MULTI/EXEC (Redis keeps a
# big argument without copying it), then checked by this script in the same transaction: it sees the list
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
_TRANSACTION_PUSH_BYTES = 32768

#: The read timeout of a lane's connection when its client has no ``socket_timeout`` at all (redis-py before 6
#: defaults to none, which would wait forever on a dead network; redis-py 8 defaults to 5 seconds).
DEFAULT_SOCKET_TIMEOUT_SECONDS = 60.0
# BLPOP 0 blocks forever; never send a timeout that rounds to it.
_MINIMUM_BLPOP_TIMEOUT_SECONDS = 0.01

_SCRIPTS: tuple[tuple[str, bytes], ...] = tuple(
    (hashlib.sha1(script.encode()).hexdigest(), script.encode())  # Redis names scripts by SHA-1
    for script in (SEND_MESSAGE_LUA_SCRIPT, SEND_MESSAGES_LUA_SCRIPT)
)

#: A popped message: ``bytearray`` when big (received in place, see ``ReplyReader``), else ``bytes``.
RawMessage = bytes | bytearray

#: One push: ``(key, messages, expiry_seconds)``; the messages go to the list in one atomic step.
PushItem = tuple[str, Sequence[OutgoingMessage], int]


class QueueFullError(Exception):
    """The send script refused the message because the list is at capacity."""


def is_no_script(exc: redis.ResponseError) -> bool:
    """Whether Redis refused an EVALSHA because it does not know the script."""
    return isinstance(exc, redis.exceptions.NoScriptError) or str(exc).startswith("NOSCRIPT")


def _push_outcome(reply: Any) -> Exception | None:
    # A send script's reply: nil when it pushed, else the error it (or Redis) answered.
    if not isinstance(reply, redis.ResponseError):
        return None
    if reply.args and QUEUE_FULL_ERROR in str(reply.args[0]):
        return QueueFullError(str(reply))
    return reply


class TransactionAbortedError(redis.ResponseError):
    """Redis discarded a push's transaction (a command was refused when queued): nothing ran.

    The push is made again with the send script, whose answer is then the outcome (the send script checks
    the capacity before anything else, so a full list still answers ``queue full``).
    """


def must_push_again(error: Exception) -> bool:
    """Whether a push's error means that Redis ran nothing and the push should be made with the script text."""
    if isinstance(error, TransactionAbortedError):
        return True
    return isinstance(error, redis.ResponseError) and is_no_script(error)


def _is_big(item: PushItem) -> bool:
    total = 0
    for message in item[1]:
        total += len(message)
    return total >= _TRANSACTION_PUSH_BYTES


_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is optional
    _hiredis_pack = None

# Arguments longer than this are written as buffers of their own rather than copied into the command.
_LARGE_ARGUMENT_BYTES = 16384


def pack_commands(commands: Sequence[tuple[Any, ...]], small: bool = False) -> list[bytes]:
    """Encode commands in the Redis protocol (RESP arrays of bulk strings) as buffers to write in order.

    Small arguments are joined into as few buffers as possible; a large one (a big message) is never copied
    but written as its own buffer (hiredis' packer copies every argument, which costs milliseconds for a
    message of a few MiB). Arguments are bytes, str (UTF-8), int, or anything else by its ``str()``.

    Args:
        commands: The commands, each a tuple of its arguments.
        small: The caller knows that no argument is larger than 16 KiB: hiredis' faster packer is then used
            when hiredis is installed (the bytes are the same).
    """
    if small and _hiredis_pack is not None:
        return [_hiredis_pack(command) for command in commands]
    buffers: list[bytes] = []
    pieces: list[bytes] = []
    append = pieces.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for value in command:
            kind = type(value)
            if kind is str:
                value = value.encode()
            elif kind is int:
                value = b"%d" % value
            elif kind is FramedMessage:
                # Its framing goes with the small pieces; the payload is written as it is, never joined.
                append(b"$%d\r\n%b" % (len(value), value.head))
                buffers.append(b"".join(pieces))
                buffers.append(value.payload)
                pieces = [b"\r\n"]
                append = pieces.append
                continue
            elif kind is not bytes:
                value = str(value).encode()
            size = len(value)
            if size > _LARGE_ARGUMENT_BYTES:
                append(b"$%d\r\n" % size)
                buffers.append(b"".join(pieces))
                buffers.append(value)
                pieces = [b"\r\n"]
                append = pieces.append
            else:
                append(b"$%d\r\n%b\r\n" % (size, value))
    buffers.append(b"".join(pieces))
    return buffers


def _timeout_argument(timeout: float) -> str:
    # Whole seconds are sent as integers so that Redis before 6.0, which rejects fractions, still works.
    return str(int(timeout)) if timeout.is_integer() else repr(timeout)


def _all_small(items: Sequence[PushItem]) -> bool:
    # Only plain bytes go to hiredis' packer (a FramedMessage built by hand may be small).
    return all(
        type(message) is bytes and len(message) <= _LARGE_ARGUMENT_BYTES for item in items for message in item[1]
    )


def _script_index(item: PushItem) -> int:
    return 0 if len(item[1]) == 1 else 1


def _script_command(use_text: int, item: PushItem, capacity: int) -> tuple[Any, ...]:
    key, messages, expiry_seconds = item
    sha, text = _SCRIPTS[_script_index(item)]
    if use_text:
        return ("EVAL", text, 1, key, expiry_seconds, capacity, *messages)
    return ("EVALSHA", sha, 1, key, expiry_seconds, capacity, *messages)


def _push_commands(item: PushItem, capacity: int, transaction: bool) -> list[tuple[Any, ...]]:
    """The commands that push one item: the send script, or a transaction (4 replies to read)."""
    if not transaction:
        return [_script_command(0, item, capacity)]
    key, messages, expiry_seconds = item
    return [
        ("MULTI",),
        ("RPUSH", key, *messages),
        ("EVAL", _CHECK_SCRIPT_TEXT, 1, key, expiry_seconds, capacity, len(messages)),
        ("EXEC",),
    ]


class Lane:
    """One thread's own connection to one ring slot, with the transport's commands.

    Any connection or protocol failure closes the connection before the error propagates (a half-read reply
    would corrupt the next command); the next command reconnects.

    Args:
        client: The slot's redis-py client; only its pool's connection class and settings are used.
    """

    __slots__ = (
        "__weakref__",
        "_connection",
        "_deferred",
        "_drain_supported",
        "_loaded",
        "_reader",
        "_socket_timeout",
        "_timed",
        "_transactions",
        "client",
        "settled",
    )

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        pool: Any = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        if kwargs.get("socket_timeout") is None:
            # redis-py's default waits forever for a reply; a lane never does.
            kwargs["socket_timeout"] = DEFAULT_SOCKET_TIMEOUT_SECONDS
        self._socket_timeout: float = kwargs["socket_timeout"]
        self._connection: Any = pool.connection_class(**kwargs)
        self._timed = TimedConnection(self._connection, self._socket_timeout)
        self._reader = ReplyReader(self._connection)
        # LPOP with a count needs Redis 6.2; older servers get one BLPOP per reply.
        self._drain_supported = True
        # Which of the two scripts this connection has run (so Redis has it cached).
        self._loaded: set[int] = set()
        # Whether big items may be pushed in a transaction on this connection (None: not probed yet).
        self._transactions: bool | None = None
        # Pushes written but whose replies are not read yet (see push_deferred), in order, each with whether
        # it went as a transaction (how many replies it has).
        self._deferred: list[tuple[PushItem, bool]] = []
        #: The outcomes of deferred pushes read by :meth:`blocking_pop`, for the caller to act on.
        self.settled: list[tuple[PushItem, Exception | None]] = []

    def close(self) -> None:
        """Close the connection (the next command opens a new one)."""
        self._disconnect()

    def check_connection(self) -> bool:
        """Whether Redis closed this lane's connection while it was idle (the next command opens a new one).

        A restart, a failover, an idle timeout or ``CLIENT KILL`` close connections; found before a command is
        written, that costs nothing but a reconnection.
        """
        if self._deferred or not self._timed.closed_while_idle():
            return False
        self._forget_connection()
        return True

    def _disconnect(self) -> None:
        self._connection.disconnect()
        self._forget_connection()

    def _forget_connection(self) -> None:
        """Forget what was known of the closed connection (the next command opens a new one)."""
        self._reader.reset()
        self._loaded.clear()
        self._transactions = None
        if self._deferred:
            # Their replies went with the connection: whether Redis ran them cannot be known. Left pending,
            # they would take the replies of the next connection's commands as their own.
            lost = redis.ConnectionError("The connection closed before Redis acknowledged the push")
            self.settled.extend((item, lost) for item, _transaction in self._deferred)
            self._deferred = []

    # Sending

    def push(
        self,
        key: str,
        messages: Sequence[OutgoingMessage],
        expiry_seconds: int,
        capacity: int,
        script_only: bool = False,
        deadline: float | None = None,
    ) -> None:
        """Push one message, or all chunks of one message, to a list in one atomic step and refresh its TTL.

        Args:
            script_only: Use the send script even for a big item (see :meth:`push_many`).
            deadline: ``time.monotonic()`` by which Redis must have answered (default: ``socket_timeout``).

        Raises:
            QueueFullError: If the list is full.
            redis.RedisError: On any other Redis or connection failure.
        """
        error = self.push_many([(key, messages, expiry_seconds)], capacity, script_only, deadline)[0]
        if error is not None:
            raise error

    def push_many(
        self, items: Sequence[PushItem], capacity: int, script_only: bool = False, deadline: float | None = None
    ) -> list[Exception | None]:
        """Push every item in one write and one read of the replies.

        An item is pushed by the send script; a big one (32 KiB or more) in a transaction instead, once this
        connection has shown that it may run one (:meth:`_probe_transactions`), unless ``script_only``. A
        push that Redis did not run (``NOSCRIPT``, or a transaction discarded because a command was refused
        when queued) is made again with the script's text, whose answer is then the item's outcome.

        Returns:
            Per item, None when pushed, else its error (:class:`QueueFullError` or a ``redis.ResponseError``).

        Raises:
            redis.ConnectionError, redis.TimeoutError: The connection failed; nothing is known about which items
                were pushed.
        """
        if self._deferred:
            self.settled.extend(self.settle())
        small = _all_small(items)
        try:
            plans = self._transaction_plans(items, script_only)
            commands: list[tuple[Any, ...]] = []
            for item, transaction in zip(items, plans, strict=True):
                commands.extend(_push_commands(item, capacity, transaction))
            self._write(commands, small, deadline)
            errors: list[Exception | None] = []
            retry: list[int] = []
            for position, transaction in enumerate(plans):
                error = self._read_outcome(transaction)
                errors.append(error)
                if error is not None and must_push_again(error):
                    retry.append(position)
            if retry:
                # The push did not run: EVAL sends the script's text (and caches it for the next EVALSHA).
                self._write([_script_command(1, items[position], capacity) for position in retry], small, deadline)
                read = self._reader.read
                for position in retry:
                    errors[position] = _push_outcome(read())
                    plans[position] = False
        except BaseException:
            self._disconnect()
            raise
        for item, transaction, error in zip(items, plans, errors, strict=True):
            if error is None and not transaction:
                self._loaded.add(_script_index(item))
        return errors

    def _transaction_plans(self, items: Sequence[PushItem], script_only: bool) -> list[bool]:
        """Per item, whether it goes as a transaction (probing the connection at its first big item).

        Decided once per push, when its commands are written: its replies are read accordingly.
        """
        if script_only or self._transactions is False:
            return [False] * len(items)
        plans = [_is_big(item) for item in items]
        if self._transactions is None and True in plans:
            self._probe_transactions(items[plans.index(True)][0])
            if not self._transactions:
                return [False] * len(items)
        return plans

    def _as_transaction(self, item: PushItem) -> bool:
        return self._transactions is True and _is_big(item)

    def _probe_transactions(self, key: str) -> None:
        """Find out, once per connection, whether big items may go in a transaction.

        ``MULTI``, ``LTRIM key 0 -1`` and ``EXEC`` change nothing whatever the user may run: without
        ``MULTI`` the ``LTRIM`` keeps the whole list, and ``EXEC`` then fails. Every command that a push's
        transaction adds to the send script's (``MULTI``, ``EXEC``, the check script's ``LTRIM``) must be
        allowed, or big items go through the send script like small ones. A transaction's ``RPUSH`` must
        never run outside one: that would push messages the check script could then not take back.
        """
        self._write([("MULTI",), ("LTRIM", key, 0, -1), ("EXEC",)], True)
        read = self._reader.read
        started, queued, result = read(), read(), read()
        self._transactions = (
            not isinstance(started, Exception)
            and not isinstance(queued, Exception)
            and isinstance(result, list)
            and not any(isinstance(reply, Exception) for reply in result)
        )

    def _read_outcome(self, transaction: bool) -> Exception | None:
        """Read the replies of one item's push commands (:func:`_push_commands`): None when pushed, else the error."""
        read = self._reader.read
        if not transaction:
            return _push_outcome(read())
        started, pushed, checked, result = read(), read(), read(), read()
        if isinstance(result, list):
            for reply in result:
                outcome = _push_outcome(reply)
                if outcome is not None:
                    return outcome
            return None
        if isinstance(started, Exception):
            # MULTI was refused although the probe ran it (the user's rights changed since): RPUSH and the
            # check ran on their own, one after the other. Their own replies tell what happened.
            self._transactions = False
            return _push_outcome(pushed) or _push_outcome(checked)
        # EXECABORT: a command was refused when queued (out of memory, a read-only replica, ...): nothing ran.
        refused = next((reply for reply in (pushed, checked, result) if isinstance(reply, Exception)), result)
        return TransactionAbortedError(f"Redis discarded the push: {refused}")

    def can_defer(self, item: PushItem) -> bool:
        """Whether :meth:`push_deferred` may take ``item``: its script already ran on this connection, or it is
        big and this connection goes in transactions (whose check script is sent as text)."""
        return self._as_transaction(item) or _script_index(item) in self._loaded

    def push_deferred(self, item: PushItem, capacity: int) -> None:
        """Write the push of ``item`` without waiting for Redis' reply.

        The reply is read by the next :meth:`blocking_pop` (its outcome then goes to :attr:`settled`) or
        :meth:`settle`, so a server pays one wait per request instead of two. Only for items that
        :meth:`can_defer` accepts: a script Redis no longer knows would only be found out later.

        Raises:
            redis.ConnectionError, redis.TimeoutError: The write failed (the item was not pushed).
        """
        transaction = self._as_transaction(item)
        try:
            self._write(_push_commands(item, capacity, transaction), _all_small([item]))
        except BaseException:
            self._disconnect()
            raise
        self._deferred.append((item, transaction))

    @property
    def has_deferred(self) -> bool:
        """Whether deferred pushes still wait for their replies to be read."""
        return bool(self._deferred)

    def settle(self) -> list[tuple[PushItem, Exception | None]]:
        """Read the replies of every deferred push.

        Returns:
            Per deferred item, in order: None when pushed, else its error (:class:`QueueFullError`, a
            ``redis.ResponseError`` such as NOSCRIPT, or the connection error that cut the reading short: the
            connection is then closed and whether Redis ran those items cannot be known).
        """
        deferred, self._deferred = self._deferred, []
        self._reader.read_deadline = time.monotonic() + self._socket_timeout
        results: list[tuple[PushItem, Exception | None]] = []
        for position, (item, transaction) in enumerate(deferred):
            try:
                results.append((item, self._read_outcome(transaction)))
            except Exception as exc:
                self._disconnect()
                results.extend((unread, exc) for unread, _transaction in deferred[position:])
                break
            except BaseException:
                self._disconnect()
                raise
        return results

    def _write(
        self, commands: Sequence[tuple[Any, ...]], small: bool, deadline: float | None = None, blocking: bool = False
    ) -> None:
        """Write commands whose replies must be read by ``deadline`` (default: ``socket_timeout`` from now).

        A connection idle for a while is checked first, and replaced if Redis closed it (see
        :class:`TimedConnection`); one that is not open yet is opened within the deadline.
        """
        buffers = pack_commands(commands, small)
        size = 0 if small else sum(len(buffer) for buffer in buffers)
        reader = self._reader
        closed, deadline = self._timed.prepare(deadline, bool(self._deferred), size, reader.timeout_extended, blocking)
        if closed:
            self._forget_connection()
        reader.read_deadline = deadline
        reader.timeout_extended = False
        self._connection.send_packed_command(buffers, check_health=False)

    def execute(self, *command: Any) -> Any:
        """Run one small command (not a push or pop) and return Redis' reply.

        Raises:
            redis.RedisError: Redis refused it, or the connection failed (and is closed).
        """
        if self._deferred:
            self.settled.extend(self.settle())
        try:
            self._write([command], True)
            reply = self._reader.read()
        except BaseException:
            self._disconnect()
            raise
        if isinstance(reply, Exception):
            raise reply
        return reply

    # Receiving

    def blocking_pop(self, key: str, timeout: float, drain: int = 0) -> list[RawMessage]:
        """``BLPOP key timeout``, plus ``LPOP key drain`` in the same write when ``drain`` > 0.

        The socket read waits longer than the pop, so Redis' nil reply always comes first; a read without any
        timeout would hang on a dead network. The drain takes whatever else is already in the list, so a client
        waiting for several replies pays one round trip for all that have arrived.

        Args:
            key: The full Redis key.
            timeout: Seconds to block (fractions work on Redis >= 6).
            drain: How many more messages to take at most, without waiting.

        Returns:
            The popped messages, oldest first; empty when the timeout passed.

        Raises:
            redis.RedisError: On a Redis or connection failure (the connection is closed first).
        """
        timeout = max(float(timeout), _MINIMUM_BLPOP_TIMEOUT_SECONDS)
        read = self._reader.read
        drain = drain if self._drain_supported else 0
        try:
            commands: list[tuple[Any, ...]] = [("BLPOP", key, _timeout_argument(timeout))]
            if drain > 0:
                commands.append(("LPOP", key, drain))
            # Redis' nil reply comes at the BLPOP's timeout: the read waits a little longer, never much longer.
            self._write(commands, True, time.monotonic() + timeout + READ_MARGIN_SECONDS, blocking=True)
            if self._deferred:
                # Replies to deferred pushes come before the BLPOP's; read them (without delaying the BLPOP).
                results = self.settle()
                self.settled.extend(results)
                failure = results[-1][1]
                if failure is not None and not isinstance(failure, redis.ResponseError | QueueFullError):
                    raise failure  # the connection broke (and is closed): the BLPOP's reply is lost with it
            response: Any = read()
            if isinstance(response, Exception):
                raise response
            more: Any = None
            if drain > 0:
                more = read()
                if isinstance(more, Exception):
                    # Redis before 6.2: LPOP takes no count. The BLPOP reply above is still good.
                    self._drain_supported = False
                    more = None
        except BaseException:
            self._disconnect()
            raise
        popped: list[RawMessage] = [] if response is None else [response[1]]
        if more:
            # Even after a BLPOP timeout: a message pushed between the two commands must not be lost.
            popped.extend(more)
        return popped
