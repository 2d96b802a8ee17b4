"""The Redis Gateway client transport: push requests to a service's list, pop replies from this thread's list."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from typing import Any

from pysoa_like.common._header_rules import suppress_response_requested
from pysoa_like.common.fields import ClassConfigurationSchema
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ClientTransport, ReceivedMessage, get_hex_thread_id
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError
from pysoa_like.common.transport.redis_gateway._driver_io import RawMessage
from pysoa_like.common.transport.redis_gateway._driver_settings import RedisTransportSchema, check_transport_kwargs
from pysoa_like.common.transport.redis_gateway.constants import (
    DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT,
    DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT,
    DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
    DEFAULT_PROTOCOL_VERSION,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_FULL_RETRIES,
    DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
    ProtocolVersion,
)
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import (
    ChunkReassembler,
    OutgoingMessage,
    build_envelope,
    check_envelope,
    check_message_size,
    compute_expiry,
    frame_unjoined,
    make_reply_to,
    new_client_id,
    parse_message,
)
from pysoa_like.common.transport.redis_gateway.utils import make_redis_queue_name

__all__ = ["RedisClientTransport"]


class _ThreadState(threading.local):
    """Per-thread state: this thread's reply queue and how many replies it still waits for."""

    def __init__(self) -> None:
        self.reply_to: str | None = None
        self.outstanding = 0
        # Replies already popped (drained with another one, or skipped while reassembling a chunked reply),
        # returned by the next receives.
        self.held: collections.deque[RawMessage] = collections.deque()
        # While a send batch is open: (request_id, framed message, Redis expiry, awaits a reply).
        self.batch: list[tuple[int, OutgoingMessage, int, bool]] | None = None


