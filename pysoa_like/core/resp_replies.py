"""RESP replies: what Redis answers, and the general incremental parser of every RESP2/RESP3 reply.

:class:`GeneralRespParser` takes the bytes a driver received and hands out whole replies; it tells the driver where
to receive next (:meth:`GeneralRespParser.recv_buffer`), so a bulk string bigger than its buffer is received in
place into a ``bytearray`` of its own and never copied again: for a message of a few MiB those copies (and the page
faults of the fresh memory they need) would cost more than the rest of a call. A blocking driver loops
``sock.recv_into(parser.recv_buffer())`` / :meth:`GeneralRespParser.received` / ``next_reply``; an asyncio driver does
the same with its own reads, or calls :meth:`GeneralRespParser.feed` with the bytes a stream gives it.

Drivers use :class:`~pysoa_like.core.redis_protocol.RespParser`, which is this parser plus the quick reads of a
call's path (the small replies of a call parsed in one go, several replies read in one go); the buffer, the feeding,
and every reply that is not small or not all in yet are this module's. All its names are importable from
:mod:`pysoa_like.core.redis_protocol` too.
"""

from __future__ import annotations

import collections
from typing import Any, Final

__all__ = ["NEED_DATA", "GeneralRespParser", "RespError", "RespProtocolError"]


class RespError(Exception):
    """An error reply (``-`` or RESP3 ``!``); ``code`` is its first word (``NOSCRIPT``, ``ERR``, ...).

    Returned by :meth:`~pysoa_like.core.redis_protocol.RespParser.next_reply`, not raised: a driver reading several
    replies acts on each.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text
        self.code = text.split(" ", 1)[0]


class RespProtocolError(ValueError):
    """The bytes are not RESP (a driver must close the connection: whatever was half read is useless)."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


#: What :meth:`~pysoa_like.core.redis_protocol.RespParser.next_reply` answers until more bytes are received.
NEED_DATA: Final[Any] = _NeedData()
# The value of a RESP3 push message (client tracking, pub/sub) or attribute: not a reply, skipped.
_SKIPPED: Any = object()

_BUFFER_BYTES = 65536
# Unread bytes are moved to the start of the buffer when less than this is free after them.
_MINIMUM_READ_BYTES = 16384
_CRLF = b"\r\n"

# Aggregate kinds (the type byte) and how many elements each announced entry stands for.
_ARRAY, _MAP, _SET, _PUSH, _ATTRIBUTE = 42, 37, 126, 62, 124
_BULK, _VERBATIM, _BULK_ERROR, _INTEGER = 36, 61, 33, 58
_BULKS = (_BULK, _VERBATIM, _BULK_ERROR)
_AGGREGATES = (_ARRAY, _MAP, _SET, _PUSH, _ATTRIBUTE)
# The types whose line is a number (a length, a count, or the integer itself).
_COUNTED = (*_BULKS, *_AGGREGATES, _INTEGER)


