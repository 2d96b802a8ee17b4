"""The lanes' reply reader: RESP (versions 2 and 3) read straight from the socket.

redis-py's readers (hiredis or its own) copy every reply at least twice: from the socket into a read buffer,
into the parser's buffer (which grows by reallocation for a big reply), and into the ``bytes`` they return.
For a message of a few MiB those copies, and the page faults of the fresh memory they need, cost more than
the rest of a call. This reader keeps one read buffer; a bulk string that fits is copied out of it once, and a
bigger one is received directly into a ``bytearray`` of its exact size, so its bytes are copied from the
kernel once and never again.

The connection's handshake (AUTH, HELLO, SELECT, ...) is still redis-py's: it is strictly one reply per
command, so nothing is left in redis-py's reader when a lane starts reading with this one.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis._parsers.base import BaseParser

__all__ = ["ReplyReader"]

_BUFFER_BYTES = 65536
# Unread bytes are moved to the start of the buffer when less than this is free after them.
_MINIMUM_READ_BYTES = 16384
_CRLF = b"\r\n"
_NIL = b"$-1\r\n"


class ReplyReader:
    """Reads whole replies from one connection's socket.

    Error replies are returned (as redis-py's exception objects, e.g. ``NoScriptError``), not raised, so a
    caller reading several replies can act on each; those that redis-py counts as connection errors
    (``LOADING``, ``NOAUTH``, ...) are raised, since the connection cannot be used as it is. A failure of
    the connection itself is raised as ``redis.ConnectionError`` or ``redis.TimeoutError``; whatever was
    half read is then useless, and the caller must close the connection (and :meth:`reset` this reader,
    which closing a lane does).

    Args:
        connection: The redis-py connection whose socket is read (it must be connected when reading).
    """

    __slots__ = ("_buffer", "_connection", "_end", "_sock", "_start", "_view", "read_deadline", "timeout_extended")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._buffer = bytearray(_BUFFER_BYTES)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        self._sock: Any = None
        #: ``time.monotonic()`` until which a receive that timed out is tried again (0: not at all). For a
        #: reply that may come later than the socket timeout (a long BLPOP): the timeout is only changed on the
        #: rare receive that runs out, not twice per call.
        self.read_deadline = 0.0
        #: Whether the socket's timeout was changed for :attr:`read_deadline` (the owner puts it back).
        self.timeout_extended = False

    def reset(self) -> None:
        """Forget buffered bytes and any read deadline (after the connection was closed)."""
        self._start = self._end = 0
        self._sock = None
        self.read_deadline = 0.0
        self.timeout_extended = False

    def read(self) -> Any:
        """Read one reply: bytes, bytearray (big bulk strings), int, list, dict, None or an error object.

        Raises:
            redis.ConnectionError: The connection was closed or failed, or sent something that is not RESP.
            redis.TimeoutError: The socket timed out.
        """
        sock = self._connection._sock
        if sock is None:
            raise redis.ConnectionError("The connection is closed")
        if sock is not self._sock:
            # A new socket (redis-py reconnected): nothing buffered belongs to it.
            self._start = self._end = 0
            self._sock = sock
        try:
            while True:
                if self._start == self._end:
                    # Nothing buffered (the usual case between replies): receive into the whole buffer.
                    self._start = 0
                    self._end = self._recv_into(self._view)
                reply = self._whole_in_buffer()
                if reply is _INCOMPLETE:
                    reply = self._reply()
                if reply is not _PUSH:
                    return reply
        except ValueError as exc:  # a length or number that is not one
            raise redis.ConnectionError(f"Protocol error: {exc}") from exc

    # Parsing

    def _whole_in_buffer(self) -> Any:
        """The common replies (nil, a bulk string, an array of them) when already buffered whole, else _INCOMPLETE.

        A shortcut for the general parser below: one method call instead of one per element. Nothing is
        consumed unless the whole reply is returned.
        """
        buffer, limit = self._buffer, self._end
        position = self._start
        if buffer.startswith(_NIL, position, limit):  # what every successful push answers
            self._start = position + 5
            return None
        kind = buffer[position] if position < limit else 0
        if kind == 36:  # $: one bulk string, read by the loop below
            count = 1
        elif kind == 42:  # *: an array, whose elements must all be bulk strings
            eol = buffer.find(_CRLF, position, limit)
            if eol < 0:
                return _INCOMPLETE
            count = int(buffer[position + 1 : eol])
            if count < 0:
                self._start = eol + 2
                return None
            position = eol + 2
        else:
            return _INCOMPLETE
        items: list[bytes | None] = []
        for _ in range(count):
            eol = buffer.find(_CRLF, position, limit)
            if eol < 0 or buffer[position] != 36:
                return _INCOMPLETE
            size = int(buffer[position + 1 : eol])
            if size < 0:
                items.append(None)
                position = eol + 2
                continue
            stop = eol + 2 + size
            if stop + 2 > limit:
                return _INCOMPLETE
            items.append(self._view[eol + 2 : stop].tobytes())
            position = stop + 2
        self._start = position
        return items if kind == 42 else items[0]

    def _reply(self) -> Any:
        line = self._line()
        kind = line[0]
        if kind == 36:  # $ bulk string
            size = int(line[1:])
            return None if size < 0 else self._bulk(size)
        if kind == 42:  # * array
            count = int(line[1:])
            return None if count < 0 else [self._reply() for _ in range(count)]
        if kind == 58:  # : integer
            return int(line[1:])
        if kind == 43:  # + simple string
            return bytes(line[1:])
        if kind == 45:  # - error
            return _error(bytes(line[1:]))
        if kind == 95:  # _ null (RESP3)
            return None
        return self._resp3(kind, line)

    def _resp3(self, kind: int, line: bytes) -> Any:
        if kind == 62:  # > push data (client tracking, pub/sub): not a reply to our commands
            for _ in range(int(line[1:])):
                self._reply()
            return _PUSH
        if kind == 124:  # | attributes: come before the reply they describe
            for _ in range(2 * int(line[1:])):
                self._reply()
            return self._reply()
        if kind == 37:  # % map
            items = [self._reply() for _ in range(2 * int(line[1:]))]
            keys = (bytes(key) if type(key) is bytearray else key for key in items[::2])
            return dict(zip(keys, items[1::2], strict=True))
        if kind == 126:  # ~ set
            return [self._reply() for _ in range(int(line[1:]))]
        if kind == 35:  # # boolean
            return line[1:] == b"t"
        if kind == 44:  # , double
            return float(line[1:])
        if kind == 40:  # ( big number
            return int(line[1:])
        if kind == 61:  # = verbatim string: "txt:" then the text
            return bytes(self._bulk(int(line[1:])))[4:]
        if kind == 33:  # ! bulk error
            return _error(bytes(self._bulk(int(line[1:]))))
        raise redis.ConnectionError(f"Protocol error: unexpected reply type {chr(kind)!r} from Redis")

    def _line(self) -> bytes:
        buffer = self._buffer
        while True:
            end = buffer.find(_CRLF, self._start, self._end)
            if end >= 0:
                line = bytes(self._view[self._start : end])
                self._start = end + 2
                if not line:
                    raise redis.ConnectionError("Protocol error: empty reply line from Redis")
                return line
            self._fill()

    def _bulk(self, size: int) -> bytes | bytearray:
        needed = size + 2
        if needed <= _BUFFER_BYTES:
            while self._end - self._start < needed:
                self._fill()
            start = self._start
            self._start = start + needed
            return bytes(self._view[start : start + size])
        # Bigger than the buffer: receive it in place, in a buffer of its own.
        value = bytearray(size)
        target = memoryview(value)
        have = min(self._end - self._start, size)
        target[:have] = self._view[self._start : self._start + have]
        self._start += have
        while have < size:
            count = self._recv_into(target[have:])
            have += count
        target.release()
        # The trailing CRLF (some or all of it may already have been buffered).
        while self._end - self._start < 2:
            self._fill()
        self._start += 2
        return value

    # Socket

    def _fill(self) -> None:
        """Receive more bytes into the buffer, first moving what is unread to its start when space runs low."""
        start, end = self._start, self._end
        if start == end:
            start = end = 0
        elif start and end > _BUFFER_BYTES - _MINIMUM_READ_BYTES:
            end -= start
            self._buffer[:end] = self._view[start : start + end]
            start = 0
        elif end == _BUFFER_BYTES:
            raise redis.ConnectionError("Protocol error: a reply line longer than 64 KiB")
        self._start = start
        self._end = end + self._recv_into(self._view[end:])

    def _recv_into(self, target: memoryview) -> int:
        try:
            while True:
                try:
                    count: int = self._sock.recv_into(target)
                    break
                except TimeoutError as exc:  # socket.timeout is TimeoutError since Python 3.10
                    self._extend_timeout(exc)
        except OSError as exc:
            raise redis.ConnectionError(f"Error while reading from {self._where()}: {exc}") from exc
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

    def _where(self) -> str:
        connection = self._connection
        host = getattr(connection, "host", None)
        if host is not None:
            return f"{host}:{getattr(connection, 'port', '?')}"
        return str(getattr(connection, "path", "the Redis socket"))


def _error(text: bytes) -> redis.ResponseError:
    # redis-py's own mapping of error codes to exception classes (NOSCRIPT -> NoScriptError, ...). Those
    # that redis-py makes connection errors (LOADING, NOAUTH, WRONGPASS, ...) are raised, as redis-py does:
    # the command did not run, and the lane closes the connection.
    error: redis.RedisError = BaseParser.parse_error(text.decode("utf-8", "replace"))  # type: ignore[no-untyped-call]
    if not isinstance(error, redis.ResponseError):
        raise error
    return error


# The marker for a RESP3 push message, skipped by ReplyReader.read.
_PUSH: Any = object()
# What ReplyReader._whole_in_buffer answers when the general parser must read the reply.
_INCOMPLETE: Any = object()