@ClassConfigurationSchema.provider(RedisTransportSchema)
class RedisClientTransport(ClientTransport):
    """Sends job requests to ``pysoa:service.<name>`` and receives replies on a per-thread reply list.

    The reply list is ``pysoa:service.<name>.<client id>!<thread id>`` (one per transport instance and thread),
    so threads sharing a transport never see each other's replies. Every keyword argument is optional except
    ``backend_type``; PySOA 1.4.9 settings dicts work unchanged.

    Args:
        service_name: The service to call.
        metrics: The metrics recorder (metric names start with ``client.transport.redis_gateway.``).
        backend_type: ``"redis.standard"`` or ``"redis.sentinel"``.
        backend_layer_kwargs: The backend's settings: ``hosts``, ``connection_kwargs``, ``redis_db``,
            ``redis_port`` and, for Sentinel, ``sentinel_services``, ``sentinel_failover_retries``,
            ``sentinel_kwargs``.
        message_expiry_in_seconds: Lifetime of a request when the call gives none (default 60).
        queue_capacity: Refuse to push to a request list holding this many messages (default 10000).
        queue_full_retries: Retries, with backoff, while the request list is full (default 10).
        receive_timeout_in_seconds: How long a receive waits when the call gives no timeout (default 5).
        default_serializer_config: ``{"path": ..., "kwargs": ...}`` of the request serializer (default msgpack).
        maximum_message_size_in_bytes: The largest serialized request (default 102400).
        log_messages_larger_than_bytes: Log a WARNING for larger requests; 0 disables (default 102400).
        protocol_version: The framing of requests, 1, 2 or 3 (default 3). Replies are read in any version.

    Raises:
        ValueError: If a setting is invalid; the message names the key.
    """

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder | None = None,
        backend_type: str | None = None,
        backend_layer_kwargs: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float = DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        queue_full_retries: int = DEFAULT_QUEUE_FULL_RETRIES,
        receive_timeout_in_seconds: float = DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
        default_serializer_config: Mapping[str, Any] | None = None,
        maximum_message_size_in_bytes: int = DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT,
        log_messages_larger_than_bytes: int = DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT,
        protocol_version: int | ProtocolVersion = DEFAULT_PROTOCOL_VERSION,
    ) -> None:
        super().__init__(service_name, metrics)
        settings = {
            "backend_type": backend_type,
            "backend_layer_kwargs": backend_layer_kwargs,
            "message_expiry_in_seconds": message_expiry_in_seconds,
            "queue_capacity": queue_capacity,
            "queue_full_retries": queue_full_retries,
            "receive_timeout_in_seconds": receive_timeout_in_seconds,
            "default_serializer_config": default_serializer_config,
            "maximum_message_size_in_bytes": maximum_message_size_in_bytes,
            "log_messages_larger_than_bytes": log_messages_larger_than_bytes,
            "protocol_version": protocol_version,
        }
        check_transport_kwargs(RedisTransportSchema, settings, type(self).__name__)
        assert backend_type is not None  # the schema requires it
        self.client_id = new_client_id()
        self.protocol_version = ProtocolVersion(protocol_version)
        self.maximum_message_size_in_bytes = maximum_message_size_in_bytes
        self.core = RedisTransportCore(
            service_name,
            self.metrics,
            "client",
            backend_type,
            backend_layer_kwargs,
            message_expiry_in_seconds,
            queue_capacity,
            queue_full_retries,
            receive_timeout_in_seconds,
            default_serializer_config,
            log_messages_larger_than_bytes,
        )
        self._send_queue_name = make_redis_queue_name(service_name)
        self._prefix = self.core.prefix
        self._state = _ThreadState()
        # Validates the service name for key use once (it must not contain "!").
        make_reply_to(service_name, self.client_id, get_hex_thread_id())

    @property
    def requests_outstanding(self) -> int:
        """How many replies the current thread still waits for; below 1, a receive returns at once."""
        return self._state.outstanding

    def _reply_to(self) -> str:
        state = self._state
        reply_to = state.reply_to
        if reply_to is None:
            reply_to = state.reply_to = make_reply_to(self.service_name, self.client_id, get_hex_thread_id())
        return reply_to

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        """Send one request; its reply will go to this thread's reply list.

        Args:
            request_id: The id the reply will carry.
            meta: The request meta (not modified; ``reply_to`` and ``__expiry__`` are added to a copy).
            body: The job request dict.
            message_expiry_in_seconds: The request's lifetime (Redis EXPIRE gets 10 seconds more); None for
                ``message_expiry_in_seconds``. Fractions work.

        Raises:
            MessageTooLarge: The serialized request exceeds ``maximum_message_size_in_bytes``.
            InvalidField: The body cannot be serialized.
            MessageSendError: Redis failed, or the request list stayed full.
        """
        prefix = self._prefix
        metrics = self.metrics
        with metrics.timer(prefix + "send"):
            core = self.core
            expiry = compute_expiry(time.time(), core.message_expiry_in_seconds, message_expiry_in_seconds)
            request_meta = dict(meta)
            request_meta["reply_to"] = self._reply_to()
            envelope = build_envelope(request_id, request_meta, body, expiry.envelope_expiry)
            serializer = core.default_serializer
            with metrics.timer(prefix + "send.serialize"):
                payload = serializer.dict_to_blob(envelope)
            size = len(payload)
            metrics.histogram(prefix + "send.message_size").set(size)
            try:
                check_message_size(size, self.maximum_message_size_in_bytes)
            except Exception:
                metrics.counter(prefix + "send.error.message_too_large").increment()
                raise
            core.log_if_oversized(size, request_id, "to")
            message = frame_unjoined(payload, serializer.mime_type or "", self.protocol_version)
            control = body.get("control") if isinstance(body, dict) else None
            awaited = not suppress_response_requested(control)
            state = self._state
            if state.batch is not None:
                state.batch.append((request_id, message, expiry.redis_expiry_seconds, awaited))
            else:
                core.send_messages(self._send_queue_name, [message], expiry.redis_expiry_seconds)
        if awaited:
            state.outstanding += 1

    def begin_send_batch(self) -> bool:
        """Hold this thread's requests back until :meth:`flush_send_batch` pushes them in one round trip."""
        state = self._state
        if state.batch is not None:
            return False
        state.batch = []
        return True

    def flush_send_batch(self) -> dict[int, PySOATransportError]:
        """Push every held request (one write and one read per Redis host) and end the batch.

        Returns:
            The request ids that could not be pushed, with their ``MessageSendError``.
        """
        state = self._state
        batch, state.batch = state.batch, None
        if not batch:
            return {}
        queue_name = self._send_queue_name
        with self.metrics.timer(self._prefix + "send.batch"):
            errors = self.core.send_batch([(queue_name, [message], expiry) for _id, message, expiry, _a in batch])
        failed: dict[int, PySOATransportError] = {}
        for (request_id, _message, _expiry, awaited), error in zip(batch, errors, strict=True):
            if error is not None:
                failed[request_id] = error
                if awaited:
                    state.outstanding = max(state.outstanding - 1, 0)
        return failed

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        """Receive the next reply sent to this thread.

        Args:
            receive_timeout_in_seconds: How long to wait (fractions work); None or 0 for
                ``receive_timeout_in_seconds``. Each chunk of a chunked reply gets this long.

        Returns:
            The reply, or ``ReceivedMessage(None, None, None)`` without touching Redis when this thread
            waits for no reply.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time, or the reply had expired.
            MessageReceiveError: Redis failed.
            InvalidMessageError: The reply has no request id, or its chunks are out of sequence.
            InvalidMessage: The reply cannot be deserialized.
        """
        state = self._state
        if state.outstanding < 1 and not state.held:
            return ReceivedMessage(None, None, None)
        prefix = self._prefix
        with self.metrics.timer(prefix + "receive"):
            queue_name = self._reply_to()
            held = state.held
            if held:
                raw = held.popleft()
            else:
                # Waiting for several replies: take every one already there in the same round trip.
                popped = self.core.pop_messages(queue_name, receive_timeout_in_seconds, state.outstanding - 1)
                raw = popped[0]
                if len(popped) > 1:
                    held.extend(popped[1:])
            try:
                return self._decode_reply(raw, queue_name, receive_timeout_in_seconds)
            finally:
                # The reply was consumed whatever its fate (expired, malformed), so it is no longer awaited.
                state.outstanding = max(state.outstanding - 1, 0)

    def _decode_reply(self, raw: RawMessage, queue_name: str, timeout: float | None) -> ReceivedMessage:
        parsed = parse_message(raw, view=True)
        payload = parsed.payload
        content_type = parsed.content_type
        if parsed.is_chunk:
            reassembler = ChunkReassembler(parsed)
            held = self._state.held
            skipped: list[RawMessage] = []
            try:
                while not reassembler.complete:
                    next_raw = held.popleft() if held else self.core.pop_message(queue_name, timeout)
                    chunk = parse_message(next_raw, view=True)
                    if not chunk.is_chunk:
                        # A whole reply pushed between two chunks (by a PySOA server; ours push chunks atomically).
                        skipped.append(next_raw)
                        continue
                    reassembler.add(chunk)
            finally:
                # Replies skipped over come back first, in the order they arrived.
                held.extendleft(reversed(skipped))
            payload = reassembler.payload()
            self.metrics.histogram(self._prefix + "receive.chunk_count").set(reassembler.chunk_count)
        with self.metrics.timer(self._prefix + "receive.deserialize"):
            message = self.core.serializer_for(content_type).buffer_to_dict(payload)
        try:
            return check_envelope(message, time.time(), self.service_name)
        except MessageReceiveTimeout:
            self.metrics.counter(self._prefix + "receive.error.message_expired").increment()
            raise