class GeneralRespParser:
    """The receive buffer of an incremental RESP2/RESP3 reply parser, and the parser of any reply (see the module
    docstring): the base of :class:`~pysoa_like.core.redis_protocol.RespParser`, which hands the replies out.

    Replies: ``bytes`` (bulk and simple strings; ``bytearray`` for a bulk string bigger than the buffer), ``int``,
    ``list`` (arrays and sets), ``dict`` (maps), ``None`` (nil), ``bool``, ``float``, or :class:`RespError`.
    RESP3 push messages and attributes are skipped.

    Raises (from the parsing, ``RespParser.next_reply`` and its kin):
        RespProtocolError: The bytes are not RESP, or a line is longer than the buffer.
    """

    __slots__ = (
        "_backlog",
        "_big",
        "_big_have",
        "_big_kind",
        "_buffer",
        "_end",
        "_need",
        "_pending",
        "_pending_kind",
        "_pouring",
        "_stack",
        "_start",
        "_view",
    )

    def __init__(self, buffer_bytes: int = _BUFFER_BYTES) -> None:
        self._buffer = bytearray(buffer_bytes)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        # Bytes from _start that the item being parsed needs (0: unknown), so recv_buffer makes room for it.
        self._need = 0
        # Aggregates being filled: [kind, entries still to come, items].
        self._stack: list[list[Any]] = []
        # A bulk string bigger than the buffer, received in place: the bytearray, how much of it is in, its kind.
        self._big: bytearray | None = None
        self._big_have = 0
        self._big_kind = _BULK
        # The size and kind of a bulk string that fits the buffer but is not all in yet (-1: none).
        self._pending = -1
        self._pending_kind = _BULK
        # Fed bytes that did not fit the buffer yet: moved in by next_reply as parsing makes room.
        self._backlog: collections.deque[bytes] = collections.deque()
        # Whether feed() is moving bytes in (through recv_buffer), which may then run with a backlog.
        self._pouring = False

    def reset(self) -> None:
        """Forget everything received (after the connection was closed)."""
        self._start = self._end = self._need = 0
        self._stack = []
        self._big = None
        self._pending = -1
        self._backlog.clear()

    @property
    def has_buffered(self) -> bool:
        """Whether received bytes wait to be parsed (or a reply is half parsed)."""
        return (
            self._start != self._end
            or self._big is not None
            or self._pending >= 0
            or bool(self._stack)
            or bool(self._backlog)
        )

    def recv_buffer(self) -> memoryview:
        """Where the next received bytes must go (never empty); then call :meth:`received` with their count.

        Raises:
            RuntimeError: Bytes given to :meth:`feed` still wait for room: bytes received now would be parsed
                before them. A parser is filled either through :meth:`feed` or through this method, not both
                while fed bytes wait (:attr:`has_buffered` says whether any do).
        """
        if self._backlog and not self._pouring:
            raise RuntimeError(
                "RespParser.recv_buffer() while bytes given to feed() wait to be parsed: they would be reordered "
                "(parse with next_reply() until NEED_DATA first, or keep feeding)"
            )
        big = self._big
        if big is not None and self._big_have < len(big):
            return memoryview(big)[self._big_have :]
        return self._buffer_room()

    def _buffer_room(self) -> memoryview:
        """Where in the buffer the next received bytes go: after the unparsed bytes, moved to its start first when
        there are none (all of the buffer is free then), when little room is left after them, or when the item they
        begin needs more."""
        start, end, size = self._start, self._end, len(self._buffer)
        if start and (start == end or end > size - _MINIMUM_READ_BYTES or start + self._need > size):
            end -= start
            self._buffer[:end] = self._view[start : start + end]
            self._start, self._end = 0, end
        elif end == size:
            raise RespProtocolError(f"a reply line longer than {size // 1024} KiB")
        return self._view[self._end :]

    def received(self, count: int) -> None:
        """Account for ``count`` bytes received into the last :meth:`recv_buffer`."""
        big = self._big
        if big is not None and self._big_have < len(big):
            self._big_have += count
        else:
            self._end += count

    def feed(self, data: bytes) -> None:
        """Receive ``data`` by copying it in (for drivers that are handed bytes rather than reading into buffers).

        Any amount may be fed between ``next_reply`` calls: what the buffer has no room for yet waits, and is
        moved in as the replies before it are parsed.
        """
        if self._backlog:
            self._backlog.append(bytes(data))
            return
        rest = self._pour(memoryview(data))
        if rest:
            self._backlog.append(bytes(rest))

    def _pour(self, view: memoryview) -> memoryview:
        """Copy ``view`` into the buffer (or a big bulk string) as far as there is room; returns what is left."""
        self._pouring = True
        try:
            while view:
                if self._full():
                    break  # the rest waits for next_reply
                target = self.recv_buffer()
                count = min(len(target), len(view))
                target[:count] = view[:count]
                self.received(count)
                view = view[count:]
        finally:
            self._pouring = False
        return view

    def _full(self) -> bool:
        """Whether the buffer is full of unparsed bytes (and no big bulk string is being received in place)."""
        big = self._big
        in_place = big is not None and self._big_have < len(big)
        return not in_place and self._start == 0 and self._end == len(self._buffer)

    def _refill(self) -> None:
        """Move fed bytes that are waiting into the room parsing made (a line filling the buffer is an error)."""
        backlog = self._backlog
        if self._full():
            raise RespProtocolError(f"a reply line longer than {len(self._buffer) // 1024} KiB")
        while backlog:
            rest = self._pour(memoryview(backlog[0]))
            if rest:
                backlog[0] = bytes(rest)
                return
            backlog.popleft()

    def _parse_reply(self) -> Any:
        if self._start == self._end:
            return NEED_DATA  # every reply (or its rest) needs at least one more byte
        stack = self._stack
        while True:
            value = self._next_value()
            if value is NEED_DATA:
                return NEED_DATA
            # Add the value to the open aggregates, closing those it completes.
            while stack:
                frame = stack[-1]
                frame[2].append(value)
                frame[1] -= 1
                if frame[1]:
                    value = NEED_DATA  # the aggregate's next entry
                    break
                stack.pop()
                value = _finish(frame[0], frame[2])
                if value is _SKIPPED and frame[0] == _ATTRIBUTE and stack:
                    value = NEED_DATA  # an attribute: the value after it takes its place in the parent
                    break
            if value is not NEED_DATA and value is not _SKIPPED:
                return value

    def _next_value(self) -> Any:
        """The next scalar value or finished empty aggregate, opening aggregates on the way; or NEED_DATA.

        Aggregates being filled stay on the stack between calls; a line or a bulk string that is not all in
        yet is not consumed (a big bulk string excepted: it is received in place).
        """
        while True:
            big = self._big
            if big is not None:
                return self._finish_big(big)
            size = self._pending
            if size >= 0:
                body = self._start
                if body + size + 2 > self._end:
                    return NEED_DATA
                self._start = body + size + 2
                self._pending = -1
                self._need = 0
                return _bulk_value(self._pending_kind, self._view[body : body + size].tobytes())
            buffer = self._buffer
            start = self._start
            eol = buffer.find(_CRLF, start, self._end)
            if eol < 0:
                self._need = 0
                return NEED_DATA
            if eol == start:
                raise RespProtocolError("an empty reply line")
            kind = buffer[start]
            try:
                number = int(buffer[start + 1 : eol]) if kind in _COUNTED else 0
            except ValueError:
                raise RespProtocolError(f"not a number: {bytes(buffer[start:eol])[:40]!r}") from None
            if kind in _BULKS:
                if number < 0:
                    self._start = eol + 2
                    return None
                body = eol + 2
                if body + number + 2 <= self._end:
                    self._start = body + number + 2
                    self._need = 0
                    data = self._view[body : body + number].tobytes()
                    return data if kind == _BULK else _bulk_value(kind, data)
                self._start = body
                if number + 2 > len(buffer):
                    # Bigger than the buffer: received in place, into a bytearray of its own.
                    value = bytearray(number)
                    have = min(self._end - body, number)
                    value[:have] = self._view[body : body + have]
                    self._start = body + have
                    self._big, self._big_have, self._big_kind = value, have, kind
                    continue
                # It fits the buffer: wait until it is all in.
                self._pending, self._pending_kind = number, kind
                self._need = number + 2
                return NEED_DATA
            self._start = eol + 2
            if kind == _INTEGER:
                return number
            if kind in _AGGREGATES:
                if number < 0:
                    return None
                if kind in (_MAP, _ATTRIBUTE):
                    number *= 2
                if number == 0:
                    return _finish(kind, [])
                self._stack.append([kind, number, []])
                continue
            return _scalar(kind, bytes(buffer[start + 1 : eol]))

    def _finish_big(self, big: bytearray) -> Any:
        if self._big_have < len(big):
            return NEED_DATA
        # The trailing CRLF (some or all of it may already have been buffered).
        if self._end - self._start < 2:
            self._need = 2
            return NEED_DATA
        self._start += 2
        self._need = 0
        self._big = None
        return _bulk_value(self._big_kind, big)


