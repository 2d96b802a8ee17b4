"""A chunked reply read whole by a blocking client: its chunks popped within the receive's deadline and the
``maximum_reply_size_in_bytes`` limit; whole replies met between them are kept for the next receives."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import ChunkReassembler, ParsedMessage, parse_message
from pysoa_like.core.message import DroppedReply, ReceivedMessage, accept_reply

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.client import _ThreadState

__all__ = ["ChunkedReplies"]


class ChunkedReplies:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`: its chunked
    replies."""

    service_name: str
    metrics: MetricsRecorder
    core: RedisTransportCore
    maximum_reply_size_in_bytes: int
    _state: _ThreadState
    _prefix: str
    _deserialize: Callable[[Serializer, Any], Any] | None

    def _chunked_reply(
        self, first: ParsedMessage, first_size: int, queue_name: str, deadline: float
    ) -> ReceivedMessage:
        """The reply whose first chunk ``first`` is: its other chunks popped (:meth:`_reassemble`), the payload
        deserialized and the message accepted by the core (:func:`~pysoa_like.core.message.accept_reply`).

        Raises:
            DroppedReply: The reply is incomplete at the deadline, too large, unreadable or for no waiting call.
        """
        try:
            payload = self._reassemble(first, first_size, queue_name, deadline)
        except InvalidMessageError as exc:  # (Redis failing while the chunks are popped is raised as it is)
            raise DroppedReply("invalid_message", str(exc), error=exc) from exc
        serializer = self.core.serializers[first.content_type]
        deserialize = self._deserialize
        try:
            message = serializer.buffer_to_dict(payload) if deserialize is None else deserialize(serializer, payload)
        except Exception as exc:  # as decode_reply treats an unreadable reply
            raise DroppedReply("invalid_message", str(exc), error=exc) from exc
        return accept_reply(message, time.time(), self.service_name, self._state.pending)[1]

    def _reassemble(self, first: ParsedMessage, first_size: int, queue_name: str, deadline: float) -> bytes:
        """The whole payload of a chunked reply, read within ``deadline`` and ``maximum_reply_size_in_bytes``."""
        reassembler = ChunkReassembler(first)
        limit = self.maximum_reply_size_in_bytes
        total = first_size
        held = self._state.held
        skipped: list[RawMessage] = []
        try:
            while not reassembler.complete:
                if held:
                    next_raw = held.popleft()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise InvalidMessageError(
                            f"Chunked reply incomplete at the receive's deadline ({reassembler.next_chunk_id - 1} of "
                            f"{reassembler.chunk_count} chunks)"
                        )
                    next_raw = self.core.pop_message(queue_name, remaining)
                chunk = parse_message(next_raw, view=True)
                if not chunk.is_chunk:
                    # A whole reply pushed between two chunks (by a PySOA server; ours push chunks atomically).
                    skipped.append(next_raw)
                    continue
                total += len(next_raw)
                if total > limit:
                    raise InvalidMessageError(f"Chunked reply larger than {limit} bytes (maximum_reply_size_in_bytes)")
                reassembler.add(chunk)
        except MessageReceiveTimeout as exc:
            raise InvalidMessageError("Chunked reply incomplete at the receive's deadline") from exc
        finally:
            # Replies skipped over come back first, in the order they arrived.
            held.extendleft(reversed(skipped))
        self.metrics.histogram(self._prefix + "receive.chunk_count").set(reassembler.chunk_count)
        return reassembler.payload()
