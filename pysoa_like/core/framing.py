"""Framing built for sending: a message's head (version marker and headers), framed payloads, big messages.

PROTOCOL.md section 4. The head of a message is the same for every message of one version and MIME type, so it
is built once (``message_head``, cached): an ordinary call finds it in the cache and runs nothing here.
Reading the framing of a received message (``parse_message``) and the rules of a sent one
(``frame_for_sending``) are in :mod:`pysoa_like.core.message`, on every call's path.
"""

from __future__ import annotations

import functools
import re

from pysoa_like.core.constants import ProtocolVersion

__all__ = ["FramedMessage", "OutgoingMessage", "frame_message", "message_head", "validate_header_value"]

# What a header value may hold (a MIME type, say).
_HEADER_VALUE_RE = re.compile(r"[A-Za-z0-9_/.-]+")


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
def message_head(version: int, mime_type: str) -> bytes:
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
    head = message_head(int(version), mime_type)
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