def _bulk_value(kind: int, data: bytes | bytearray) -> Any:
    if kind == _BULK:
        return data
    if kind == _VERBATIM:  # "txt:" (the format) then the text
        return bytes(data[4:])
    return RespError(bytes(data).decode("utf-8", "replace"))  # ! bulk error


def _scalar(kind: int, text: bytes) -> Any:
    if kind == 43:  # + simple string
        return text
    if kind == 45:  # - error
        return RespError(text.decode("utf-8", "replace"))
    if kind == 95:  # _ null (RESP3)
        return None
    if kind == 35:  # # boolean
        return text == b"t"
    if kind == 44:  # , double
        try:
            return float(text)
        except ValueError:
            raise RespProtocolError(f"not a double: {text[:40]!r}") from None
    if kind == 40:  # ( big number
        try:
            return int(text)
        except ValueError:
            raise RespProtocolError(f"not a big number: {text[:40]!r}") from None
    raise RespProtocolError(f"unexpected reply type {chr(kind)!r}")


def _finish(kind: int, items: list[Any]) -> Any:
    if kind in (_ARRAY, _SET):
        return items
    if kind == _MAP:
        keys = (bytes(key) if type(key) is bytearray else key for key in items[::2])
        return dict(zip(keys, items[1::2], strict=True))
    return _SKIPPED  # push data, or an attribute (which the value after it follows)
