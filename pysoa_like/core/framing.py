"""Message framing: protocol versions 1, 2 and 3 and the header loop (PROTOCOL.md section 4).

::

    v1:  <payload>
    v2:  b"content-type:" <mime> b";" <payload>
    v3:  b"pysoa-redis/3//" (<name> b":" <value> b";")* <payload>
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.core.constants import VERSION_MARKER_PATTERN, ProtocolVersion, _version_from_marker_digits

__all__ = [
    "FramedMessage",
    "OutgoingMessage",
    "ParsedMessage",
    "frame_message",
    "frame_unjoined",
    "parse_message",
    "validate_header_value",
    "without_version_marker",
]

# The version marker, plus the content-type header in its usual compact form so the common case needs one match.
_VERSION_MARKER_RE = re.compile(VERSION_MARKER_PATTERN + rb"(?:content-type:([A-Za-z0-9_/.-]+);)?")
_V2_MARKER = b"content-type"
# One understood header: optional whitespace around every part, then a terminating ";". Anything else ends the
# header loop and stays in the payload, exactly as PySOA 1.4.9 reads it.
_HEADER_RE = re.compile(rb"\s*(content-type|chunk-count|chunk-id)\s*:\s*([A-Za-z0-9_/.-]+)\s*;")
_HEADER_VALUE_RE = re.compile(r"[A-Za-z0-9_/.-]+")
_VERSIONS_BY_DIGITS = {b"%d" % version: version for version in ProtocolVersion}
# Decoded MIME types by raw header value; a handful of values ever occur, so decode each once.
_MIME_TYPES: dict[bytes, str] = {}


class ParsedMessage(NamedTuple):
    """One message (or one chunk) read from a Redis list, with its framing removed.

    Attributes:
        version: The detected protocol version.
        content_type: The ``content-type`` header value, or None when the message had none.
        chunk_count: The ``chunk-count`` header as an int, or None.
        chunk_id: The ``chunk-id`` header as an int, or None.
        payload: The bytes after the last understood header (the serialized envelope, or a slice of it).
    """

    version: ProtocolVersion
    content_type: str | None
    chunk_count: int | None
    chunk_id: int | None
    payload: bytes | bytearray | memoryview

    @property
    def is_chunk(self) -> bool:
        """Whether the message is one chunk of a chunked message (it has a ``chunk-count`` header)."""
        return self.chunk_count is not None


def _header_int(name: bytes, value: bytes) -> int:
    # A chunk number never needs 10 digits; longer ones could even hit Python's int-size limit.
    if not value.isdigit() or len(value) > 9:
        raise InvalidMessageError(f"Invalid {name.decode('ascii')} header value {value[:20].decode('ascii')!r}")
    return int(value)


def _mime_type(value: bytes) -> str:
    mime_type = _MIME_TYPES.get(value)
    if mime_type is None:
        mime_type = value.decode("ascii")
        if len(_MIME_TYPES) < 256:
            _MIME_TYPES[value] = mime_type
    return mime_type


def without_version_marker(message: bytes | bytearray) -> bytes | bytearray:
    """The message without its ``pysoa-redis/N//`` marker, whatever N (the message itself when it has none).

    For answering a message of an unknown version in version 3: the rest is read as version 3.
    """
    marker = _VERSION_MARKER_RE.match(message)
    return message[marker.end(1) + 2 :] if marker else message


def parse_message(message: bytes | bytearray, *, view: bool = False) -> ParsedMessage:
    """Read the version marker and the understood headers at the start of a received message.

    Args:
        message: The raw bytes popped from Redis (a ``bytearray`` for a big message received in place).
        view: Give the payload as a ``memoryview`` into ``message`` rather than a ``bytes`` copy (a copy of a
            big message costs more than parsing it; read it with ``Serializer.buffer_to_dict``).

    Returns:
        The parsed framing. The payload is ``message`` itself (no copy) when there was no framing.

    Raises:
        UnsupportedProtocolVersionError: If the ``pysoa-redis/N//`` marker names an unknown version (an
            ``InvalidMessageError`` and a ``ValueError``).
        InvalidMessageError: If a ``chunk-count`` or ``chunk-id`` header is not a decimal number.
    """
    content_type: str | None = None
    chunk_count: int | None = None
    chunk_id: int | None = None
    offset = 0
    marker = _VERSION_MARKER_RE.match(message)
    if marker is not None:
        number, mime = marker.group(1, 2)
        version = _VERSIONS_BY_DIGITS.get(number) or _version_from_marker_digits(number)
        if mime is not None:
            content_type = _mime_type(mime)
        offset = marker.end()
    elif message.startswith(_V2_MARKER):
        version = ProtocolVersion.VERSION_2
    else:
        version = ProtocolVersion.VERSION_1

    header = _HEADER_RE.match(message, offset)
    while header is not None:
        name, value = header.group(1, 2)
        if name == b"content-type":
            content_type = _mime_type(value)
        elif name == b"chunk-count":
            chunk_count = _header_int(name, value)
        else:
            chunk_id = _header_int(name, value)
        offset = header.end()
        header = _HEADER_RE.match(message, offset)

    if not offset:
        payload: bytes | bytearray | memoryview = message
    elif view:
        payload = memoryview(message)[offset:]
    else:
        payload = bytes(memoryview(message)[offset:])  # one copy, from bytes or bytearray alike
    return ParsedMessage(version, content_type, chunk_count, chunk_id, payload)


def validate_header_value(value: str) -> str:
    """Check that a header value can be read back by PySOA peers (characters ``[A-Za-z0-9_/.-]`` only).

    Args:
        value: The value, e.g. a MIME type.

    Returns:
        The value, unchanged.

    Raises:
        ValueError: If the value is empty or has another character.
    """
    if not isinstance(value, str) or _HEADER_VALUE_RE.fullmatch(value) is None:
        raise ValueError(
            f"Header value {value!r} cannot be sent: it must be one or more of the characters A-Z a-z 0-9 _ / . -"
        )
    return value


@functools.lru_cache(maxsize=64)
def _message_head(version: int, mime_type: str) -> bytes:
    # Framing prefixes are the same for every message of one version and serializer, so build each once.
    if version == ProtocolVersion.VERSION_3:
        return ProtocolVersion.VERSION_3.prefix + b"content-type:" + validate_header_value(mime_type).encode() + b";"
    if version == ProtocolVersion.VERSION_2:
        return b"content-type:" + validate_header_value(mime_type).encode() + b";"
    if version == ProtocolVersion.VERSION_1:
        return b""
    raise ValueError(f"Unknown Redis Gateway protocol version {version!r}; use 1, 2 or 3")


def frame_message(
    payload: bytes | memoryview,
    mime_type: str,
    version: ProtocolVersion | int = ProtocolVersion.VERSION_3,
    *,
    chunk_count: int | None = None,
    chunk_id: int | None = None,
) -> bytes:
    """Frame a serialized envelope (or a chunk of one) for pushing to a Redis list.

    Args:
        payload: The serialized envelope, or one slice of it for a chunk.
        mime_type: The serializer's MIME type (ignored by version 1, which has no header).
        version: The protocol version to speak.
        chunk_count: The number of chunks, for a chunk (version 3 only; give ``chunk_id`` too).
        chunk_id: The 1-based number of this chunk.

    Returns:
        The bytes to push.

    Raises:
        ValueError: If the version is unknown, the MIME type has characters a header cannot carry, or chunk
            headers are asked for with version 1 or 2 or only one of them is given.
    """
    head = _message_head(int(version), mime_type)
    if chunk_count is not None or chunk_id is not None:
        if version != ProtocolVersion.VERSION_3:
            raise ValueError(f"Chunked messages need protocol version 3, not {int(version)}")
        if chunk_count is None or chunk_id is None:
            raise ValueError("A chunk needs both chunk_count and chunk_id")
        head += b"chunk-count:%d;chunk-id:%d;" % (chunk_count, chunk_id)
    if not head:
        return bytes(payload)
    return head + payload


class FramedMessage:
    """A framed message kept as its two pieces, so that a big payload is not copied just to prepend the framing.

    The transports write the pieces one after the other as one Redis argument; ``bytes()`` joins them.

    Args:
        head: The framing (version marker and headers).
        payload: The serialized envelope.
    """

    __slots__ = ("head", "payload")

    def __init__(self, head: bytes, payload: bytes) -> None:
        self.head = head
        self.payload = payload

    def __len__(self) -> int:
        return len(self.head) + len(self.payload)

    def __bytes__(self) -> bytes:
        return self.head + self.payload

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FramedMessage):
            other = bytes(other)
        return isinstance(other, bytes) and len(other) == len(self) and bytes(self) == other

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        return f"FramedMessage({self.head!r}, <{len(self.payload)} bytes>)"


#: What the transports push: plain bytes, or a big message still in two pieces.
OutgoingMessage = bytes | FramedMessage

# Payloads up to this size are joined to their framing (one small copy beats a second buffer to write).
_JOIN_UP_TO_BYTES = 16384


def frame_unjoined(payload: bytes, mime_type: str, version: ProtocolVersion | int) -> OutgoingMessage:
    """:func:`frame_message` for a whole (unchunked) message, leaving a big payload uncopied.

    Returns:
        The framed bytes, or for a payload over 16 KiB a :class:`FramedMessage` of the framing and the payload.
    """
    head = _message_head(int(version), mime_type)
    if not head or len(payload) <= _JOIN_UP_TO_BYTES:
        return head + payload if head else bytes(payload)
    return FramedMessage(head, bytes(payload))
