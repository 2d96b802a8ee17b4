"""The Redis Gateway client transport: push requests to a service's list, pop replies from this thread's list.

This module holds what a call runs (the send, the receive and the reply's decoding); the rest of
:class:`RedisClientTransport` is in its bases: a parallel call's batched sends (:mod:`._request_batches`), the
watch over the workers of its requests (:mod:`._dead_workers`), chunked replies (:mod:`._chunked_replies`) and the
replies it drops (:mod:`._dropped_replies`).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.fields import ClassConfigurationSchema
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import AsyncClientTransport, ClientTransport, ReceivedMessage
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
)
from pysoa_like.common.transport.redis_gateway._call_timeout import call_timeout
from pysoa_like.common.transport.redis_gateway._chunked_replies import ChunkedReplies
from pysoa_like.common.transport.redis_gateway._dead_workers import DeadWorkerWatch
from pysoa_like.common.transport.redis_gateway._dropped_replies import DroppedReplies
from pysoa_like.common.transport.redis_gateway._lanes import READ_MARGIN_SECONDS, RawMessage
from pysoa_like.common.transport.redis_gateway._request_batches import RequestBatches
from pysoa_like.common.transport.redis_gateway._settings_schema import RedisTransportSchema, check_transport_kwargs
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import (
    OutgoingMessage,
    make_reply_to,
    new_client_id,
)
from pysoa_like.core.constants import (
    DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT,
    DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT,
    DEFAULT_MAXIMUM_REPLY_BYTES,
    DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
    DEFAULT_PROTOCOL_VERSION,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_FULL_RETRIES,
    DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
    ProtocolVersion,
)
from pysoa_like.core.keys import new_reply_queue_suffix, queue_key, request_queue_name
from pysoa_like.core.message import (
    REPLY_NONCE_META_KEY,
    DroppedReply,
    PendingReplies,
    ReplyChunk,
    batch_pause,
    decode_reply,
    envelope_to_send,
    frame_for_sending,
    new_reply_nonce,
    suppress_response_requested,
)
from pysoa_like.core.worker_watch import WATCH_META_KEY, WatchedRequests, worker_key

__all__ = ["RedisClientTransport"]

# How long after a request's expiry its reply is still awaited (a reply lives 60 seconds by default).
_REPLY_GRACE_SECONDS = 70.0


class _ThreadState(threading.local):
    """Per-thread state: this thread's reply queue (named when the thread first uses the transport) and the
    replies it still waits for."""

    def __init__(self, require_nonce: bool, service_name: str, client_id: str) -> None:
        self.reply_to = make_reply_to(service_name, client_id, new_reply_queue_suffix())
        # The Redis key of reply_to.
        self.reply_key = queue_key(self.reply_to)
        self.pending = PendingReplies(require_nonce)
        # Replies already popped (drained with another one, or skipped while reassembling a chunked reply),
        # returned by the next receives.
        self.held: collections.deque[RawMessage] = collections.deque()
        # Requests whose worker is watched (detect_dead_workers).
        self.watched = WatchedRequests()
        # While a send batch is open: (request_id, framed message, Redis expiry, awaits a reply, by when Redis must
        # have taken the push: the call's time plus the read margin).
        self.batch: list[tuple[int, OutgoingMessage, int, bool, float]] | None = None
        # The timeout of the receive announced to follow the next send (receive_follows), if any.
        self.receive_next: float | None = None
        # The request pushed together with the wait for its reply, until a receive has read Redis' answer to it.
        self.sent_with_wait: int | None = None


@ClassConfigurationSchema.provider(RedisTransportSchema)
class RedisClientTransport(RequestBatches, DeadWorkerWatch, ChunkedReplies, DroppedReplies, ClientTransport):
    """Sends job requests to ``pysoa:service.<name>`` and receives replies on a per-thread reply list.

    The reply list is ``pysoa:service.<name>.<client id>!<thread key>`` (one per transport instance and thread;
    the client id and the thread key are random, so no reply list can be guessed from another), so threads sharing
    a transport never see each other's replies. A thread accepts a reply only if it waits for its request id and
    the reply echoes the random nonce its request carried (``meta.reply_nonce``); foreign, forged, duplicate,
    expired and malformed replies are dropped (counted, and logged on ``pysoa_like.transport``) while the receive
    goes on waiting until its timeout. Every keyword argument is optional except ``backend_type``; PySOA 1.4.9
    settings dicts work unchanged.

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
        maximum_reply_size_in_bytes: The most bytes read for one chunked reply, all chunks and their framing
            together (default 100 MiB); a bigger one is dropped.
        require_reply_nonce: Refuse replies that do not echo their request's nonce (default True). PySOA 1.4.9
            servers echo the whole request meta, nonce included; False also accepts replies without one (a
            server that rebuilds the reply meta), at the price of the protection against forged replies.
        detect_dead_workers: Have the worker that takes each request keep a liveness key for it, and tell a
            caller within about four seconds when that worker dies before replying (a ``WORKER_DIED`` job
            error) instead of letting it wait out its timeout (default False: it costs the server three small
            commands per request).

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
        maximum_reply_size_in_bytes: int = DEFAULT_MAXIMUM_REPLY_BYTES,
        require_reply_nonce: bool = True,
        detect_dead_workers: bool = False,
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
            "maximum_reply_size_in_bytes": maximum_reply_size_in_bytes,
            "require_reply_nonce": require_reply_nonce,
            "detect_dead_workers": detect_dead_workers,
        }
        check_transport_kwargs(RedisTransportSchema, settings, type(self).__name__)
        self.client_id = new_client_id()
        self.protocol_version = ProtocolVersion(protocol_version)
        self.maximum_message_size_in_bytes = maximum_message_size_in_bytes
        self.maximum_reply_size_in_bytes = maximum_reply_size_in_bytes
        self.require_reply_nonce = require_reply_nonce
        self.detect_dead_workers = detect_dead_workers
        self.core = RedisTransportCore.from_settings(service_name, self.metrics, "client", settings)
        self._send_queue_name = request_queue_name(service_name)
        self._send_key = queue_key(self._send_queue_name)
        self._prefix = self.core.prefix
        # (Naming this thread's reply queue validates the service name for key use: it must not contain "!".)
        self._state = _ThreadState(require_reply_nonce, service_name, self.client_id)
        # How the core deserializes a reply: the serializer's own, or timed when the recorder records anything.
        self._deserialize = self.core.deserialized if self.core.measured else None

    @classmethod
    def asyncio_transport(
        cls, service_name: str, metrics: MetricsRecorder | None = None, **kwargs: Any
    ) -> AsyncClientTransport | None:
        """The asyncio twin, with the same settings (:mod:`pysoa_like.common.transport.redis_gateway.asyncio_client`).

        A subclass has none unless it defines its own: its changes would not be in the asyncio driver.
        """
        if cls is not RedisClientTransport:
            return None
        from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport

        return AsyncRedisClientTransport(service_name, metrics, **kwargs)

    @property
    def receive_timeout_in_seconds(self) -> float:
        """How long a receive waits when the call gives no timeout (the ``receive_timeout_in_seconds`` setting)."""
        return self.core.receive_timeout_in_seconds

    @property
    def requests_outstanding(self) -> int:
        """How many replies the current thread still waits for; below 1, a receive returns at once."""
        return len(self._state.pending)

    def _reply_to(self) -> str:
        """This thread's reply queue name."""
        return self._state.reply_to

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
        state = self._state
        receive_next, state.receive_next = state.receive_next, None
        # Only a lone request of a thread that waits for nothing else is pushed with the wait for its reply.
        wait_with_push = (
            receive_next
            if receive_next is not None and not state.pending and not state.held and not self.detect_dead_workers
            else None
        )
        try:
            if self.core.measured:
                with self.metrics.timer(self._prefix + "send"):
                    awaited = self._send(state, request_id, meta, body, message_expiry_in_seconds, wait_with_push)
            else:
                awaited = self._send(state, request_id, meta, body, message_expiry_in_seconds, wait_with_push)
        except BaseException:
            state.pending.forget(request_id)
            raise
        if awaited is None:
            state.pending.forget(request_id)
        elif self.detect_dead_workers:
            state.watched.watch(request_id, worker_key(state.reply_to, awaited))

    def _send(
        self,
        state: _ThreadState,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None,
        wait_with_push: float | None,
    ) -> str | None:
        """:meth:`send_request_message`'s push; the nonce of the request if its reply is awaited, else ``None``
        (``wait_with_push``: the timeout of the wait for the reply to write with the push, or ``None``).

        The reply is awaited from right before the push (its nonce goes in the request; its deadline, as the push's,
        counts from the end of the serialization), so that the path of a call does not come back to the core's
        ``PendingReplies`` after the driver; the caller forgets it if the push fails or the request asks for no
        reply.
        """
        prefix = self._prefix
        metrics = self.metrics
        core = self.core
        request_meta = dict(meta)
        request_meta["reply_to"] = state.reply_to
        nonce = request_meta[REPLY_NONCE_META_KEY] = new_reply_nonce()
        if self.detect_dead_workers:
            request_meta[WATCH_META_KEY] = True
        envelope, redis_expiry = envelope_to_send(
            request_id, request_meta, body, time.time(), core.message_expiry_in_seconds, message_expiry_in_seconds
        )
        awaited = not suppress_response_requested(body.get("control") if isinstance(body, dict) else None)
        serializer = core.default_serializer
        payload = core.serialized(serializer, envelope) if core.measured else serializer.dict_to_blob(envelope)
        try:
            messages, oversized, _chunked = frame_for_sending(
                payload,
                serializer.mime_type or "",
                self.protocol_version,
                self.maximum_message_size_in_bytes,
                core.log_messages_larger_than_bytes,
            )
        except MessageTooLarge:
            metrics.counter(prefix + "send.error.message_too_large").increment()
            raise
        if oversized:
            core.log_oversized(len(payload), request_id, "to")
        message = messages[0]
        # The call's times start once the request is serialized (a payload of several MiB takes a while).
        now = time.monotonic()
        lifetime = message_expiry_in_seconds or core.message_expiry_in_seconds
        state.pending.expect(request_id, nonce, now + lifetime + _REPLY_GRACE_SECONDS, now)
        # Redis must answer the push within the call's time (plus the margin), however long socket_timeout.
        budget = (message_expiry_in_seconds or core.receive_timeout_in_seconds) + READ_MARGIN_SECONDS
        if state.batch is not None:
            state.batch.append((request_id, message, redis_expiry, awaited, now + budget))
        elif (
            wait_with_push is not None
            and awaited
            and core.send_then_pop(self._send_key, message, redis_expiry, state.reply_key, wait_with_push, now + budget)
        ):
            # Whether Redis took the push is read by the receive; a refusal there forgets this request.
            state.sent_with_wait = request_id
        else:
            core.send_messages(self._send_queue_name, [message], redis_expiry, now + budget)
        return nonce if awaited else None

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        """Have the next send of this thread also start the wait for its reply (one write, one wait).

        Only a lone request of a thread that waits for nothing else goes this way (see
        :meth:`RedisTransportCore.send_then_pop`); a refused push is then found, and made again or raised as
        ``MessageSendError``, by the receive.
        """
        if receive_timeout_in_seconds is None:
            self._state.receive_next = None
        else:
            self._state.receive_next = receive_timeout_in_seconds or self.core.receive_timeout_in_seconds

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        """Receive the next reply to a request this thread sent and still waits for.

        Replies that are not that (see the class docstring) are dropped on the way, and the wait goes on.

        Args:
            receive_timeout_in_seconds: How long to wait in all (fractions work), chunks of a chunked reply
                included; None or 0 for ``receive_timeout_in_seconds``.

        Returns:
            The reply, or ``ReceivedMessage(None, None, None)`` without touching Redis when this thread
            waits for no reply.

        Raises:
            MessageReceiveTimeout: No reply for this thread arrived in time.
            MessageReceiveError: Redis failed.
            InvalidMessageError: The reply to one of this thread's requests (its id and nonce match) is unusable:
                its body is not a map.
        """
        state = self._state
        awaited = len(state.pending)
        if not awaited and not state.held:
            return ReceivedMessage(None, None, None)
        timeout = receive_timeout_in_seconds or self.core.receive_timeout_in_seconds
        if self.core.measured:
            with self.metrics.timer(self._prefix + "receive"):
                return self._receive(state, timeout, awaited)
        return self._receive(state, timeout, awaited)

    def _receive(self, state: _ThreadState, timeout: float, awaited: int) -> ReceivedMessage:
        """:meth:`receive_response_message` once it is known that this thread awaits a reply (``awaited``: how many
        replies it awaits)."""
        pending = state.pending
        deadline = time.monotonic() + timeout
        queue_name = state.reply_to
        reply_key = state.reply_key
        wait = timeout
        while True:
            held = state.held
            if held:
                raw = held.popleft()
            else:
                try:
                    popped_or_died = self._pop(queue_name, reply_key, wait, awaited)
                except MessageReceiveTimeout:
                    raise call_timeout(self.core, self.service_name, self._send_queue_name, timeout) from None
                if isinstance(popped_or_died, ReceivedMessage):
                    return popped_or_died
                raw = popped_or_died
            # The core decodes it straight from the lane's bytes; only a chunked reply needs more of the driver.
            try:
                try:
                    received = decode_reply(
                        raw, self.core.serializers, time.time(), self.service_name, pending, self._deserialize
                    )
                except ReplyChunk as chunk:
                    received = self._chunked_reply(chunk.parsed, len(raw), queue_name, deadline)
            except DroppedReply as dropped:
                self._dropped(dropped)  # raises for the awaited call an expired or unusable reply answers
            else:
                if self.detect_dead_workers and state.watched:
                    state.watched.forget(received.request_id)
                return received
            awaited = len(pending)
            if not awaited and not state.held:
                raise MessageReceiveTimeout(
                    f"No reply for service {self.service_name}: every reply received was dropped"
                )
            wait = deadline - time.monotonic()
            if wait <= 0 and not state.held:
                raise call_timeout(self.core, self.service_name, self._send_queue_name, timeout)

    def _pop(self, queue_name: str, reply_key: str, wait: float, awaited: int) -> RawMessage | ReceivedMessage:
        """Pop the next reply (taking every one already there, up to ``awaited``, in the same round trip), watching
        workers if asked.

        Raises:
            MessageReceiveTimeout: Nothing arrived within ``wait``.
            MessageSendError: The request pushed with this wait (see :meth:`receive_follows`) stayed refused.
        """
        state = self._state
        if self.detect_dead_workers and state.watched:
            return self._pop_watching(queue_name, wait)
        sent_with_wait = state.sent_with_wait
        if sent_with_wait is not None:
            state.sent_with_wait = None  # Redis' answer to that push is read by this pop, whatever it is
        elif awaited > 1:  # (a serial call never pauses)
            pause = batch_pause(awaited)
            if pause:
                time.sleep(pause)  # a busy reply list: the pop then takes many replies at once
        try:
            popped = self.core.take_messages(reply_key, wait, awaited - 1)[1]
        except MessageSendError:
            if sent_with_wait is not None:
                # The push sent with this wait stayed refused: no reply can come, so it is not awaited (the
                # thread waits for nothing and its next call may send with its wait again).
                state.pending.forget(sent_with_wait)
            raise
        if len(popped) > 1:
            state.held.extend(popped[1:])
        return popped[0]
