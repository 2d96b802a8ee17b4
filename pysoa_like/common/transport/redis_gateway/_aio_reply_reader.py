"""The asyncio driver's reply reader: the task that pops a loop's reply list and hands each reply to its call.

A base class of :class:`~pysoa_like.common.transport.redis_gateway.asyncio_client.AsyncRedisClientTransport` (its
methods are the transport's). While any call waits, one reader task per reply list pops it (``BLPOP`` and, written
with it, ``LPOP`` with a count for the replies that came with the first: one round trip per batch), decodes each
reply (a big one in a worker thread), reassembles chunked ones, and sets the future of the call that sent its
request; a reply nobody waits for (late, duplicated, forged, expired, malformed) is dropped, counted, and logged now
and then. It follows Redis Cluster's redirects, reconnects a few times, and otherwise fails the waiting calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._short_text import cap_line
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway._aio_connection import AioConnection, RedisConnectionError
from pysoa_like.common.transport.redis_gateway._lanes import READ_MARGIN_SECONDS
from pysoa_like.common.transport.redis_gateway.protocol import (
    ChunkReassembler,
    ParsedMessage,
    parse_message,
)
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, Redirect
from pysoa_like.core.endpoint import Endpoint
from pysoa_like.core.message import DroppedReply, accept_reply, batch_pause
from pysoa_like.core.redis_protocol import RespError

if TYPE_CHECKING:
    from pysoa_like.common.metrics import MetricsRecorder
    from pysoa_like.common.transport.base import ReceivedMessage
    from pysoa_like.common.transport.redis_gateway._aio_replies import CallKey, LoopState
    from pysoa_like.common.transport.redis_gateway.core import SerializersByType

__all__ = ["ReplyReading"]

_logger = logging.getLogger("pysoa_like.transport")

# The reader's blocking pop waits this long at most, then looks whether any call still waits.
_READ_SLICE_SECONDS = 1.0

# Replies bigger than this are deserialized in a worker thread, so the loop is never held by one.
_THREAD_DECODE_BYTES = 256 * 1024

# A reader whose connection failed tries a new one this many times before failing the waiting calls.
_READER_RECONNECTS = 2


class _Redirected(Exception):
    """Redis Cluster answered the reader's pop with ``MOVED`` or ``ASK``."""

    def __init__(self, redirect: Redirect) -> None:
        super().__init__(f"{'ASK' if redirect.ask else 'MOVED'} {redirect.slot} {redirect.address}")
        self.redirect = redirect


