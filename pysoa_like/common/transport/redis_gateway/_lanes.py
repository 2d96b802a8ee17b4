"""One thread's connection to one Redis master (a *lane*): the transport's commands, written and read there.

Only these commands ever touch data: the pushes that :mod:`pysoa_like.core.redis_protocol` plans (the send
script's ``EVALSHA``, ``EVAL`` once after ``NOSCRIPT``, or for a big message a ``MULTI``/``RPUSH``/check
script/``EXEC`` transaction once the connection has shown that its user may run one), ``BLPOP`` and, to drain a
reply list that holds several replies, ``LPOP key count``. What each reply means is the core's decision; a lane
writes the commands, reads the replies in order and keeps the state of its connection.

A :class:`Lane` owns one connection (:class:`~._connect.SocketConnection`: a socket it opens itself, to the slot
client's endpoint, so TLS, ACL users, passwords, unix sockets and the database apply), never shared or pooled: a
connection pool's get and release cost more CPU than the command itself on a fast network. Lanes belong to one
thread each (see :meth:`BaseRedisClient.lane_at`), so no lock is taken. Several commands can go out in one
write (:meth:`Lane.push_many`), which turns the sends of a parallel call into one round trip.

**Liveness.** Redis (or a proxy in front of it) closes connections: idle ones after ``timeout`` seconds, all of
them when it restarts or fails over, any one with ``CLIENT KILL``. A lane keeps its connection, so it checks
before writing on one that has been idle: a connection with no reply expected has nothing to read, so a socket
that is readable (end of file, or bytes nobody asked for) is dead (:func:`looks_closed`), and it is closed
before the write instead of failing it. A command written on it would otherwise be lost, or worse, half known
(was it run?).

**Deadlines.** Every read has one (the caller's: a call's timeout plus a margin, or ``socket_timeout``). The
socket's timeout follows the shortest budget seen, rounded up to a quarter second so that calls with the same
timeout change it once and not on every call (a change is a system call); a read that outlives the socket
timeout is tried again until its deadline (see :class:`ReplyReader`). A frozen Redis (SIGSTOP, a stuck proxy:
the TCP connection stays up) therefore never holds a call more than :data:`READ_MARGIN_SECONDS` plus a quarter
second past its deadline. Connecting is bounded by the same deadline.

**Reading.** :class:`ReplyReader` receives from the socket into the core's RESP parser
(:meth:`~pysoa_like.core.redis_protocol.RespParser.read_replies`: what is buffered is parsed first, a big bulk
string is received in place) and turns error replies into redis-py's public exception classes.

**Where it lives.** This module holds what a call's push, wait and reply run. A lane's commands whose replies it
reads at once (pushes by the send script or a big message's transaction, single commands, ``ASK`` redirections)
are in its base :class:`~._lane_round_trips.RoundTrips`, and what error replies mean in :mod:`._reply_errors`.
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis

from pysoa_like.common.transport.redis_gateway._connect import SocketConnection
from pysoa_like.common.transport.redis_gateway._lane_round_trips import RoundTrips
from pysoa_like.common.transport.redis_gateway._reply_errors import (
    PushRefusedBeforeWait,
    QueueFullError,
    TransactionAbortedError,
    must_push_again,
    redis_error,
    script_error,
)
from pysoa_like.core.redis_protocol import (
    Command,
    PushItem,
    PushPlan,
    RespError,
    RespParser,
    RespProtocolError,
    pack_commands,
    push_commands,
    timeout_argument,
    wait_encoding,
)

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.backend.base import SlotClient

__all__ = [
    "DEFAULT_SOCKET_TIMEOUT_SECONDS",
    "IDLE_CHECK_SECONDS",
    "READ_MARGIN_SECONDS",
    "Lane",
    "PushItem",
    "PushRefusedBeforeWait",
    "QueueFullError",
    "RawMessage",
    "ReplyReader",
    "TransactionAbortedError",
    "looks_closed",
    "must_push_again",
    "redis_error",
]

#: The read timeout of a lane's connection when ``connection_kwargs`` set no ``socket_timeout`` (none at all would
#: wait forever on a dead network).
DEFAULT_SOCKET_TIMEOUT_SECONDS = 60.0
#: How much longer than a ``BLPOP``'s own timeout its reply is waited for, so Redis' nil reply wins the race.
READ_MARGIN_SECONDS = 1.0
#: A connection unused for this long is checked before the next write (back-to-back commands are not: the check
#: is a system call, and a connection that just answered is alive).
IDLE_CHECK_SECONDS = 0.002
# Read budgets are rounded up to this, so the socket timeout rarely changes.
_BUDGET_STEP_SECONDS = 0.25
# Writes shorter than this count as small for the socket timeout (Lane._ready): it is only ever lowered for them.
_SMALL_WRITE_BYTES = 65536
# Writes of this many bytes or more get the whole socket_timeout (a socket timeout bounds a whole sendall).
_BIG_WRITE_BYTES = 1024 * 1024
# A caller's wait counts as shorter than the one sent with its push (so the read is cut short) from this much on;
# the sent wait counted from the send, the caller's from its receive, and a read may end a quarter second late.
_SHORTER_WAIT_SECONDS = 0.25
# How many encoded waits a lane keeps (Lane._encode_wait), one per list (and drain and move target) whatever its
# timeout: a thread waits on one or two lists.
_KEPT_WAITS = 8
# BLPOP 0 blocks forever; never send a timeout that rounds to it.
_MINIMUM_BLPOP_TIMEOUT_SECONDS = 0.01

#: A popped message: ``bytearray`` when big (received in place, see ``ReplyReader``), else ``bytes``.
RawMessage = bytes | bytearray


def looks_closed(sock: Any) -> bool:
    """Whether a connection that owes us no reply is dead: its socket is readable, or holds decrypted bytes."""
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted but not read
    if pending is not None and pending():
        return True
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class ReplyReader:
    """Reads whole replies from one connection's socket, within the read deadline.

    Error replies are returned (as redis-py's exception objects, e.g. ``NoScriptError``), not raised, so a
    caller reading several replies can act on each; those that redis-py counts as connection errors
    (``LOADING``, ``NOAUTH``, ...) are raised, since the connection cannot be used as it is. A failure of
    the connection itself is raised as ``redis.ConnectionError`` or ``redis.TimeoutError``; whatever was
    half read is then useless, and the caller must close the connection (and :meth:`reset` this reader,
    which closing a lane does).

    Args:
        connection: The connection whose socket is read (it must be connected when reading).
    """

    __slots__ = ("_connection", "_parser", "_sock", "read_deadline", "timeout_extended")

    def __init__(self, connection: SocketConnection) -> None:
        self._connection = connection
        self._parser = RespParser()
        self._sock: Any = None
        #: ``time.monotonic()`` until which a receive that timed out is tried again (0: not at all). For a
        #: reply that may come later than the socket timeout (a long BLPOP): the timeout is only changed on the
        #: rare receive that runs out, not twice per call.
        self.read_deadline = 0.0
        #: Whether the socket's timeout was changed for :attr:`read_deadline` (the owner puts it back).
        self.timeout_extended = False

    def reset(self) -> None:
        """Forget buffered bytes and any read deadline (after the connection was closed)."""
        self._parser.reset()
        self._sock = None
        self.read_deadline = 0.0
        self.timeout_extended = False

    def read(self, push: bool = False) -> Any:
        """Read one reply: bytes, bytearray (big bulk strings), int, list, dict, None or an error object.

        Args:
            push: The reply is a send script's: an error reply is returned as what it means for the push
                (:class:`QueueFullError`, or Redis' error), any other reply (pushed) as None.

        Raises:
            redis.ConnectionError: The connection was closed or failed, or sent something that is not RESP.
            redis.TimeoutError: The socket timed out.
        """
        replies: list[Any] = []
        self.read_replies(replies, 1)
        reply = replies[0]
        if push:
            return script_error(reply) if isinstance(reply, Exception) else None
        return reply

    def read_replies(self, replies: list[Any], count: int) -> None:
        """Read replies into ``replies`` until it holds ``count`` or an error reply (the read stops after one).

        What :meth:`read` returns for each (error replies as redis-py's exception objects). A write's several
        replies are read in one go (the core parser's ``read_replies``).

        Raises:
            redis.ConnectionError: The connection was closed or failed, or sent something that is not RESP.
            redis.TimeoutError: The socket timed out (``replies`` holds those read before; the connection must be
                closed, or the read made again with the same list).
        """
        sock = self._connection.sock
        if sock is None:
            raise redis.ConnectionError("The connection is closed")
        if sock is not self._sock:
            # A new socket (reconnected): nothing buffered belongs to it.
            self._parser.reset()
            self._sock = sock
        try:
            while True:
                try:
                    received = self._parser.read_replies(sock.recv_into, replies, count)
                    break
                except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
                    self._extend_timeout(exc)
        except RespProtocolError as exc:
            raise redis.ConnectionError(f"Protocol error: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"Error while reading from {self._connection.endpoint}: {exc}") from exc
        if not received:
            raise redis.ConnectionError("Connection closed by server.")
        if type(replies[-1]) is RespError:
            error = redis_error(replies[-1])
            if not isinstance(error, redis.ResponseError):
                raise error
            replies[-1] = error

    def _extend_timeout(self, timed_out: TimeoutError) -> None:
        """Give the socket what is left until :attr:`read_deadline`, or raise ``redis.TimeoutError``."""
        remaining = self.read_deadline - time.monotonic()
        if remaining <= 0:
            raise redis.TimeoutError("Timeout reading from socket") from timed_out
        self._sock.settimeout(remaining)
        self.timeout_extended = True


class Lane(RoundTrips):
    """One thread's own connection to one ring slot, with the transport's commands.

    Any connection or protocol failure closes the connection before the error propagates (a half-read reply
    would corrupt the next command); the next command reconnects.

    Args:
        client: The slot's client; only its endpoint (where and how to connect) is used.
    """

    __slots__ = (
        "__weakref__",
        "_connection",
        "_current_timeout",
        "_deferred",
        "_drain_supported",
        "_early",
        "_encoded_waits",
        "_fused",
        "_loaded",
        "_reader",
        "_socket_timeout",
        "before_replies",
        "client",
        "settled",
    )

    def __init__(self, client: SlotClient) -> None:
        self.client = client
        endpoint = client.endpoint
        socket_timeout = endpoint.socket_timeout
        self._socket_timeout = DEFAULT_SOCKET_TIMEOUT_SECONDS if socket_timeout is None else socket_timeout
        self._connection = SocketConnection(endpoint)
        # The socket's timeout now, and when the lane last wrote (or found its connection alive).
        self._current_timeout = self._socket_timeout
        self._last_write = 0.0
        self._reader = ReplyReader(self._connection)
        # LPOP with a count needs Redis 6.2; older servers get one BLPOP per reply.
        self._drain_supported = True
        # Which of the two scripts this connection has run (so Redis has it cached).
        self._loaded: set[int] = set()
        # Whether big items may be pushed in a transaction on this connection (None: not probed yet).
        self._transactions: bool | None = None
        # Replies to looks at a queue (RoundTrips.ask) not read yet: a look given up leaves its reply to be dropped.
        self._owed = 0
        # Pushes written but whose replies are not read yet (see push_deferred), in order, each with whether it
        # went as a transaction and how many replies it gets (those of the commands written just before it, which
        # come first, then its own).
        self._deferred: list[tuple[PushItem, bool, int]] = []
        #: The deferred pushes that failed, with their errors, found by :meth:`settle` (or a pop) or when the connection
        #: closed, for the caller to act on.
        self.settled: list[tuple[PushItem, Exception]] = []
        #: The replies to the commands :meth:`blocking_pop` wrote before its pop (``before``), errors included.
        self.before_replies: list[Any] = []
        # A push written with a wait (push_and_pop): (item, key waited on, read deadline, keeps_wait: whether the
        # push is a server's reply, whose refusal is settled rather than raised).
        self._fused: tuple[PushItem, str, float, bool] | None = None
        # The waits written lately by (key, drain, move_to): the last timeout, the wait encoded with it, and what
        # comes before and after the timeout (see _encode_wait).
        self._encoded_waits: dict[tuple[str, int, str | None], tuple[float, bytes, bytes, bytes]] = {}
        # Its outcome when something else needed the connection first: (key, popped messages or the refusal).
        self._early: tuple[str, list[RawMessage] | PushRefusedBeforeWait] | None = None

    def close(self) -> None:
        """Close the connection (the next command opens a new one)."""
        self._disconnect()

    def check_connection(self) -> bool:
        """Whether Redis closed this lane's connection while it was idle (the next command opens a new one).

        A restart, a failover, an idle timeout or ``CLIENT KILL`` close connections; found before a command is
        written, that costs nothing but a reconnection.
        """
        if self._deferred or self._fused is not None:
            return False  # replies are owed: not idle
        sock = self._connection.sock
        now = time.monotonic()
        if sock is None or now - self._last_write < IDLE_CHECK_SECONDS:
            return False
        if looks_closed(sock):
            self._disconnect()
            return True
        self._last_write = now  # alive: the write that follows does not check it again
        return False

    def _disconnect(self) -> None:
        self._connection.disconnect()
        self._forget_connection()

    def _forget_connection(self) -> None:
        """Forget what was known of the closed connection (the next command opens a new one)."""
        self._reader.reset()
        self._loaded.clear()
        self._transactions = None
        self._owed = 0
        self._fused = None  # the wait went with the connection (the reply, if popped, is lost with it)
        if self._deferred:
            # Their replies went with the connection: whether Redis ran them cannot be known. Left pending,
            # they would take the replies of the next connection's commands as their own.
            lost = redis.ConnectionError("The connection closed before Redis acknowledged the push")
            self.settled.extend((item, lost) for item, _transaction, _replies in self._deferred)
            self._deferred = []

    # Sending

    def push_deferred(self, push: PushPlan, before: Sequence[tuple[Any, ...]] = ()) -> bool:
        """Write a planned push (``core.redis_protocol.push_plan``) without waiting for Redis' reply, when that is
        safe.

        The reply is read by the next :meth:`blocking_pop` (a failure then goes to :attr:`settled`) or
        :meth:`settle`, so a server pays one wait per request instead of two. It is safe when the push's script
        already ran on this connection, or when the push is big and this connection goes in transactions (whose
        check script is sent as text); otherwise nothing is written (a script Redis does not know would only be
        found out later): push its item with :meth:`push`, which waits.

        Args:
            before: Commands Redis must run just before the push, written with it (their replies are read and
                dropped: what they do must be allowed to fail, such as keeping a copy of the reply).

        Returns:
            Whether the push was written (False: nothing was).

        Raises:
            redis.ConnectionError, redis.TimeoutError: The write failed (the item was not pushed).
        """
        transaction = self._transactions is True and push.big
        if not transaction and push.script not in self._loaded:
            return False
        if self._fused is not None:
            self._settle_fused()
        item = push.item
        command = push.command
        commands: list[Command] = [*push_commands(item, push.capacity, True)] if transaction else [command]
        try:
            if before or not isinstance(command, bytes) or transaction:
                self._send(pack_commands([*before, *commands]))
            else:
                self._send([command])  # (a small push, encoded by its plan)
        except BaseException:
            self._disconnect()
            raise
        self._deferred.append((item, transaction, len(before) + len(commands)))
        return True

    @property
    def has_deferred(self) -> bool:
        """Whether deferred pushes still wait for their replies to be read."""
        return bool(self._deferred)

    def settle(self) -> list[tuple[PushItem, Exception | None]]:
        """Read the replies of every deferred push, keeping the failed ones in :attr:`settled`.

        Returns:
            Per deferred item, in order: None when pushed, else its error (:class:`QueueFullError`, a
            ``redis.ResponseError`` such as NOSCRIPT, or the connection error that cut the reading short: the
            connection is then closed and whether Redis ran those items cannot be known).
        """
        self._reader.read_deadline = time.monotonic() + self._socket_timeout
        return self._read_deferred(0)[0]

    def _read_deferred(self, then: int) -> tuple[list[tuple[PushItem, Exception | None]], list[Any], Exception | None]:
        """Read the replies of every deferred push and of the ``then`` commands written after them, in one go.

        Returns:
            Per deferred item its outcome (see :meth:`settle`), the replies of the ``then`` commands, and the
            connection failure that cut the reading short (None: none did; else the connection is closed, and
            the items and commands whose replies are missing have it as their outcome).
        """
        deferred, self._deferred = self._deferred, []
        count = then
        for _item, _transaction, replies_due in deferred:
            count += replies_due
        replies: list[Any] = []
        failure: Exception | None = None
        try:
            while len(replies) < count:
                self._reader.read_replies(replies, count)
        except Exception as exc:
            self._disconnect()
            failure = exc
        except BaseException:
            self._disconnect()
            raise
        results: list[tuple[PushItem, Exception | None]] = []
        end = 0
        for position, (item, transaction, replies_due) in enumerate(deferred):
            end += replies_due
            if end > len(replies):
                assert failure is not None  # (the read ended early)
                lost = [(unread, failure) for unread, _transaction, _replies in deferred[position:]]
                results.extend(lost)
                self.settled.extend(lost)
                return results, [], failure
            if transaction:
                error = self._transaction_error(*replies[end - 4 : end])
            else:
                reply = replies[end - 1]  # (the replies of the commands written just before it are dropped)
                error = script_error(reply) if isinstance(reply, Exception) else None
            results.append((item, error))
            if error is not None:
                self.settled.append((item, error))
        return results, replies[end:], failure

    def _send(self, buffers: list[bytes], deadline: float | None = None, blocking: bool = False) -> None:
        """Write encoded commands (``pack_commands``) whose replies must be read by ``deadline`` (default:
        ``socket_timeout`` from now).

        The connection is made ready first (:meth:`_ready`); a failed write closes it (a half-written command
        would corrupt the next one).

        Raises:
            redis.ConnectionError: Connecting or the write failed.
            redis.TimeoutError: Connecting or the write timed out.
        """
        self._reader.read_deadline = self._ready(deadline, sum(map(len, buffers)), blocking)
        self._reader.timeout_extended = False
        connection = self._connection
        sock = connection.sock
        if sock is None:
            raise redis.ConnectionError(f"The connection to {connection.endpoint} is closed")
        try:
            for buffer in buffers:
                sock.sendall(buffer)
        except TimeoutError as exc:
            connection.disconnect()
            raise redis.TimeoutError("Timeout writing to socket") from exc
        except OSError as exc:
            connection.disconnect()
            raise redis.ConnectionError(f"Error {exc.errno} while writing to socket. {exc.strerror or exc}.") from exc
        except BaseException:
            connection.disconnect()
            raise

    def _ready(self, deadline: float | None, size: int, blocking: bool) -> float:
        """Make the connection ready for a write of about ``size`` bytes whose replies must come by ``deadline``.

        A connection idle for :data:`IDLE_CHECK_SECONDS` that owes no reply is checked, and replaced if Redis
        closed it; one that is not open is opened within the deadline. The socket's timeout is set for the
        deadline (see the module docstring).

        Args:
            deadline: ``time.monotonic()`` by which every reply of the write must be read; None for
                ``socket_timeout`` from now. Only a ``blocking`` command's (``BLPOP``) may be later than that.

        Returns:
            The deadline (``deadline`` or the default).

        Raises:
            redis.ConnectionError, redis.TimeoutError: Connecting failed.
        """
        connection = self._connection
        now = time.monotonic()
        socket_timeout = self._socket_timeout
        if deadline is None or (not blocking and deadline > now + socket_timeout):
            deadline = now + socket_timeout
        sock = connection.sock
        idle = now - self._last_write >= IDLE_CHECK_SECONDS
        if sock is not None and idle and not self._deferred and looks_closed(sock):
            self._disconnect()
            sock = None
        if size < _SMALL_WRITE_BYTES:
            size = 0  # quick to write: the socket timeout is only ever lowered for it
        if size >= _BIG_WRITE_BYTES:
            # A socket timeout bounds a whole sendall: a big message gets all of socket_timeout to go out.
            target = socket_timeout
        else:
            budget = max(deadline - now, 0.001)
            target = min(socket_timeout, math.ceil(budget / _BUDGET_STEP_SECONDS) * _BUDGET_STEP_SECONDS)
        current = self._current_timeout
        if sock is None:
            connection.connect(target)  # connecting and its handshake bounded by the budget
            self._current_timeout = target
        elif self._reader.timeout_extended or target < current or (size and target > current):
            sock.settimeout(target)
            self._current_timeout = target
        self._last_write = now
        return deadline

    def _shorten_read(self, seconds: float) -> None:
        """Let the next receive wait at most ``seconds`` (the next write sets the socket's timeout again)."""
        sock = self._connection.sock
        if sock is not None:
            self._current_timeout = max(seconds, 0.001)
            sock.settimeout(self._current_timeout)
            self._reader.timeout_extended = True

    def pop_asking(self, key: str, timeout: float) -> list[RawMessage]:
        """``BLPOP key timeout`` after ``ASKING`` (see :meth:`execute_asking`).

        Returns:
            The popped message, or nothing when the timeout passed.

        Raises:
            redis.RedisError: Redis refused it, or the connection failed (and is closed).
        """
        timeout = max(float(timeout), _MINIMUM_BLPOP_TIMEOUT_SECONDS)
        deadline = time.monotonic() + timeout + READ_MARGIN_SECONDS
        reply = self.execute_asking(("BLPOP", key, timeout), deadline, blocking=True)
        if isinstance(reply, Exception):
            raise reply
        return [] if reply is None else [reply[1]]

    def push_and_pop(self, push: PushPlan, pop_key: str, timeout: float, keeps_wait: bool = False) -> bool:
        """Write a planned push (``core.redis_protocol.push_plan``) and ``BLPOP pop_key timeout`` in one write,
        reading neither reply yet.

        For a caller that waits for the answer right after sending: one write and one wait instead of two of
        each. :meth:`blocking_pop` of ``pop_key`` then reads both replies. Anything else this lane is asked to
        do first reads them too (waiting for the reply; it is kept for that :meth:`blocking_pop`). Only small
        items whose script this connection has already run go this way (a script Redis no longer knows, or a
        big item's transaction, would only be found out after the wait).

        Args:
            keeps_wait: The wait does not depend on the push (a server's reply pushed with the wait for its next
                request): a refused push goes to :attr:`settled`, as a deferred push's refusal does, and the wait
                goes on; otherwise a refusal ends the wait (:class:`PushRefusedBeforeWait`).

        Returns:
            False when the push cannot go this way (push its item with :meth:`push`, then pop).

        Raises:
            redis.ConnectionError, redis.TimeoutError: The write failed (the item was not pushed).
        """
        if self._fused is not None:
            self._settle_fused()
        if self._deferred or self._early is not None:
            return False
        if push.big or push.script not in self._loaded:
            return False
        timeout = max(float(timeout), _MINIMUM_BLPOP_TIMEOUT_SECONDS)
        deadline = time.monotonic() + timeout + READ_MARGIN_SECONDS
        command = push.command
        wait = self._encode_wait(pop_key, timeout, 0, None)
        try:
            # A small push (encoded by its plan) is joined to the wait; a large message is never copied.
            buffers = [command + wait] if isinstance(command, bytes) else pack_commands([command, wait])
            self._send(buffers, deadline, blocking=True)
        except BaseException:
            self._disconnect()
            raise
        self._fused = (push.item, pop_key, deadline, keeps_wait)
        return True

    def waits_on(self, key: str) -> bool:
        """Whether a :meth:`push_and_pop` wait on ``key`` is pending here (its replies read or not)."""
        fused = self._fused
        if fused is not None:
            return fused[1] == key
        early = self._early
        return early is not None and early[0] == key

    def _read_fused(self, until: float | None = None) -> list[RawMessage]:
        """Read the replies of :meth:`push_and_pop`: the popped messages, or raise its refusal.

        Args:
            until: ``time.monotonic()`` after which the caller waits no longer (its timeout is shorter than the
                wait that was sent): the wait is then given up with the connection, as if Redis said nil.
        """
        fused = self._fused
        assert fused is not None
        item, _key, deadline, keeps_wait = fused
        self._fused = None
        reader = self._reader
        replies: list[Any] = []
        # A caller's wait shorter than the one sent: the push's reply is read first, the pop's then until ``until``.
        shorter = until is not None and until + _SHORTER_WAIT_SECONDS < deadline - READ_MARGIN_SECONDS
        try:
            reader.read_deadline = deadline
            reader.read_replies(replies, 1 if shorter else 2)  # the read stops at a refused push's error
            pushed = replies[0]
            if isinstance(pushed, Exception):
                if not keeps_wait:
                    # Nothing will answer this wait: it goes with the connection.
                    self._disconnect()
                    raise PushRefusedBeforeWait(item, script_error(pushed) or pushed)
                self.settled.append((item, script_error(pushed) or pushed))
                if not shorter:
                    reader.read_replies(replies, 2)  # the wait's reply, after the refusal's
            if shorter:
                assert until is not None
                reader.read_deadline = until
                self._shorten_read(until - time.monotonic())  # the next write puts the socket's timeout back
                try:
                    reader.read_replies(replies, 2)
                except redis.TimeoutError:
                    self._disconnect()  # the caller's time is up: its wait goes with the connection
                    return []
            response: Any = replies[1]
            if isinstance(response, Exception):
                raise response
        except PushRefusedBeforeWait:
            raise
        except BaseException:
            self._disconnect()
            raise
        return [] if response is None else [response[1]]

    def _settle_fused(self) -> None:
        """Read a push-and-pop's replies before another command, keeping them for its :meth:`blocking_pop`."""
        key = self._fused[1]  # type: ignore[index]
        try:
            self._early = (key, self._read_fused())
        except PushRefusedBeforeWait as refused:
            self._early = (key, refused)

    # Receiving

    def blocking_pop(
        self,
        key: str,
        timeout: float,
        drain: int = 0,
        move_to: str | None = None,
        before: Sequence[tuple[Any, ...]] = (),
    ) -> list[RawMessage]:
        """``BLPOP key timeout``, plus ``LPOP key drain`` in the same write when ``drain`` > 0.

        The socket read waits longer than the pop, so Redis' nil reply always comes first; a read without any
        timeout would hang on a dead network. The drain takes whatever else is already in the list, so a client
        waiting for several replies pays one round trip for all that have arrived.

        Args:
            key: The full Redis key.
            timeout: Seconds to block (fractions work on Redis >= 6).
            drain: How many more messages to take at most, without waiting.
            move_to: Take the message with ``BLMOVE key move_to LEFT RIGHT timeout`` instead (at-least-once
                delivery: the message stays in Redis, in the list ``move_to``); no drain then.
            before: Commands written first, in the same write (their replies are in :attr:`before_replies`
                afterwards, errors included).

        After :meth:`push_and_pop` of ``key``, the wait already sent is read instead (for at most ``timeout``;
        when it ends first, a new ``BLPOP`` waits for the rest).

        Returns:
            The popped messages, oldest first; empty when the timeout passed.

        Raises:
            PushRefusedBeforeWait: The push sent with the wait was refused (the connection is closed).
            redis.RedisError: On a Redis or connection failure (the connection is closed first).
        """
        if self._fused is not None:
            if self._fused[1] != key:
                self._settle_fused()
            else:
                until = time.monotonic() + max(float(timeout), 0.0)
                early = self._read_fused(until)
                timeout = until - time.monotonic()
                if early or timeout < _MINIMUM_BLPOP_TIMEOUT_SECONDS:
                    return early
                # The wait sent with the push ended before the caller's: wait on for the rest.
        kept = self._early
        if kept is not None and kept[0] == key:
            self._early = None
            if isinstance(kept[1], PushRefusedBeforeWait):
                raise kept[1]
            if kept[1]:
                return kept[1]
        timeout = max(float(timeout), _MINIMUM_BLPOP_TIMEOUT_SECONDS)
        drain = drain if self._drain_supported and move_to is None else 0
        self.before_replies = []
        try:
            encoded = self._encode_wait(key, timeout, drain, move_to)
            buffers = pack_commands([*before, encoded]) if before else [encoded]
            # Redis' nil reply comes at the BLPOP's timeout: the read waits a little longer, never much longer.
            self._send(buffers, time.monotonic() + timeout + READ_MARGIN_SECONDS, blocking=True)
            # The replies of the deferred pushes (which come first), of the commands written before the pop, the
            # pop's and the drain's, read in one go.
            _outcomes, replies, failure = self._read_deferred(len(before) + (2 if drain > 0 else 1))
            if failure is not None:
                raise failure  # the connection broke (and is closed): the pop's reply is lost with it
            self.before_replies = replies[: len(before)]
            response: Any = replies[len(before)]
            if isinstance(response, Exception):
                raise response
            more: Any = None
            if drain > 0:
                more = replies[-1]
                if isinstance(more, Exception):
                    # Redis before 6.2: LPOP takes no count. The BLPOP reply above is still good.
                    self._drain_supported = False
                    more = None
        except BaseException:
            self._disconnect()
            raise
        popped: list[RawMessage] = [] if response is None else [response if move_to is not None else response[1]]
        if more:
            # Even after a BLPOP timeout: a message pushed between the two commands must not be lost.
            popped.extend(more)
        return popped

    def _encode_wait(self, key: str, timeout: float, drain: int, move_to: str | None) -> bytes:
        """The RESP of a wait as :meth:`blocking_pop` takes it (``timeout`` a float), kept for the next waits on the
        same list: the same bytes again for the same timeout (a server waits for as long every time), and only the
        timeout encoded again when it changed (a client's waits are what is left of its calls' timeouts)."""
        kept = self._encoded_waits
        wait = (key, drain, move_to)
        parts = kept.get(wait)
        if parts is not None and parts[0] == timeout:
            return parts[1]
        if parts is None:
            if len(kept) >= _KEPT_WAITS:
                kept.clear()  # (a thread waits on one or two lists: many only for a while)
            head, tail = wait_encoding(key, drain, move_to)
        else:
            _timeout, _encoded, head, tail = parts
        encoded = head + timeout_argument(timeout) + tail
        kept[wait] = (timeout, encoded, head, tail)
        return encoded
