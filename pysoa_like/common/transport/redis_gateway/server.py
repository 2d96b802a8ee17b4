"""The Redis Gateway server transport: pop requests from ``pysoa:service.<name>``, push replies to ``reply_to``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.fields import ClassConfigurationSchema
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.transport.base import ReceivedMessage, ServerTransport
from pysoa_like.common.transport.errors import (
    InvalidMessageError,
    MessageReceiveTimeout,
    MessageTooLarge,
)
from pysoa_like.common.transport.redis_gateway._at_least_once_serving import AtLeastOnceServing
from pysoa_like.common.transport.redis_gateway._delivery import AtLeastOnceDelivery
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway._liveness_key import WorkerWatch
from pysoa_like.common.transport.redis_gateway._rejected_requests import RejectedRequest, Rejections
from pysoa_like.common.transport.redis_gateway._settings_schema import (
    RedisServerTransportSchema,
    check_transport_kwargs,
)
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import (
    envelope_to_send,
    frame_for_sending,
    validate_chunk_settings,
)
from pysoa_like.core.constants import (
    DEFAULT_CHUNK_MESSAGES_LARGER_THAN_BYTES,
    DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_SERVER,
    DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER,
    DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
    DEFAULT_PROTOCOL_VERSION,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_FULL_RETRIES,
    DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
    ProtocolVersion,
)
from pysoa_like.core.keys import queue_key, request_queue_name
from pysoa_like.core.message import RequestMeta, UndecodableRequest, decode_request
from pysoa_like.core.worker_watch import WATCH_META_KEY

__all__ = ["RedisServerTransport", "RequestMeta"]

_logger = logging.getLogger("pysoa_like.transport")
# Below this much time left in a receive call, skipping a bad message ends the call (as a timeout).
_MINIMUM_REMAINING_SECONDS = 0.01


@ClassConfigurationSchema.provider(RedisServerTransportSchema)
class RedisServerTransport(AtLeastOnceServing, ServerTransport):
    """Receives job requests from ``pysoa:service.<name>`` and sends each reply to the request's ``reply_to``.

    Replies use the request's protocol version and serializer. With ``chunk_messages_larger_than_bytes`` set,
    replies to version 3 requests above it are split into chunks, all pushed in one atomic step.

    Bad messages never escape :meth:`receive_request_message`: each is logged on ``pysoa_like.transport``,
    counted (``server.transport.redis_gateway.receive.error.<reason>``), answered with a job-level error where
    its reply queue and request id are known, and skipped; the call then waits for the next message for what is
    left of ``receive_timeout_in_seconds`` and raises ``MessageReceiveTimeout`` when that runs out, so the
    server loop performs its idle actions and carries on.

    Args:
        service_name: The service served.
        metrics: The metrics recorder (metric names start with ``server.transport.redis_gateway.``).
        instance_index: The worker's fork id (1-based).
        backend_type: ``"redis.standard"`` or ``"redis.sentinel"``.
        backend_layer_kwargs: The backend's settings (see :class:`RedisClientTransport`).
        message_expiry_in_seconds: Lifetime of replies (default 60).
        queue_capacity: Refuse to push to a reply list holding this many messages (default 10000).
        queue_full_retries: Accepted for settings shared with clients and PySOA; a reply to a full reply list is
            not retried (it is counted and logged), so that no client can hold a worker.
        receive_timeout_in_seconds: How long a receive waits before reporting idleness (default 5).
        default_serializer_config: The serializer for requests without a known content type (default msgpack).
        maximum_message_size_in_bytes: The largest serialized reply (default 256000).
        log_messages_larger_than_bytes: Log a WARNING for larger replies; 0 disables (default 256000).
        chunk_messages_larger_than_bytes: Chunk replies larger than this (at least 102400, and the maximum
            size must be at least 5 times it); -1 disables (default).
        protocol_version: Accepted for settings shared with clients; replies always mirror the request.

    Raises:
        ValueError: If a setting is invalid; the message names the key.
    """

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder | None = None,
        instance_index: int = 1,
        backend_type: str | None = None,
        backend_layer_kwargs: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float = DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        queue_full_retries: int = DEFAULT_QUEUE_FULL_RETRIES,
        receive_timeout_in_seconds: float = DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
        default_serializer_config: Mapping[str, Any] | None = None,
        maximum_message_size_in_bytes: int = DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER,
        log_messages_larger_than_bytes: int = DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_SERVER,
        chunk_messages_larger_than_bytes: int = DEFAULT_CHUNK_MESSAGES_LARGER_THAN_BYTES,
        protocol_version: int | ProtocolVersion = DEFAULT_PROTOCOL_VERSION,
    ) -> None:
        super().__init__(service_name, metrics, instance_index)
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
            "chunk_messages_larger_than_bytes": chunk_messages_larger_than_bytes,
            "protocol_version": protocol_version,
        }
        check_transport_kwargs(RedisServerTransportSchema, settings, type(self).__name__)
        try:
            validate_chunk_settings(chunk_messages_larger_than_bytes, maximum_message_size_in_bytes)
        except ValueError as exc:
            raise ValueError(f"Invalid {type(self).__name__} settings: {exc}") from exc
        self.maximum_message_size_in_bytes = maximum_message_size_in_bytes
        self.chunk_messages_larger_than_bytes = chunk_messages_larger_than_bytes
        self.protocol_version = ProtocolVersion(protocol_version)
        self.core = RedisTransportCore.from_settings(service_name, self.metrics, "server", settings)
        self.core.serve_on_own_backend()
        self._receive_queue_name = request_queue_name(service_name)
        self._receive_key = queue_key(self._receive_queue_name)
        self._prefix = self.core.prefix
        self._rejections = Rejections(self.core, self._answer_rejected)
        self._watch = WorkerWatch(self.core)
        # How the core deserializes a request: the serializer's own, or timed when the recorder records anything.
        self._deserialize = self.core.deserialized if self.core.measured else None
        self._delivery: AtLeastOnceDelivery | None = None
        # The receive timeout announced by receive_follows (None: none announced).
        self._receive_follows: float | None = None

    def receive_request_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        """Wait for the next valid request, skipping (and answering, where possible) bad ones.

        Args:
            receive_timeout_in_seconds: Wait at most this long (the server passes a short slice so that
                it notices a shutdown signal quickly); ``None`` for the transport's setting.

        Returns:
            The request; its ``meta`` is a dict that also remembers the request's framing, so pass it back to
            :meth:`send_response_message` as received.

        Raises:
            MessageReceiveTimeout: No valid request arrived within ``receive_timeout_in_seconds``, or the one
                that arrived had expired.
            MessageReceiveError: Redis failed.
        """
        core = self.core
        timeout = core.receive_timeout_in_seconds if receive_timeout_in_seconds is None else receive_timeout_in_seconds
        if self._delivery is not None:
            return self._receive_at_least_once(self._delivery, timeout)
        if core.measured:
            with self.metrics.timer(self._prefix + "receive"):
                return self._receive_one(timeout)
        return self._receive_one(timeout)

    def _receive_one(self, timeout: float) -> ReceivedMessage:
        """:meth:`receive_request_message` with at-most-once delivery (the default)."""
        core = self.core
        deadline = time.monotonic() + timeout
        while True:
            raw = core.take_messages(self._receive_key, timeout)[1][0]
            # The core decodes it straight from the lane's bytes (what _read does, without its call on every request).
            try:
                received = decode_request(raw, core.serializers, time.time(), self.service_name, self._deserialize)
            except (UndecodableRequest, MessageReceiveTimeout) as problem:
                self._rejections.undecodable(problem, raw)  # raises the expiry again
                timeout = self._time_left(deadline, "bad messages were skipped")
                continue
            meta: RequestMeta = received.meta  # type: ignore[assignment]  # decode_request's
            if meta.client_version_problem is not None:
                self._rejections.malformed_client_version(received.request_id, meta.client_version_problem)
            # Most requests are not watched, and then no key is held either: nothing to begin or end.
            if self._watch.held or meta.get(WATCH_META_KEY) is True:
                self._watch.begin(meta, received.body)
            return received

    def _read(self, raw: RawMessage) -> ReceivedMessage:
        """Decode one raw request (:func:`~pysoa_like.core.message.decode_request`), dealing with a bad one.

        Returns:
            The request; its meta is a :class:`RequestMeta`.

        Raises:
            MessageReceiveTimeout: The request had expired (it is dropped; the server treats this as idle).
            RejectedRequest: The message was bad and has been dealt with (see :class:`Rejections`).
        """
        core = self.core
        try:
            received = decode_request(raw, core.serializers, time.time(), self.service_name, self._deserialize)
        except (UndecodableRequest, MessageReceiveTimeout) as problem:
            self._rejections.undecodable(problem, raw)
            raise RejectedRequest(problem) from problem
        meta: RequestMeta = received.meta  # type: ignore[assignment]  # decode_request's
        if meta.client_version_problem is not None:
            self._rejections.malformed_client_version(received.request_id, meta.client_version_problem)
        return received

    def _answer_rejected(
        self,
        request_id: Any,
        meta: dict[str, Any],
        version: ProtocolVersion,
        serializer: Serializer,
        client_version: tuple[int, ...],
        body: dict[str, Any],
    ) -> None:
        """Send the answer to a rejected request in the protocol version and serializer it was read with."""
        self.send_response_message(request_id, RequestMeta(meta, version, serializer, client_version), body)

    def receive_request_messages(
        self, max_count: int, receive_timeout_in_seconds: float | None = None
    ) -> list[ReceivedMessage]:
        """Like :meth:`receive_request_message`, also taking up to ``max_count - 1`` more requests already waiting,
        in the same round trip: what a concurrent worker with several free places asks for.

        Returns:
            One or more valid requests, oldest first (bad ones skipped and answered, expired ones dropped).

        Raises:
            MessageReceiveTimeout: No valid request arrived within ``receive_timeout_in_seconds``.
            MessageReceiveError: Redis failed.
        """
        if max_count <= 1 or getattr(self, "_delivery", None) is not None:
            # At-least-once delivery (issue 17) moves requests one at a time into the worker's in-progress list.
            return [self.receive_request_message(receive_timeout_in_seconds)]
        core = self.core
        timeout = core.receive_timeout_in_seconds if receive_timeout_in_seconds is None else receive_timeout_in_seconds
        deadline = time.monotonic() + timeout
        with self.metrics.timer(self._prefix + "receive"):
            while True:
                received: list[ReceivedMessage] = []
                for raw in core.pop_messages(self._receive_queue_name, timeout, drain=max(max_count - 1, 0)):
                    try:
                        message = self._read(raw)
                    except (RejectedRequest, MessageReceiveTimeout):
                        continue  # answered where possible, or expired: the others still count
                    meta = message.meta
                    if self._watch.held or (meta is not None and meta.get(WATCH_META_KEY) is True):
                        self._watch.begin(meta, message.body)
                    received.append(message)
                if received:
                    return received
                timeout = deadline - time.monotonic()
                if timeout < _MINIMUM_REMAINING_SECONDS:
                    raise MessageReceiveTimeout(
                        f"No valid request for service {self.service_name} (bad or expired messages were skipped)"
                    )

    def _time_left(self, deadline: float, skipped: str) -> float:
        """What is left of a receive after skipping a message; a ``MessageReceiveTimeout`` when nothing is."""
        timeout = deadline - time.monotonic()
        if timeout < _MINIMUM_REMAINING_SECONDS:
            raise MessageReceiveTimeout(f"No valid request for service {self.service_name} ({skipped})") from None
        return timeout

    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        """Send a reply to the request's ``reply_to`` list, in the request's protocol version and serializer.

        Args:
            request_id: The request's id.
            meta: The request's meta as received (echoed back with a fresh ``__expiry__``).
            body: The job response dict.

        Raises:
            InvalidMessageError: The meta has no ``reply_to``.
            MessageTooLarge: The serialized reply exceeds ``maximum_message_size_in_bytes``, or needs chunks
                that a version 1 or 2 client cannot read.
            InvalidField: The body cannot be serialized.
            MessageSendError: Redis could not be reached, even on a new connection (the reply is lost; this is
                logged). A reply Redis refuses (a full reply list, a key that is not a list, an ACL refusal) is
                counted and logged on ``pysoa_like.transport`` instead, never raised: it is that request's
                problem, not the worker's. Redis' answer is read later (see :meth:`flush_responses`).
        """
        prefix = self._prefix
        metrics = self.metrics
        reply_to = meta.get("reply_to")
        if not isinstance(reply_to, str) or not reply_to:
            metrics.counter(prefix + "send.error.missing_reply_queue").increment()
            raise InvalidMessageError("Missing reply queue name")
        core = self.core
        if isinstance(meta, RequestMeta):
            version, serializer = meta.protocol_version, meta.serializer
        else:
            version, serializer = self.protocol_version, core.default_serializer
        if core.measured:
            with metrics.timer(prefix + "send"):
                self._push_reply(request_id, meta, body, reply_to, version, serializer)
        else:
            self._push_reply(request_id, meta, body, reply_to, version, serializer)
        # A watched request's liveness key goes after its reply (a client seeing it gone finds the reply).
        if self._watch.held:
            self._watch.end(meta)

    def response_suppressed(self, meta: dict[str, Any]) -> None:
        """The server sends no response to a request (its job asked for none, maybe only once it ran): the request
        is done all the same. Its liveness key, if its client watches it, is no longer refreshed and expires a
        little after the request's deadline (its client, still waiting, times out rather than hear that the worker
        died); with at-least-once delivery it counts as answered, and is removed from the in-progress list instead
        of being given back."""
        if self._watch.held:
            self._watch.release(meta, getattr(meta, "deadline", None))
        held = getattr(meta, "delivery", None)
        if held is not None:
            held.answered = True

    def _push_reply(
        self,
        request_id: Any,
        meta: dict[str, Any],
        body: dict[str, Any],
        reply_to: str,
        version: ProtocolVersion,
        serializer: Serializer,
    ) -> None:
        """:meth:`send_response_message`'s work: the envelope, serialized, framed (or chunked) and pushed."""
        reply_key = queue_key(reply_to)  # (made here, before the core's calls, not by the core between its own)
        prefix = self._prefix
        metrics = self.metrics
        core = self.core
        envelope, redis_expiry = envelope_to_send(request_id, meta, body, time.time(), core.message_expiry_in_seconds)
        payload = core.serialized(serializer, envelope) if core.measured else serializer.dict_to_blob(envelope)
        try:
            messages, oversized, chunked = frame_for_sending(
                payload,
                serializer.mime_type or "",
                version,
                self.maximum_message_size_in_bytes,
                core.log_messages_larger_than_bytes,
                self.chunk_messages_larger_than_bytes,
            )
        except MessageTooLarge:
            metrics.counter(prefix + "send.error.message_too_large").increment()
            raise
        if oversized:
            core.log_oversized(len(payload), request_id, "from")
        if chunked:
            metrics.histogram(prefix + "send.chunk_count").set(len(messages))
        held = getattr(meta, "delivery", None)
        if held is not None:
            self._send_held(held, reply_to, messages, redis_expiry)
            return
        # The push goes with the next receive's BLPOP when a receive was announced to follow (receive_follows) and
        # nothing else is to use the connection in between (a watched request's liveness key is deleted after its
        # reply); send_reply_then_pop says False when it wrote nothing.
        wait = self._receive_follows
        if (
            wait is None
            or self._delivery is not None
            or self._watch.held
            or not core.send_reply_then_pop(reply_to, messages, redis_expiry, self._receive_key, wait, reply_key)
        ):
            # Redis' acknowledgement is read during the next receive (or flush_responses): one wait fewer per job.
            core.send_reply(reply_to, messages, redis_expiry, key=reply_key)

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        """From now on, write each reply's push with the ``BLPOP`` of the next receive (see
        :meth:`ServerTransport.receive_follows`): one write per request instead of two."""
        self._receive_follows = receive_timeout_in_seconds

    def hold_many_requests(self) -> None:
        """A concurrent worker holds several requests at once: each watched request keeps its liveness key until
        its own reply is pushed (not only until the next request is taken), and at-least-once delivery keeps
        each request until the worker is done with it (:meth:`request_done`)."""
        self._watch.exclusive = False
        if self._delivery is not None:
            self._delivery.hold_many()

    def flush_responses(self) -> None:
        """Read Redis' replies to every response pushed so far, retrying (or logging) any that failed.

        Responses are pushed without waiting for Redis' acknowledgement, which is read during the next
        receive; the server calls this when it stops, so that no failed push goes unreported.
        """
        if self._receive_follows is not None:
            self.core.return_waiting(self._receive_follows)
        self.core.settle_deferred()
        if self._delivery is not None:
            self._delivery.settled()
