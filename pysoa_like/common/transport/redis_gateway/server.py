"""The Redis Gateway server transport: pop requests from ``pysoa:service.<name>``, push replies to ``reply_to``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis

from pysoa_like.common.constants import ERROR_CODE_DEAD_LETTERED, ERROR_CODE_WORKER_DIED
from pysoa_like.common.errors import Error
from pysoa_like.common.fields import ClassConfigurationSchema
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.transport.base import ReceivedMessage, ServerTransport
from pysoa_like.common.transport.errors import (
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
)
from pysoa_like.common.transport.redis_gateway._delivery import AtLeastOnceDelivery, Held
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway._liveness_key import WorkerWatch
from pysoa_like.common.transport.redis_gateway._request_reader import RejectedRequest, RequestMeta, RequestReader
from pysoa_like.common.transport.redis_gateway._settings_schema import (
    RedisServerTransportSchema,
    check_transport_kwargs,
)
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import (
    OutgoingMessage,
    build_envelope,
    check_message_size,
    compute_expiry,
    frame_unjoined,
    should_chunk,
    should_log_oversized,
    split_into_chunks,
    validate_chunk_settings,
)
from pysoa_like.common.types import JobResponse, job_response_to_dict
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
from pysoa_like.core.delivery import (
    ClaimVerdict,
    DeliveryOptions,
    dead_lettered_message,
    decode_finished,
    interrupted_message,
)
from pysoa_like.core.keys import queue_key, request_queue_name
from pysoa_like.core.message import parse_client_version_checked, suppress_response_requested
from pysoa_like.core.worker_watch import WATCH_META_KEY

__all__ = ["RedisServerTransport"]

_logger = logging.getLogger("pysoa_like.transport")
# Below this much time left in a receive call, skipping a bad message ends the call (as a timeout).
_MINIMUM_REMAINING_SECONDS = 0.01


@ClassConfigurationSchema.provider(RedisServerTransportSchema)
class RedisServerTransport(ServerTransport):
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
        self._receive_queue_name = request_queue_name(service_name)
        self._receive_key = queue_key(self._receive_queue_name)
        self._prefix = self.core.prefix
        self._reader = RequestReader(self.core, self.send_response_message)
        self._watch = WorkerWatch(self.core)
        self._delivery: AtLeastOnceDelivery | None = None

    def enable_at_least_once(self, options: DeliveryOptions, is_idempotent: Callable[[str], bool]) -> None:
        """Deliver requests at least once (the server setting ``delivery: "at_least_once"``; see ``docs/delivery.rst``).

        Each request is moved into this worker's in-progress list and removed only after its reply was pushed;
        the requests of workers that stopped advertising are delivered again. Call before the first receive.

        Args:
            options: The delivery settings.
            is_idempotent: Whether running the named action twice for one request is safe; jobs with any other
                action are claimed by request id, never run twice, and a redelivery is answered with the kept reply.

        Raises:
            ValueError: The service name cannot be used (it contains a brace).
        """
        self._delivery = AtLeastOnceDelivery(self.core, options, is_idempotent)

    def stop_at_least_once(self) -> None:
        """Acknowledge what was answered, give back the rest and stop advertising this worker (when it stops)."""
        delivery = self._delivery
        if delivery is not None:
            self.core.settle_deferred()
            delivery.stop(self._answer_dead_lettered)

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
            try:
                received = self._reader.read(raw)
            except RejectedRequest:
                timeout = self._time_left(deadline, "bad messages were skipped")
                continue
            meta = received.meta
            # Most requests are not watched, and then no key is held either: nothing to begin or end.
            if self._watch.held or (meta is not None and meta.get(WATCH_META_KEY) is True):
                self._watch.begin(meta, received.body)
            return received

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
                        message = self._reader.read(raw)
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

    def _receive_at_least_once(self, delivery: AtLeastOnceDelivery, timeout: float) -> ReceivedMessage:
        """:meth:`receive_request_message` with at-least-once delivery (see :mod:`._delivery`)."""
        deadline = time.monotonic() + timeout
        with self.metrics.timer(self._prefix + "receive"):
            delivery.before_take(self._answer_dead_lettered)
            while True:
                held, raw = delivery.take(timeout)
                try:
                    received = self._reader.read(raw)
                except RejectedRequest:
                    delivery.finish(held)  # dealt with (answered where possible)
                    timeout = self._time_left(deadline, "bad messages were skipped")
                    continue
                except MessageReceiveTimeout:
                    delivery.finish(held)  # expired: dropped
                    raise
                meta = received.meta if received.meta is not None else {}
                body = received.body
                if isinstance(meta, RequestMeta):
                    meta.delivery = held
                if not isinstance(body, dict) or suppress_response_requested(body.get("control")):
                    held.answered = True  # nothing will be sent back
                if not delivery.needs_claim(body) or self._claimed(delivery, held, received.request_id, meta, body):
                    return received
                timeout = self._time_left(deadline, "requests answered without running or given back")

    def _time_left(self, deadline: float, skipped: str) -> float:
        """What is left of a receive after skipping a message; a ``MessageReceiveTimeout`` when nothing is."""
        timeout = deadline - time.monotonic()
        if timeout < _MINIMUM_REMAINING_SECONDS:
            raise MessageReceiveTimeout(f"No valid request for service {self.service_name} ({skipped})") from None
        return timeout

    def _claimed(
        self, delivery: AtLeastOnceDelivery, held: Held, request_id: Any, meta: dict[str, Any], body: Any
    ) -> bool:
        """Claim a non-idempotent job; False when it must not run here (answered, or running elsewhere)."""
        try:
            claim = delivery.claim(held, meta.get("reply_to"), request_id, meta.get("__expiry__"))
        except (redis.RedisError, MessageSendError) as exc:
            # Held, unanswered: given back (counted) before the next take.
            raise MessageReceiveError(f"Redis error claiming a request of service {self.service_name}: {exc}") from exc
        verdict = claim.verdict
        if verdict is ClaimVerdict.RUN:
            return True
        if verdict is ClaimVerdict.BUSY:
            delivery.give_back(held)
            return False
        self.metrics.counter(self._prefix + "delivery." + verdict.value).increment()
        if verdict is ClaimVerdict.DONE:
            try:
                messages, expiry = decode_finished(claim.state or b"")
            except ValueError as exc:
                _logger.error("Could not read the kept reply of request %r: %s", request_id, exc)
                return True
            try:
                # Pushed again as it was: the same bytes the caller would have received the first time.
                self.core.send_reply(str(meta.get("reply_to")), messages, expiry)
            except MessageSendError:
                return False  # logged; held, unanswered: given back (counted) before the next take
        else:
            _logger.error(
                "Request %r of service %s was not run again: its worker (%s) died while running it, and its actions "
                "are not declared idempotent",
                request_id,
                self.service_name,
                claim.holder,
            )
            error = Error(code=ERROR_CODE_WORKER_DIED, message=interrupted_message(), is_caller_error=False)
            self._answer_error(request_id, meta, body, error)
        held.answered = True
        delivery.finish(held)
        return False

    def _answer_error(self, request_id: Any, meta: dict[str, Any], body: Any, error: Error) -> None:
        """Answer a request with one job-level error, in its protocol version and serializer (if it wants a reply)."""
        if isinstance(body, dict) and suppress_response_requested(body.get("control")):
            return
        client_version, _ = parse_client_version_checked(meta)
        response = job_response_to_dict(JobResponse(errors=[error]), client_version)
        try:
            self.send_response_message(request_id, meta, response)
        except Exception as exc:
            _logger.error("Could not send a %s error to request %r: %s", error.code, request_id, exc)

    def _answer_dead_lettered(self, raw: RawMessage) -> None:
        """Answer the caller of a dead-lettered request with a ``DEAD_LETTERED`` job error (when it still waits)."""
        try:
            received = self._reader.read(raw)
        except (RejectedRequest, MessageReceiveTimeout):
            return  # bad (dealt with) or expired: nobody to answer
        delivery = self._delivery
        max_deliveries = delivery.options.max_deliveries if delivery is not None else 0
        message = dead_lettered_message(max_deliveries)
        error = Error(code=ERROR_CODE_DEAD_LETTERED, message=message, is_caller_error=False)
        self._answer_error(received.request_id, received.meta or {}, received.body, error)

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
        prefix = self._prefix
        metrics = self.metrics
        core = self.core
        expiry = compute_expiry(time.time(), core.message_expiry_in_seconds)
        envelope = build_envelope(request_id, meta, body, expiry.envelope_expiry)
        payload = core.serialized(serializer, envelope)
        size = len(payload)
        mime_type = serializer.mime_type or ""
        try:
            check_message_size(size, self.maximum_message_size_in_bytes)
            chunked = should_chunk(size, self.chunk_messages_larger_than_bytes, version)
        except Exception:
            metrics.counter(prefix + "send.error.message_too_large").increment()
            raise
        if should_log_oversized(size, core.log_messages_larger_than_bytes):
            core.log_oversized(size, request_id, "from")
        messages: Sequence[OutgoingMessage]
        if chunked:
            messages = split_into_chunks(payload, mime_type, self.chunk_messages_larger_than_bytes)
            metrics.histogram(prefix + "send.chunk_count").set(len(messages))
        else:
            messages = [frame_unjoined(payload, mime_type, version)]
        held = getattr(meta, "delivery", None)
        if held is None:
            # Redis' acknowledgement is read during the next receive (or flush_responses): one wait fewer per job.
            core.send_reply(reply_to, messages, expiry.redis_expiry_seconds)
        else:
            self._send_held(held, reply_to, messages, expiry.redis_expiry_seconds)

    def hold_many_requests(self) -> None:
        """A concurrent worker holds several requests at once: each watched request keeps its liveness key until
        its own reply is pushed (not only until the next request is taken), and at-least-once delivery keeps
        each request until the worker is done with it (:meth:`request_done`)."""
        self._watch.exclusive = False
        if self._delivery is not None:
            self._delivery.hold_many()

    def request_done(self, meta: dict[str, Any]) -> None:
        """A concurrent worker is done with a request (answered or not), called from its replying thread.

        With at-least-once delivery, an answered request is removed from the in-progress list once its reply's
        push is confirmed (:meth:`flush_responses`); an unanswered one goes back on the queue, its failed delivery
        counted (or to the dead-letter list, its caller told).
        """
        held = getattr(meta, "delivery", None)
        delivery = self._delivery
        if held is not None and delivery is not None:
            delivery.release(held, self._answer_dead_lettered)

    def _send_held(self, held: Held, reply_to: str, messages: Sequence[OutgoingMessage], expiry: int) -> None:
        """Push the reply of a request taken at least once: kept first when its job is not idempotent (in the push's
        write when the reply list is on the request's master)."""
        delivery = self._delivery
        before = delivery.keep_finished(held, messages, expiry) if delivery is not None else None
        self.core.send_reply(reply_to, messages, expiry, before=before)
        held.answered = True

    def flush_responses(self) -> None:
        """Read Redis' replies to every response pushed so far, retrying (or logging) any that failed.

        Responses are pushed without waiting for Redis' acknowledgement, which is read during the next
        receive; the server calls this when it stops, so that no failed push goes unreported.
        """
        self.core.settle_deferred()
        if self._delivery is not None:
            self._delivery.settled()
