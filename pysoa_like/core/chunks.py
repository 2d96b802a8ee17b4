"""Chunked replies: their splitting and reassembly, the refusal of a chunked request, the chunking settings.

A server splits a big reply into chunks when ``frame_for_sending`` of :mod:`pysoa_like.core.message` says so
(PROTOCOL.md section 5); how it splits them, and what a receiver and a server's settings need about them, is
here, off the path of an ordinary call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.core.constants import MINIMUM_CHUNKED_MESSAGE_BYTES, ProtocolVersion
from pysoa_like.core.framing import frame_message

if TYPE_CHECKING:
    from pysoa_like.core.message import ParsedMessage

__all__ = ["ChunkReassembler", "reject_chunked_request", "split_into_chunks", "validate_chunk_settings"]

# Chunking needs this much head room: the maximum message size must be at least this many chunks.
_MINIMUM_CHUNKS_IN_MAXIMUM = 5


def validate_chunk_settings(chunk_messages_larger_than_bytes: int, maximum_message_size_in_bytes: int) -> None:
    """Check a server transport's chunking settings, as PySOA does at construction.

    Args:
        chunk_messages_larger_than_bytes: The chunking threshold T; ``-1`` disables chunking.
        maximum_message_size_in_bytes: The largest serialized envelope the server may send.

    Raises:
        ValueError: If T is neither -1 nor at least ``MINIMUM_CHUNKED_MESSAGE_BYTES``, or the maximum size is
            less than five times T.
    """
    threshold = chunk_messages_larger_than_bytes
    if threshold == -1:
        return
    if threshold < MINIMUM_CHUNKED_MESSAGE_BYTES:
        raise ValueError(
            f"chunk_messages_larger_than_bytes must be -1 (disabled) or at least {MINIMUM_CHUNKED_MESSAGE_BYTES}, "
            f"got {threshold}"
        )
    if maximum_message_size_in_bytes < _MINIMUM_CHUNKS_IN_MAXIMUM * threshold:
        raise ValueError(
            f"maximum_message_size_in_bytes ({maximum_message_size_in_bytes}) must be at least "
            f"{_MINIMUM_CHUNKS_IN_MAXIMUM} times chunk_messages_larger_than_bytes ({threshold}) when chunking is "
            f"enabled, so that a chunked message can have several chunks"
        )


def reject_chunked_request(message: ParsedMessage) -> None:
    """Refuse a chunked message received by a server: only responses may be chunked.

    Args:
        message: The parsed request.

    Raises:
        InvalidMessageError: If the message has a ``chunk-count`` header.
    """
    if message.chunk_count is not None:
        raise InvalidMessageError("Unsupported chunked request on server Redis backend")


class ChunkReassembler:
    """Collects the chunks of one chunked response, checking their sequence as they arrive.

    Feed it the first chunk at construction and each later chunk (popped from the same reply queue) with
    :meth:`add` until :attr:`complete`; then :meth:`payload` gives the whole serialized envelope. Deserialize it
    with the first chunk's ``content_type``; later chunks may omit that header.

    Args:
        first: The parsed first chunk.

    Raises:
        InvalidMessageError: If the first chunk lacks a chunk header, has a count below 1, or is not chunk 1.
    """

    __slots__ = ("_parts", "chunk_count", "content_type", "next_chunk_id", "version")

    def __init__(self, first: ParsedMessage) -> None:
        if first.chunk_count is None or first.chunk_id is None:
            raise InvalidMessageError("Invalid chunked response: the first chunk lacks chunk-count or chunk-id")
        if first.chunk_count < 1:
            raise InvalidMessageError(f"Invalid chunked response: chunk-count {first.chunk_count} is less than 1")
        if first.chunk_id != 1:
            raise InvalidMessageError(
                f"Invalid chunked response: the first chunk received is chunk {first.chunk_id} of {first.chunk_count}, "
                f"expected chunk 1"
            )
        self.chunk_count: int = first.chunk_count
        self.content_type: str | None = first.content_type
        self.version: ProtocolVersion = first.version
        self.next_chunk_id: int = 2
        self._parts: list[bytes | bytearray | memoryview] = [first.payload]

    @property
    def complete(self) -> bool:
        """Whether every chunk has arrived."""
        return self.next_chunk_id > self.chunk_count

    def add(self, chunk: ParsedMessage) -> bool:
        """Append the next chunk.

        Args:
            chunk: The parsed next message from the reply queue.

        Returns:
            Whether the message is now complete.

        Raises:
            InvalidMessageError: If the message is already complete, or the chunk lacks a chunk header, has a
                different chunk count, or is not the next chunk in order.
        """
        expected = self.next_chunk_id
        if expected > self.chunk_count:
            raise InvalidMessageError(f"Invalid chunked response: all {self.chunk_count} chunks were already received")
        if chunk.chunk_count is None or chunk.chunk_id is None:
            raise InvalidMessageError(
                f"Invalid chunked response: a message without chunk headers arrived while expecting chunk {expected} "
                f"of {self.chunk_count}"
            )
        if chunk.chunk_count != self.chunk_count:
            raise InvalidMessageError(
                f"Invalid chunked response: chunk-count {chunk.chunk_count} differs from {self.chunk_count} while "
                f"expecting chunk {expected}"
            )
        if chunk.chunk_id != expected:
            raise InvalidMessageError(
                f"Invalid chunked response: got chunk {chunk.chunk_id}, expected chunk {expected} of {self.chunk_count}"
            )
        self._parts.append(chunk.payload)
        self.next_chunk_id = expected + 1
        return self.next_chunk_id > self.chunk_count

    def payload(self) -> bytes:
        """The whole serialized envelope: the chunk payloads joined in order.

        Raises:
            InvalidMessageError: If chunks are still missing.
        """
        if not self.complete:
            raise InvalidMessageError(
                f"Invalid chunked response: only {self.next_chunk_id - 1} of {self.chunk_count} chunks were received"
            )
        return b"".join(self._parts)


def split_into_chunks(payload: bytes, mime_type: str, chunk_messages_larger_than_bytes: int) -> list[bytes]:
    """Split a serialized envelope into framed version 3 chunks, in sending order.

    Args:
        payload: The serialized envelope.
        mime_type: The serializer's MIME type, repeated on every chunk.
        chunk_messages_larger_than_bytes: The chunk size T (at least 1).

    Returns:
        ``ceil(len(payload) / T)`` framed chunks; chunk i carries payload bytes ``[(i-1)*T, i*T)``.

    Raises:
        ValueError: If T is less than 1 or the MIME type cannot be sent in a header.
    """
    size = chunk_messages_larger_than_bytes
    if size < 1:
        raise ValueError(f"The chunk size must be at least 1 byte, got {size}")
    count = -(-len(payload) // size)
    view = memoryview(payload)
    return [
        frame_message(view[start : start + size], mime_type, ProtocolVersion.VERSION_3, chunk_count=count, chunk_id=i)
        for i, start in enumerate(range(0, len(payload), size), start=1)
    ]
