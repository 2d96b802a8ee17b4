"""The lanes' reply reader: receives from a connection's socket into the core's RESP parser.

Parsing is :class:`pysoa_like.core.redis_protocol.RespParser`'s (big bulk strings are received in place); this module
only moves bytes from the socket into it, keeps reads within their deadline, and turns error replies into redis-py's
public exception classes. The socket is the lane's own (:class:`~._connect.SocketConnection`), whose handshake
(AUTH, HELLO, SELECT, ...) has read its replies whole before a lane reads the first of its own.
"""

from __future__ import annotations

import re
import time
from typing import Any

import redis
from redis import exceptions

from pysoa_like.common.transport.redis_gateway._connect import SocketConnection
from pysoa_like.core.redis_protocol import NEED_DATA, RespError, RespParser, RespProtocolError

__all__ = ["ReplyReader", "redis_error"]

# A receive target bigger than this is the rest of a big bulk string (the parser's buffer is 64 KiB).
_BIG_RECEIVE_BYTES = 65536

# Error codes and the redis-py exception each one is (the code is then left out of the message, as redis-py
# does). Those that are connection errors (BusyLoadingError, AuthenticationError) are raised by the reader.
_ERROR_CLASSES: dict[str, type[redis.RedisError]] = {
    "NOSCRIPT": exceptions.NoScriptError,
    "READONLY": exceptions.ReadOnlyError,
    "OOM": exceptions.OutOfMemoryError,
    "EXECABORT": exceptions.ExecAbortError,
    "NOPERM": exceptions.NoPermissionError,
    "LOADING": exceptions.BusyLoadingError,
    "NOAUTH": exceptions.AuthenticationError,
    "WRONGPASS": exceptions.AuthenticationError,
    "MASTERDOWN": exceptions.MasterDownError,
}


# Redis 6.2 reports a command that a script's redis.pcall could not run (OOM, ...) as
# "@user_script: <line>: -OOM command not allowed ...": the error code behind the script's location. Redis 7 and
# later answer "OOM command not allowed ...", so it is removed for every version to read alike.
_SCRIPT_LOCATION = re.compile(r"\A@user_script: ?\d+: -(?=[A-Z]+ )")


def redis_error(error: RespError) -> redis.RedisError:
    """The redis-py exception for an error reply (``NOSCRIPT ...`` -> ``NoScriptError``, else ``ResponseError``)."""
    text = _SCRIPT_LOCATION.sub("", error.text, count=1)
    code = text.split(" ", 1)[0]
    error_class = _ERROR_CLASSES.get(code)
    if error_class is None:
        return redis.ResponseError(text)
    return error_class(text[len(code) + 1 :])


class ReplyReader:
    """Reads whole replies from one connection's socket.

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

    def read(self) -> Any:
        """Read one reply: bytes, bytearray (big bulk strings), int, list, dict, None or an error object.

        Raises:
            redis.ConnectionError: The connection was closed or failed, or sent something that is not RESP.
            redis.TimeoutError: The socket timed out.
        """
        sock = self._connection.sock
        if sock is None:
            raise redis.ConnectionError("The connection is closed")
        parser = self._parser
        if sock is not self._sock:
            # A new socket (reconnected): nothing buffered belongs to it.
            parser.reset()
            self._sock = sock
        try:
            while True:
                reply = parser.next_reply()
                if reply is NEED_DATA:
                    target = parser.recv_buffer()
                    if len(target) > _BIG_RECEIVE_BYTES:
                        # The rest of a big bulk string, all bound to come: received in place in one go.
                        parser.received(self._recv_all_into(target))
                    else:
                        parser.received(self._recv_into(target))
                    continue
                if type(reply) is RespError:
                    error = redis_error(reply)
                    if not isinstance(error, redis.ResponseError):
                        raise error
                    return error
                return reply
        except RespProtocolError as exc:
            raise redis.ConnectionError(f"Protocol error: {exc}") from exc

    def _recv_all_into(self, target: memoryview) -> int:
        size = len(target)
        have = 0
        while have < size:
            have += self._recv_into(target[have:])
        return size

    def _recv_into(self, target: memoryview) -> int:
        try:
            while True:
                try:
                    count: int = self._sock.recv_into(target)
                    break
                except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
                    self._extend_timeout(exc)
        except OSError as exc:
            raise redis.ConnectionError(f"Error while reading from {self._connection.endpoint}: {exc}") from exc
        if not count:
            raise redis.ConnectionError("Connection closed by server.")
        return count

    def _extend_timeout(self, timed_out: TimeoutError) -> None:
        """Give the socket what is left until :attr:`read_deadline`, or raise ``redis.TimeoutError``."""
        remaining = self.read_deadline - time.monotonic()
        if remaining <= 0:
            raise redis.TimeoutError("Timeout reading from socket") from timed_out
        self._sock.settimeout(remaining)
        self.timeout_extended = True