class ReplyReading:
    """The reply reader of an asyncio Redis client transport (see the module docstring)."""

    # The transport's (set in its __init__).
    service_name: str
    metrics: MetricsRecorder
    maximum_reply_size_in_bytes: int
    _prefix: str
    _log_throttle: LogThrottle
    _serializers: SerializersByType

    if TYPE_CHECKING:
        # Its pushes' (_aio_pushing.py).

        def _redirect_of(
            self, state: LoopState, index: int, reply: Any, connection: AioConnection | None
        ) -> Redirect | None: ...

    async def _read_replies(self, state: LoopState) -> None:
        """Pop the loop's reply list while any call waits, handing each reply to its call."""
        failures = 0
        redirects = 0
        index = await state.pool.slot_of(state.reply_key)
        connection: AioConnection | None = None
        # Redis Cluster: the node an ASK answer named, for the next pop only (the reply list's slot is moving).
        asking: Endpoint | None = None
        try:
            while state.futures:
                try:
                    if connection is None or connection.closed:
                        connection = await state.pool.reader_connection(index, asking)
                    replies = await self._pop(state, connection, index, asking is not None)
                except _Redirected as redirected:
                    # Nothing was popped: the connection is fine, and the next pop goes where the answer says.
                    state.pool.release_reader(index, connection)  # type: ignore[arg-type]
                    connection = None
                    redirects += 1
                    if redirects > MAXIMUM_REDIRECTS:
                        self._fail_waiting(state, RedisConnectionError(f"Redirected too often: {redirected}"))
                        return
                    redirect = redirected.redirect
                    asking = state.pool.ring.endpoint_for(redirect.address) if redirect.ask else None
                    continue
                except RedisConnectionError as exc:
                    if connection is not None:
                        connection.close()
                    connection = None
                    asking = None
                    failures += 1
                    self.metrics.counter(self._prefix + "receive.error.connection").increment()
                    if failures > _READER_RECONNECTS:
                        self._fail_waiting(state, exc)
                        return
                    await asyncio.sleep(0.05 * failures)
                    continue
                failures = redirects = 0
                if asking is not None:
                    # The ASK was for that pop only: the next one goes to the slot's master again.
                    state.pool.release_reader(index, connection)
                    connection = asking = None
                for raw in replies:
                    await self._deliver(state, raw)
                pause = batch_pause(len(state.futures) - len(replies))
                if pause:
                    await asyncio.sleep(pause)
        except BaseException:
            # Stopped during a pop (cancelled): what the connection reads next is unknown, so it is not reused.
            if connection is not None:
                connection.close()
            raise
        finally:
            state.reader = None
            if connection is not None:
                state.pool.release_reader(index, connection)

    async def _pop(self, state: LoopState, connection: AioConnection, index: int, asking: bool = False) -> list[Any]:
        """The replies waiting on the loop's reply list (at least one, unless the pop's slice ended first).

        One round trip: ``BLPOP`` and, when more than one call waits, ``LPOP`` with a count written right behind
        it, which Redis runs as soon as the ``BLPOP`` is answered (it takes the replies that came with the first).

        Args:
            index: The reply list's ring slot.
            asking: Each command goes after ``ASKING`` (Redis Cluster: the node an ``ASK`` answer named).

        Raises:
            RedisConnectionError: The connection failed, or Redis refused the pop.
            _Redirected: Redis Cluster answered ``MOVED`` or ``ASK`` (nothing was popped).
        """
        key = state.reply_key
        commands: list[tuple[Any, ...]] = [("ASKING",)] if asking else []
        commands.append(("BLPOP", key, _READ_SLICE_SECONDS))
        more = len(state.futures) - 1
        if more > 0:
            if asking:
                commands.append(("ASKING",))
            commands.append(("LPOP", key, more))
        answers = await connection.execute(commands, _READ_SLICE_SECONDS + READ_MARGIN_SECONDS)
        if more > 0:
            popped, rest = answers[-3 if asking else -2], answers[-1]
        else:
            popped, rest = answers[-1], None
        if isinstance(popped, RespError):
            redirect = self._redirect_of(state, index, popped, connection)
            if redirect is not None:
                raise _Redirected(redirect)
            raise RedisConnectionError(f"Redis refused the pop of the reply list: {popped}")
        # A reply may come between the end of the BLPOP's slice and the LPOP: it is the LPOP's.
        replies = [] if popped is None else [popped[1]]
        if isinstance(rest, list):
            replies.extend(rest)
        return replies

    def _fail_waiting(self, state: LoopState, error: Exception) -> None:
        failure = MessageReceiveError(f"Redis error receiving from service {self.service_name}: {error}")
        for future in list(state.futures.values()):
            if not future.done():
                future.set_exception(failure)

    async def _deliver(self, state: LoopState, raw: Any) -> None:
        """Decode one popped reply and hand it to its call, or drop it (counted, and logged now and then); an expired
        or unusable reply whose call still waits fails that call."""
        try:
            received = await self._decode(state, raw)
        except DroppedReply as dropped:
            if dropped.answers is not None:
                self._fail_call(state, dropped)
            self.metrics.counter(f"{self._prefix}receive.error.{dropped.reason}").increment()
            log_bounded(
                _logger,
                logging.WARNING,
                self._log_throttle,
                dropped.reason,
                "Dropped a reply for service %s (%s): %s",
                self.service_name,
                dropped.reason,
                cap_line(str(dropped), 300),
            )
            return
        if received is None:
            return  # a chunk of a reply not complete yet
        call_key, message = received
        future = state.futures.get(call_key)
        if future is not None and not future.done():
            future.set_result(message)

    async def _decode(self, state: LoopState, raw: Any) -> tuple[CallKey, ReceivedMessage] | None:
        """A reply's call key and message (the core's :func:`~pysoa_like.core.message.accept_reply`), or ``None`` for a
        chunk of a reply not complete yet.

        Raises:
            DroppedReply: The reply is for no waiting call, or unusable.
        """
        try:
            parsed: ParsedMessage = parse_message(raw, view=True)
            payload: Any = parsed.payload
            if parsed.is_chunk:
                payload = self._add_chunk(state, parsed, len(raw))
                if payload is None:
                    return None
            serializer = self._serializers[parsed.content_type]
            if len(payload) > _THREAD_DECODE_BYTES:
                message = await asyncio.to_thread(serializer.buffer_to_dict, payload)
            else:
                message = serializer.buffer_to_dict(payload)
        except Exception as exc:  # as the core's decode_reply treats an unreadable reply
            raise DroppedReply("invalid_message", str(exc), error=exc) from exc
        return accept_reply(message, time.time(), self.service_name, state.pending, state.key_of)

    @staticmethod
    def _fail_call(state: LoopState, dropped: DroppedReply) -> None:
        """Fail the waiting call an expired or unusable reply answers."""
        if isinstance(dropped.error, MessageReceiveTimeout):
            error: Exception = MessageReceiveTimeout("The reply expired before it was received")
        else:
            error = InvalidMessageError(f"The reply is unusable: {dropped}")
        future = state.futures.get(dropped.answers)
        if future is not None and not future.done():
            future.set_exception(error)

    def _add_chunk(self, state: LoopState, chunk: ParsedMessage, size: int) -> bytes | None:
        """Add one chunk of a chunked reply; the whole payload once the last one is in."""
        if chunk.chunk_id == 1 or state.chunks is None:
            state.chunks = ChunkReassembler(chunk)
            state.chunk_bytes = size
        else:
            state.chunk_bytes += size
            if state.chunk_bytes > self.maximum_reply_size_in_bytes:
                state.chunks = None
                raise InvalidMessageError(
                    f"Chunked reply larger than {self.maximum_reply_size_in_bytes} bytes (maximum_reply_size_in_bytes)"
                )
            state.chunks.add(chunk)
        if not state.chunks.complete:
            return None
        payload, state.chunks = state.chunks.payload(), None
        return payload
