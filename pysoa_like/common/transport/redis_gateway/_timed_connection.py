"""A lane's socket: opened when needed within a deadline, found dead before a write, read within deadlines.

Redis (or a proxy in front of it) closes connections: idle ones after ``timeout`` seconds, all of them when it
restarts or fails over, any one with ``CLIENT KILL``. redis-py's pool notices a closed connection when handing it
out; a lane keeps its connection, so it checks before writing on one that has been idle: a connection with no
reply expected has nothing to read, so a socket that is readable (end of file, or bytes nobody asked for) is
dead, and it is closed before the write instead of failing it. A command written on it would otherwise be lost,
or worse, half known (was it run?).

Every read has a deadline (the caller's: a call's timeout plus a margin, or ``socket_timeout``). The socket's
timeout follows the shortest budget seen, rounded up to a quarter second so that calls with the same timeout
change it once and not on every call (a change is a system call); a read that outlives the socket timeout is
tried again until its deadline (see :class:`ReplyReader`). A frozen Redis (SIGSTOP, a stuck proxy: the TCP
connection stays up) therefore never holds a call more than :data:`READ_MARGIN_SECONDS` plus a quarter second
past its deadline. Connecting is bounded by the same deadline.
"""

from __future__ import annotations

import math
import select
import time
from collections.abc import Sequence
from typing import Any

import redis

from pysoa_like.common.transport.redis_gateway._connect import SocketConnection

__all__ = ["IDLE_CHECK_SECONDS", "READ_MARGIN_SECONDS", "TimedConnection", "looks_closed"]

#: How much longer than a ``BLPOP``'s own timeout its reply is waited for, so Redis' nil reply wins the race.
READ_MARGIN_SECONDS = 1.0
#: A connection unused for this long is checked before the next write (back-to-back commands are not: the check
#: is a system call, and a connection that just answered is alive).
IDLE_CHECK_SECONDS = 0.002
# Read budgets are rounded up to this, so the socket timeout rarely changes.
_BUDGET_STEP_SECONDS = 0.25
# Writes of this many bytes or more get the whole socket_timeout (a socket timeout bounds a whole sendall).
_BIG_WRITE_BYTES = 1024 * 1024


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


class TimedConnection:
    """The deadline and liveness rules around one connection (see the module docstring).

    Args:
        connection: The connection.
        socket_timeout: The longest a read may take when no caller says otherwise (``socket_timeout``).
    """

    __slots__ = ("_current_timeout", "_last_write", "connection", "socket_timeout")

    def __init__(self, connection: SocketConnection, socket_timeout: float) -> None:
        self.connection = connection
        self.socket_timeout = socket_timeout
        self._current_timeout = socket_timeout
        self._last_write = 0.0

    def closed_while_idle(self) -> bool:
        """Whether the connection was idle and Redis closed it meanwhile (it is then closed here too).

        Only ask when no reply is owed. A connection found alive counts as used now, so the write that follows
        does not check it again.
        """
        sock = self.connection.sock
        now = time.monotonic()
        if sock is None or now - self._last_write < IDLE_CHECK_SECONDS:
            return False
        if looks_closed(sock):
            self.connection.disconnect()
            return True
        self._last_write = now
        return False

    def prepare(
        self,
        deadline: float | None,
        expecting_replies: bool,
        size: int,
        timeout_changed: bool,
        blocking: bool = False,
    ) -> tuple[bool, float]:
        """Make the connection ready for a write whose replies must come by ``deadline``.

        Args:
            deadline: ``time.monotonic()`` by which every reply of the write must be read; None for
                ``socket_timeout`` from now. Only a ``blocking`` command's replies may take longer than that.
            expecting_replies: Whether Redis still owes replies to earlier writes (then nothing is checked).
            size: About how many bytes the write sends.
            timeout_changed: Whether a read changed the socket's timeout since the last write.
            blocking: The write is a blocking command (``BLPOP``), whose reply may come after ``socket_timeout``.

        Returns:
            Whether a dead connection was found and closed (the lane must forget what it knew of it), and the
            deadline (``deadline`` or the default).

        Raises:
            redis.ConnectionError, redis.TimeoutError: Connecting failed.
        """
        connection = self.connection
        now = time.monotonic()
        if deadline is None or (not blocking and deadline > now + self.socket_timeout):
            deadline = now + self.socket_timeout
        closed = False
        sock = connection.sock
        idle = now - self._last_write >= IDLE_CHECK_SECONDS
        if sock is not None and idle and not expecting_replies and looks_closed(sock):
            connection.disconnect()
            sock = None
            closed = True
        budget = max(deadline - now, 0.001)
        if size >= _BIG_WRITE_BYTES:
            # A socket timeout bounds a whole sendall: a big message gets all of socket_timeout to go out.
            target = self.socket_timeout
        else:
            target = min(self.socket_timeout, math.ceil(budget / _BUDGET_STEP_SECONDS) * _BUDGET_STEP_SECONDS)
        if sock is None:
            self._connect(target)
        elif timeout_changed or (target < self._current_timeout) or (size and target > self._current_timeout):
            sock.settimeout(target)
            self._current_timeout = target
        self._last_write = now
        return closed, deadline

    def send(self, buffers: Sequence[bytes | bytearray | memoryview]) -> None:
        """Write ``buffers`` whole on the connection :meth:`prepare` made ready; it is closed if that fails.

        Raises:
            redis.ConnectionError: Not connected, or the write failed.
            redis.TimeoutError: The write timed out.
        """
        connection = self.connection
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
            connection.disconnect()  # a half-written command would corrupt the next one
            raise

    def shorten_read(self, seconds: float) -> None:
        """Let the next receive wait at most ``seconds`` (the next write sets the socket's timeout again)."""
        sock = self.connection.sock
        if sock is not None:
            self._current_timeout = max(seconds, 0.001)
            sock.settimeout(self._current_timeout)

    def _connect(self, budget: float) -> None:
        """Open the connection, its connect and handshake bounded by ``budget`` seconds."""
        self.connection.connect(budget)
        self._current_timeout = budget
