"""What the transport says to Redis and what Redis answers on a call's path: RESP and the push plans.

* RESP: commands encoded to bytes (:func:`pack_commands`, never copying a big argument) and replies parsed
  incrementally from bytes (:class:`RespParser`, a big bulk string received in place; its buffer and its general
  parser, with the reply types, in :mod:`pysoa_like.core.resp_replies`);
* how a push is made (:func:`push_plan` and :func:`push_commands`: one ``EVALSHA`` of a send script, or a
  transaction for a big message once the connection may run one).

Off a call's path: the send scripts' text in :mod:`pysoa_like.core.scripts`; what Redis' replies to a push mean
(:class:`PushVerdict`), the transaction probe and the queue-full backoff in :mod:`pysoa_like.core.push_outcomes`.
All their names are importable from here too.

Error replies are :class:`RespError` values or any ``Exception`` whose first argument is Redis' text (a driver's
own exception classes), so nothing here needs a Redis client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from pysoa_like.core.framing import FramedMessage, OutgoingMessage
from pysoa_like.core.push_outcomes import (
    PushVerdict,
    push_outcome,
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
    transaction_outcome,
    transaction_probe_commands,
    transactions_allowed,
)
from pysoa_like.core.resp_replies import (
    _ARRAY,
    _BULK,
    _CRLF,
    _INTEGER,
    NEED_DATA,
    GeneralRespParser,
    RespError,
    RespProtocolError,
)
from pysoa_like.core.scripts import (
    LUA_REFUSED_FUNCTION,
    QUEUE_FULL_ERROR,
    SEND_CHECK_LUA_SCRIPT,
    SEND_MESSAGE_LUA_SCRIPT,
    SEND_MESSAGES_LUA_SCRIPT,
)

__all__ = [
    "LUA_REFUSED_FUNCTION",
    "NEED_DATA",
    "QUEUE_FULL_ERROR",
    "SEND_CHECK_LUA_SCRIPT",
    "SEND_MESSAGES_LUA_SCRIPT",
    "SEND_MESSAGE_LUA_SCRIPT",
    "TRANSACTION_PUSH_BYTES",
    "Command",
    "GeneralRespParser",
    "PushItem",
    "PushPlan",
    "PushVerdict",
    "RespError",
    "RespParser",
    "RespProtocolError",
    "pack_commands",
    "push_commands",
    "push_outcome",
    "push_plan",
    "queue_full_backoff_seconds",
    "queue_full_come_back_seconds",
    "queue_full_error_message",
    "script_command",
    "timeout_argument",
    "transaction_outcome",
    "transaction_probe_commands",
    "transactions_allowed",
    "wait_encoding",
]


# --------------------------------------------------------------------------------------------------------------------
# RESP, the Redis protocol: commands encoded to bytes, replies parsed incrementally from bytes.
#
# Both halves are pure. :func:`pack_commands` turns commands into the buffers a driver writes, never copying a
# big argument. :class:`RespParser` takes the bytes a driver received and hands out whole replies (RESP2 and
# RESP3); it tells the driver where to receive next (``RespParser.recv_buffer``), so a bulk string bigger
# than its buffer is received in place into a ``bytearray`` of its own and never copied again: for a message of
# a few MiB those copies (and the page faults of the fresh memory they need) would cost more than the rest of a
# call. A blocking driver loops ``sock.recv_into(parser.recv_buffer())`` / ``RespParser.received`` /
# ``RespParser.next_reply``; an asyncio driver does the same with its own reads, or calls
# ``RespParser.feed`` with the bytes a stream gives it. The buffer, the feeding and the general parser are
# core/resp_replies.py's; here, the quick reads of a call's path.
# --------------------------------------------------------------------------------------------------------------------


# Encoding

# Arguments longer than this are written as buffers of their own rather than copied into the command.
_LARGE_ARGUMENT_BYTES = 16384


#: A command: the tuple of its arguments, or its RESP bytes when already encoded (a small push, see
#: :func:`push_plan`).
Command = tuple[Any, ...] | bytes


def pack_commands(commands: Sequence[Command]) -> list[bytes]:
    """Encode commands in the Redis protocol (RESP arrays of bulk strings) as buffers to write in order.

    Small arguments are joined into as few buffers as possible; a large one (a big message) is never copied
    but written as its own buffer (a packer that copies every argument, as hiredis' does, costs milliseconds
    for a message of a few MiB). Arguments are bytes, str (UTF-8), int, float (whole seconds as an integer, as
    Redis before 6.0 reads a blocking command's timeout), :class:`FramedMessage`, or anything else by its
    ``str()``.

    Args:
        commands: The commands, each a tuple of its arguments or already encoded (``bytes``, written as it is).
    """
    buffers: list[bytes] = []
    pieces: list[bytes] = []
    append = pieces.append
    for command in commands:
        if isinstance(command, bytes):
            append(command)
            continue
        append(b"*%d\r\n" % len(command))
        for value in command:
            kind = type(value)
            if kind is str:
                value = value.encode()
            elif kind is int:
                value = b"%d" % value
            elif kind is float:
                append(timeout_argument(value))  # (a blocking command's timeout)
                continue
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


def wait_encoding(key: str, drain: int, move_to: str | None) -> tuple[bytes, bytes]:
    """A wait's RESP around its timeout, for a driver to keep while the timeout changes: (what comes before the
    timeout, what comes after it); :func:`timeout_argument` encodes the timeout between them.

    The wait is ``BLPOP key timeout`` (``BLMOVE key move_to LEFT RIGHT timeout`` when ``move_to`` is given), then
    ``LPOP key drain`` when ``drain`` > 0: the bytes :func:`pack_commands` gives for those commands.
    """
    pop: tuple[Any, ...] = ("BLPOP", key) if move_to is None else ("BLMOVE", key, move_to, "LEFT", "RIGHT")
    arguments = b"".join(pack_commands([pop]))
    head = b"*%d\r\n%b" % (len(pop) + 1, arguments[arguments.index(b"\r\n") + 2 :])
    return head, b"".join(pack_commands([("LPOP", key, drain)])) if drain > 0 else b""


def timeout_argument(seconds: float) -> bytes:
    """The RESP of a blocking command's timeout, how :func:`pack_commands` writes a float (see :func:`wait_encoding`):
    whole seconds as an integer (Redis before 6.0 rejects fractions)."""
    text = b"%d" % seconds if seconds.is_integer() else repr(seconds).encode()
    return b"$%d\r\n%b\r\n" % (len(text), text)


# Parsing (the replies themselves, the receive buffer and the general parser: core/resp_replies.py)

# What RespParser._small_reply answers for a reply it leaves to the general parser.
_NOT_SMALL: Any = object()
# The types RespParser._small_reply parses whole when it can (simple strings too, whose line is not a number).
_SMALL_KINDS = (_INTEGER, _BULK, _ARRAY)


class RespParser(GeneralRespParser):
    """An incremental RESP2/RESP3 reply parser with one receive buffer (see the module docstring): replies handed
    out whole, a call's small replies parsed in one go, the rest by the general parser it is built on.

    Replies: ``bytes`` (bulk and simple strings; ``bytearray`` for a bulk string bigger than the buffer), ``int``,
    ``list`` (arrays and sets), ``dict`` (maps), ``None`` (nil), ``bool``, ``float``, or :class:`RespError`.
    RESP3 push messages and attributes are skipped. Receiving, feeding and resetting are
    :class:`~pysoa_like.core.resp_replies.GeneralRespParser`'s (``recv_buffer``, ``received``, ``feed``,
    ``reset``, ``has_buffered``).

    Raises (from :meth:`next_reply`):
        RespProtocolError: The bytes are not RESP, or a line is longer than the buffer.
    """

    __slots__ = ()

    def next_reply(self) -> Any:
        """The next whole reply, or :data:`NEED_DATA` until more bytes are received."""
        if self._start == self._end and not self._backlog:
            return NEED_DATA  # nothing to parse (the usual first look before a receive)
        reply = self._small_reply()
        if reply is _NOT_SMALL:
            reply = self._parse_reply()
        while reply is NEED_DATA and self._backlog:
            self._refill()
            reply = self._parse_reply()
        return reply

    def read_reply(self, recv_into: Callable[[memoryview], int]) -> Any:
        """The next whole reply, receiving with ``recv_into`` (``socket.recv_into``) only as long as it needs bytes.

        :meth:`read_replies` for one reply.

        Returns:
            The reply, or :data:`NEED_DATA` when ``recv_into`` returned 0.
        """
        replies: list[Any] = []
        return replies[0] if self.read_replies(recv_into, replies, 1) else NEED_DATA

    def read_replies(self, recv_into: Callable[[memoryview], int], replies: list[Any], count: int) -> bool:
        """Append whole replies to ``replies`` until it holds ``count`` of them or an error reply was appended,
        receiving with ``recv_into`` (``socket.recv_into``) only as long as they need bytes.

        The replies a call's commands get (a push's and its wait's, say) are read in one go: what is already
        buffered is parsed first, so replies that came together cost one receive. An error reply ends the read
        (a caller may stop there: a refused push's wait may not answer for a long time); call again with the same
        list to read on. For a driver that reads from a socket itself; not while bytes given to ``feed`` wait.

        Args:
            recv_into: Receives into the buffer it is given and returns the number of bytes received (0: the
                peer closed the connection). Whatever it raises (a timeout) leaves the parser and ``replies`` as
                they were, so the read can be made again with the same list.
            replies: Where the replies go (those already in it count towards ``count``).
            count: How many replies ``replies`` holds when the read is over.

        Returns:
            False when ``recv_into`` returned 0 before the replies were in.
        """
        if len(replies) >= count:
            return True
        while True:
            if self._start != self._end:
                reply = self._small_reply()
                if reply is _NOT_SMALL:
                    reply = self._parse_reply()
                if reply is not NEED_DATA:
                    replies.append(reply)
                    if len(replies) >= count or type(reply) is RespError:
                        return True
                    continue
            big = self._big
            if big is not None and self._big_have < len(big):
                # The rest of a big bulk string, all bound to come: received in place before it is parsed.
                while self._big_have < len(big):
                    received = recv_into(self.recv_buffer())
                    if not received:
                        return False
                    self.received(received)
                continue
            if self._start == self._end and not self._backlog:
                # All parsed (the usual case): _buffer_room's answer, the whole buffer, without the call (two calls
                # a side per call, counted by callpath).
                self._start = self._end = 0
                received = recv_into(self._view)
            else:
                # Into the buffer (recv_buffer refuses while fed bytes wait, and says why).
                received = recv_into(self._buffer_room() if not self._backlog else self.recv_buffer())
            if not received:
                return False
            self._end += received  # (what received() does for bytes received into the buffer)

    def _small_reply(self) -> Any:
        """The next reply in one go when it is small and all in the buffer, else ``_NOT_SMALL`` (nothing consumed).

        Small: an integer, a simple string, a bulk string, or an array of bulk strings (a ``BLPOP``'s or an
        ``LPOP``'s reply), nil included. These are almost every reply of a call's path; the general parser
        (:meth:`_parse_reply`) takes the others, and any reply that is not all in yet, half-parsed state and big
        bulk strings received in place included, so the incremental behaviour stays all its own.
        """
        if self._stack or self._pending >= 0 or self._big is not None:
            return _NOT_SMALL
        buffer, view, end = self._buffer, self._view, self._end
        start = self._start
        eol = buffer.find(_CRLF, start, end)
        if eol <= start:
            return _NOT_SMALL
        kind = buffer[start]
        if kind == 43:  # + simple string
            self._start = eol + 2
            return bytes(buffer[start + 1 : eol])
        if kind not in _SMALL_KINDS:
            return _NOT_SMALL
        try:
            number = int(buffer[start + 1 : eol])
        except ValueError:
            return _NOT_SMALL  # (the general parser says what is wrong)
        if kind == _INTEGER:
            self._start = eol + 2
            return number
        if number < 0:
            self._start = eol + 2
            return None  # a nil bulk string or array
        # A bulk string is one entry read at the line it starts on; an array, ``number`` of them after its own line.
        items: list[Any] = []
        count, position = (1, start) if kind == _BULK else (number, eol + 2)
        for _entry in range(count):
            eol = buffer.find(_CRLF, position, end)
            if eol <= position or buffer[position] != _BULK:
                return _NOT_SMALL
            try:
                size = int(buffer[position + 1 : eol])
            except ValueError:
                return _NOT_SMALL
            if size < 0:
                items.append(None)
                position = eol + 2
                continue
            position = eol + 2 + size + 2
            if position > end:
                return _NOT_SMALL  # not all in yet (or big): the general parser waits for it
            items.append(view[eol + 2 : position - 2].tobytes())
        self._start = position
        return items[0] if kind == _BULK else items


# --------------------------------------------------------------------------------------------------------------------
# How a push is made (PROTOCOL.md section 3).
#
# A push is one ``EVALSHA`` of a send script (core/scripts.py), or, for a big message once the connection has
# shown it may run transactions, ``MULTI`` / ``RPUSH`` / ``EVAL`` of the check script / ``EXEC``:
# :func:`push_commands` gives the commands; the meaning of Redis' replies is in core/push_outcomes.py.
# --------------------------------------------------------------------------------------------------------------------


_CHECK_SCRIPT_TEXT = SEND_CHECK_LUA_SCRIPT.encode()

#: From this many bytes of messages on, a push goes as a transaction (where the connection allows it).
TRANSACTION_PUSH_BYTES = 32768

# The two send scripts by index (see PushPlan.script), each as (SHA-1, text): Redis names scripts by SHA-1.
_SCRIPTS: tuple[tuple[str, bytes], ...] = tuple(
    (hashlib.sha1(script.encode()).hexdigest(), script.encode())
    for script in (SEND_MESSAGE_LUA_SCRIPT, SEND_MESSAGES_LUA_SCRIPT)
)

# Which send script (its index in _SCRIPTS) pushes an item, by how many messages it has: script 0 for one message,
# script 1 (the default) for several, the chunks of one reply. A lookup rather than a function: a push's path asks it.
_SCRIPT_BY_COUNT = {1: 0}.get

#: One push: ``(key, messages, expiry_seconds)``; the messages go to the list in one atomic step. A message is
#: ``bytes`` or a :class:`~pysoa_like.core.framing.FramedMessage` (``OutgoingMessage``), nothing else: a push's
#: plan encodes them as they are, where :func:`pack_commands` would write another type (a ``bytearray``) by its
#: ``str()``.
PushItem = tuple[str, Sequence[OutgoingMessage], int]


# Per send script, the RESP of its EVALSHA's arguments that never change (the name, the SHA-1, one key): what a
# small push's encoding starts with, after the array's length.
_EVALSHA_HEADS = tuple(b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n$1\r\n1\r\n" % sha.encode() for sha, _text in _SCRIPTS)


class PushPlan(NamedTuple):
    """One push, planned once from its item (see :func:`push_plan`): what it pushes and how.

    A connection given a plan checks only what depends on its own state (whether it has run the script, whether it
    may run transactions).
    """

    #: Which send script pushes it: 0 for one message, 1 for several (the chunks of one reply).
    script: int
    #: Whether it is big enough (``TRANSACTION_PUSH_BYTES``) to go in a transaction where the connection allows.
    big: bool
    #: The send script's ``EVALSHA`` for it (the push on a connection that has run that script): its RESP bytes
    #: when its messages take at most 16 KiB together, else the tuple of its arguments (:func:`pack_commands`
    #: copies no argument larger than that).
    command: Command
    #: The item pushed.
    item: PushItem
    #: The most messages its list may hold (the send script refuses the push beyond it).
    capacity: int


def push_plan(item: PushItem, capacity: int) -> PushPlan:
    """The plan of a push of ``item`` to a list of at most ``capacity`` messages: its script, size and command."""
    key, messages, expiry_seconds = item
    size = 0
    for message in messages:
        size += len(message)
    script = _SCRIPT_BY_COUNT(len(messages), 1)
    big = size >= TRANSACTION_PUSH_BYTES
    if size > _LARGE_ARGUMENT_BYTES or type(expiry_seconds) is not int or type(capacity) is not int:
        # A large message is never copied (pack_commands' rule); numbers other than int (never the transports'
        # expiries, which are whole seconds) are written by pack_commands' rules.
        command = script_command(False, item, capacity)
        joined = size <= _LARGE_ARGUMENT_BYTES
        return PushPlan(script, big, b"".join(pack_commands([command])) if joined else command, item, capacity)
    # Encoded here, in one piece: the bytes pack_commands gives for the EVALSHA's tuple, at a fraction of its cost.
    name, expiry, most = key.encode(), b"%d" % expiry_seconds, b"%d" % capacity
    head = b"*%d\r\n%b$%d\r\n%b\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (
        6 + len(messages),
        _EVALSHA_HEADS[script],
        len(name),
        name,
        len(expiry),
        expiry,
        len(most),
        most,
    )
    # (%b takes a FramedMessage by its bytes(), as pack_commands writes it: head and payload, one argument.)
    if script == 0:
        return PushPlan(0, False, b"%b$%d\r\n%b\r\n" % (head, size, messages[0]), item, capacity)  # type: ignore[str-format]
    chunks = b"".join(b"$%d\r\n%b\r\n" % (len(message), message) for message in messages)  # type: ignore[str-format]
    return PushPlan(1, False, head + chunks, item, capacity)


def script_command(use_text: bool, item: PushItem, capacity: int) -> tuple[Any, ...]:
    """The send script's command for ``item``: ``EVALSHA`` (or ``EVAL`` with the text, to load it)."""
    key, messages, expiry_seconds = item
    sha, text = _SCRIPTS[_SCRIPT_BY_COUNT(len(messages), 1)]
    if use_text:
        return ("EVAL", text, 1, key, expiry_seconds, capacity, *messages)
    return ("EVALSHA", sha, 1, key, expiry_seconds, capacity, *messages)


def push_commands(item: PushItem, capacity: int, transaction: bool) -> list[tuple[Any, ...]]:
    """The commands that push one item: the send script, or a transaction (four replies to read)."""
    if not transaction:
        return [script_command(False, item, capacity)]
    key, messages, expiry_seconds = item
    return [
        ("MULTI",),
        ("RPUSH", key, *messages),
        ("EVAL", _CHECK_SCRIPT_TEXT, 1, key, expiry_seconds, capacity, len(messages)),
        ("EXEC",),
    ]
