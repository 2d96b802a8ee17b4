"""What the Redis client and server transports share: settings, the backend cache, serializers and the I/O.

``RedisTransportCore`` turns framed messages into Redis calls (one atomic script per message, blocking pops),
maps every Redis failure to a transport error, records PySOA's metrics and caches one backend per process and
unique ``(backend_type, backend_layer_kwargs)`` for client transports, and one for server transports.
Everything about bytes and keys comes from
:mod:`pysoa_like.common.transport.redis_gateway.protocol`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import redis

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.fields import resolve_python_path
from pysoa_like.common.metrics import MetricsRecorder, records_nothing
from pysoa_like.common.serializer import MsgpackSerializer, Serializer
from pysoa_like.common.transport.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    QueueFullSendError,
    ReceiveAuthenticationError,
)
from pysoa_like.common.transport.redis_gateway._lanes import (
    READ_MARGIN_SECONDS,
    Lane,
    PushItem,
    PushRefusedBeforeWait,
    QueueFullError,
    RawMessage,
    must_push_again,
)
from pysoa_like.common.transport.redis_gateway.backend import make_backend
from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient, CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.protocol import (
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
)
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, STANDARD_BACKEND_HINT, Redirect, SlotRing, parse_redirect
from pysoa_like.core.constants import (
    DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_FULL_RETRIES,
    DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
)
from pysoa_like.core.keys import HostRing, queue_key, queue_name_of
from pysoa_like.core.message import OutgoingMessage
from pysoa_like.core.redis_protocol import push_plan

__all__ = ["RedisTransportCore", "SerializersByType", "backend_key", "make_serializer", "serializer_named"]

_logger = logging.getLogger("pysoa_like.transport")
_oversized_logger = logging.getLogger("pysoa_like.transport.oversized_message")

# A wait cut short by a closed connection goes on on a new one if at least this much of it is left.
_MINIMUM_REMAINING_WAIT_SECONDS = 0.05

#: One message (or all the chunks of one) to push: ``(queue_name, messages, redis_expiry_seconds)``.
BatchItem = tuple[str, Sequence[OutgoingMessage], int]


def _freeze(value: Any) -> Hashable:
    """A hashable, order-insensitive (for mappings) form of a settings value, for the backend cache key."""
    if isinstance(value, Mapping):
        return ("map", frozenset((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(item) for item in value)
    try:
        hash(value)
    except TypeError:
        # An unhashable object (an SSL context, say) only matches itself.
        return ("object", id(value))
    return value  # type: ignore[no-any-return]


def backend_key(backend_type: str, backend_layer_kwargs: Mapping[str, Any]) -> Hashable:
    """What makes two transports' backends the same (equal settings share one backend, or one asyncio pool)."""
    return (backend_type, _freeze(backend_layer_kwargs))


class SerializersByType(dict[str | None, Serializer]):
    """The serializers of the ``content-type`` headers seen (``None``: no header), the default one's at hand.

    A known type is a plain lookup (``serializers[mime_type]``: no call on a message's path); an unknown one is
    resolved once (:func:`serializer_named`: the default serializer when no serializer has it) and remembered.

    Args:
        default: The transport's default serializer (for messages without a ``content-type`` too).
    """

    def __init__(self, default: Serializer) -> None:
        super().__init__({None: default})
        if default.mime_type:
            self[default.mime_type] = default
        self.default = default

    def __missing__(self, mime_type: str | None) -> Serializer:
        return serializer_named(self, self.default, mime_type)


def serializer_named(known: dict[str | None, Serializer], default: Serializer, mime_type: str | None) -> Serializer:
    """The serializer of a ``content-type`` header (``default`` when unknown), remembered in ``known`` (64 at most)."""
    serializer = known.get(mime_type)
    if serializer is None:
        try:
            serializer = Serializer.resolve_serializer(mime_type)  # type: ignore[arg-type]
        except ValueError:
            serializer = default
        if len(known) < 64:
            known[mime_type] = serializer
    return serializer


class _ThreadState(threading.local):
    """What a core keeps per thread, as lanes are per thread: a concurrent worker receives in one thread and
    replies from another, and neither may read the other's connection."""

    def __init__(self) -> None:
        #: The thread's lanes by ring slot, kept here when the backend's ring is fixed (see ``fixed_lanes``).
        self.lanes: dict[int, Lane] = {}
        #: Lanes holding deferred pushes (send_reply) whose replies are still unread, each with its ring slot.
        self.deferred: dict[Lane, int] = {}
        #: The wait a push carried (send_then_pop): ``(reply key, ring slot, lane)``.
        self.waiting: tuple[str, int, Lane] | None = None


def make_serializer(config: Mapping[str, Any] | None) -> Serializer:
    if not config:
        return MsgpackSerializer()
    serializer_class = config.get("object") or resolve_python_path(config["path"])
    serializer: Serializer = serializer_class(**(config.get("kwargs") or {}))
    return serializer


class RedisTransportCore:
    """The shared engine of :class:`RedisClientTransport` and :class:`RedisServerTransport`.

    Args:
        service_name: The service the transport talks to or serves.
        metrics: The metrics recorder.
        metrics_prefix: ``"client"`` or ``"server"``; metric names start with
            ``<metrics_prefix>.transport.redis_gateway.``.
        backend_type: ``"redis.standard"``, ``"redis.sentinel"`` or ``"redis.cluster"``.
        backend_layer_kwargs: The backend's keyword arguments (see the backend classes).
        message_expiry_in_seconds: The default lifetime of sent messages.
        queue_capacity: The send script refuses lists at least this long.
        queue_full_retries: Retries after a "queue full" refusal.
        receive_timeout_in_seconds: The default BLPOP timeout.
        default_serializer_config: ``{"path": ..., "kwargs": ...}`` of the serializer of sent requests.
        log_messages_larger_than_bytes: The oversized-message WARNING threshold (0 disables).
    """

    # One backend per (process, backend_type, backend_layer_kwargs), shared by the process's client transports (and
    # one for its server transports, see serve_on_own_backend).
    _backend_layer_cache: ClassVar[dict[Hashable, BaseRedisClient]] = {}
    _backend_cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        service_name: str,
        metrics: MetricsRecorder,
        metrics_prefix: str,
        backend_type: str,
        backend_layer_kwargs: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float = DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        queue_full_retries: int = DEFAULT_QUEUE_FULL_RETRIES,
        receive_timeout_in_seconds: float = DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
        default_serializer_config: Mapping[str, Any] | None = None,
        log_messages_larger_than_bytes: int = 0,
    ) -> None:
        self.service_name = service_name
        self.metrics = metrics
        #: Whether ``metrics`` records anything (decided once: with the no-op recorder the hot paths of the core
        #: and its transports leave their timers out).
        self.measured = not records_nothing(metrics)
        self.prefix = f"{metrics_prefix}.transport.redis_gateway."
        self.backend_type = backend_type
        self.backend_layer_kwargs: Mapping[str, Any] = dict(backend_layer_kwargs or {})
        self.message_expiry_in_seconds = message_expiry_in_seconds
        self.queue_capacity = queue_capacity
        self.queue_full_retries = queue_full_retries
        self.receive_timeout_in_seconds = receive_timeout_in_seconds
        self.log_messages_larger_than_bytes = log_messages_larger_than_bytes
        self.default_serializer: Serializer = make_serializer(default_serializer_config)
        #: The serializer of a received message's ``content-type`` (the default one when absent or unknown).
        self.serializers = SerializersByType(self.default_serializer)
        self._backend: BaseRedisClient | None = None
        #: Throttles the transport's error lines that peers can trigger (bad messages, refused replies).
        self.log_throttle = LogThrottle()
        self._thread = _ThreadState()
        self._ring: HostRing | SlotRing | None = None
        # Whether the ring has one host, so that every key is on one lane (known once _lane made the ring).
        self._one_host = False
        self._cache_key: Hashable = backend_key(backend_type, self.backend_layer_kwargs)

    @classmethod
    def from_settings(
        cls, service_name: str, metrics: MetricsRecorder, metrics_prefix: str, settings: Mapping[str, Any]
    ) -> RedisTransportCore:
        """The core of a transport whose keyword arguments (checked, by name) are ``settings``: the core takes the
        ones it uses (``backend_type`` is required), the transport keeps the others."""
        return cls(
            service_name,
            metrics,
            metrics_prefix,
            settings["backend_type"],
            settings["backend_layer_kwargs"],
            settings["message_expiry_in_seconds"],
            settings["queue_capacity"],
            settings["queue_full_retries"],
            settings["receive_timeout_in_seconds"],
            settings["default_serializer_config"],
            settings["log_messages_larger_than_bytes"],
        )

    # Backend

    @property
    def backend_layer(self) -> BaseRedisClient:
        """The backend (created on first use, then shared through the per-process cache)."""
        backend = self._backend
        if backend is None:
            backend = self._backend = self._get_backend()
        return backend

    def _get_backend(self) -> BaseRedisClient:
        key = (os.getpid(), self._cache_key)
        backend = self._backend_layer_cache.get(key)
        if backend is not None:
            return backend
        with self._backend_cache_lock:
            backend = self._backend_layer_cache.get(key)
            if backend is None:
                with self.metrics.timer(self.prefix + "backend.initialize"):
                    backend = make_backend(self.backend_type, self.backend_layer_kwargs)
                self._backend_layer_cache[key] = backend
        return backend

    def serve_on_own_backend(self) -> None:
        """Use the backend of this process's server transports, not the one its client transports share (before
        first use): a server's connections then carry nothing but its own commands, so the wait for its next
        request may go out with its reply (:meth:`send_reply_then_pop`) while a client in the same thread (a
        hook's nested call) uses its own connection meanwhile."""
        self._cache_key = ("server", self._cache_key)

    @classmethod
    def clear_backend_cache(cls) -> None:
        """Close and forget every cached backend of this process (for tests and reconfiguration)."""
        with cls._backend_cache_lock:
            backends, cls._backend_layer_cache = list(cls._backend_layer_cache.values()), {}
        for backend in backends:
            backend.close()

    def _lane(self, key: str, timer_name: str, error_prefix: str) -> tuple[int, Lane]:
        """The ring slot serving ``key`` and the thread's lane to it (see :meth:`_lane_at`).

        On a fixed ring the thread's lane is the one kept here, not looked up again: the lane's write finds a
        connection that Redis closed while it was idle and opens a new one (``Lane._ready``); with a recorder
        that records, the connection is checked here first so that the replacement is counted (``reconnect``).
        """
        ring = self._ring
        if ring is None:
            # This transport's own round-robin over the shared connections (see HostRing), or the key's slot.
            ring = self._ring = self.backend_layer.make_ring()
            self._one_host = ring.host_count == 1
        index = 0 if ring.host_count == 1 else ring.index_for(key)
        lane = self._thread.lanes.get(index)
        if lane is None:
            return self._lane_at(index, timer_name, error_prefix)
        if self.measured and lane.check_connection():
            self.metrics.counter(self.prefix + "reconnect").increment()
        return index, lane

    def _lane_at(self, index: int, timer_name: str, error_prefix: str) -> tuple[int, Lane]:
        """The thread's lane to ring slot ``index`` (the lookup timed as ``timer_name`` when measured), made anew if
        Redis closed its connection while it was idle.

        Raises:
            MessageSendError: (``error_prefix`` ``"send"``) No master is known for the slot.
            MessageReceiveError: (any other ``error_prefix``) The same.
        """
        backend = self._backend or self.backend_layer
        timer = self.metrics.timer(self.prefix + timer_name) if self.measured else None
        if timer is not None:
            timer.start()
        try:
            lane = backend.lane_at(index, self.metrics, self.prefix)
            if lane.check_connection():
                # Redis closed the connection while it was idle (restart, failover, idle timeout): the slot's master
                # is looked up again (Sentinel) before a new connection is opened.
                self.metrics.counter(self.prefix + "reconnect").increment()
                backend.reset_client(index)
                lane = backend.lane_at(index, self.metrics, self.prefix)
        except CannotGetConnectionError as exc:
            self.metrics.counter(self.prefix + error_prefix + ".error.connection").increment()
            error_class = MessageSendError if error_prefix == "send" else MessageReceiveError
            raise error_class(str(exc)) from exc
        finally:
            if timer is not None:
                timer.stop()
        if backend.fixed_lanes and timer is None:
            self._thread.lanes[index] = lane  # (the lookup stays timed when measured)
        return index, lane

    # Serializers

    def serialized(self, serializer: Serializer, envelope: dict[str, Any]) -> bytes:
        """``envelope`` serialized for sending, timed (``send.serialize``) and its size recorded
        (``send.message_size``): for a recorder that records (see :attr:`measured`; the drivers call the serializer
        directly otherwise)."""
        with self.metrics.timer(self.prefix + "send.serialize"):
            payload = serializer.dict_to_blob(envelope)
        self.metrics.histogram(self.prefix + "send.message_size").set(len(payload))
        return payload

    def log_oversized(self, size: int, request_id: Any, direction: str) -> None:
        """Log a WARNING on ``pysoa_like.transport.oversized_message`` (for a message that
        ``core.message.frame_for_sending`` finds oversized)."""
        _oversized_logger.warning(
            "Oversized message %s service %s for request %r: %d bytes (threshold %d)",
            direction,
            self.service_name,
            request_id,
            size,
            self.log_messages_larger_than_bytes,
        )

    # I/O

    def send_messages(
        self,
        queue_name: str,
        messages: Sequence[OutgoingMessage],
        redis_expiry_seconds: int,
        deadline: float | None = None,
    ) -> None:
        """Push framed messages (one message, or every chunk of one) to ``pysoa:<queue_name>`` atomically.

        A full queue is retried ``queue_full_retries`` times, sleeping ``(2**i + random()) / 4`` seconds
        before retry i, but never past ``deadline`` less the read margin (the call's own time): the retries
        stop early rather than hold a call past its deadline (PySOA's ten retries slept about 257 seconds).

        Args:
            queue_name: The queue name without the ``pysoa:`` prefix.
            messages: The framed message, or all its chunks.
            redis_expiry_seconds: The list's new TTL.
            deadline: ``time.monotonic()`` by which Redis must have answered each attempt (at most
                ``socket_timeout`` from its start; the default).

        Raises:
            MessageSendError: If the queue stayed full, or Redis failed (the slot's connection is then reset).
        """
        self._push_retrying(queue_name, messages, redis_expiry_seconds, 0, deadline=deadline)

    def send_reply(
        self,
        queue_name: str,
        messages: Sequence[OutgoingMessage],
        redis_expiry_seconds: int,
        deferrable: bool = True,
        before: tuple[int, Sequence[tuple[Any, ...]]] | None = None,
    ) -> None:
        """Push a server's reply to ``pysoa:<queue_name>``, without waiting for Redis' answer when that is safe.

        One reply's problem stays that reply's: a reply list that is full, or a key that is not a list, or any
        other refusal by Redis is counted and logged (``pysoa_like.transport``, ERROR, throttled), never raised,
        and a full reply list is not retried (a client that left 10,000 replies unread will not read this one
        in time, and retrying would hold the worker). A connection found closed is opened again and the push
        made on the new one (the client drops a reply it already has). Redis' answer to a deferred push is read
        by the next :meth:`pop_messages` (after its ``BLPOP`` is on its way) or by :meth:`settle_deferred`,
        which saves the server one wait on Redis per request.

        Args:
            queue_name: The reply queue name (``reply_to``).
            messages: The framed reply, or all its chunks.
            redis_expiry_seconds: The reply list's new TTL.
            deferrable: False to wait for Redis' answer in any case (and push with the script's text).
            before: ``(ring index, commands)``: commands that must run before the push, on that master (at-least-once
                delivery keeps a copy of the reply so). They go in the push's write when the reply list is on that
                master, else they run first; their failures are logged, never raised.

        Raises:
            MessageSendError: Redis could not be reached (twice): the reply is lost, which is logged.
        """
        key = queue_key(queue_name)
        item: PushItem = (key, messages, redis_expiry_seconds)
        failure: Exception | None = None
        for _attempt in range(2):
            index, lane = self._lane(key, "send.get_redis_connection", "send")
            timer = self.metrics.timer(self.prefix + "send.send_message_to_redis_queue") if self.measured else None
            if timer is not None:
                timer.start()
            try:
                commands = () if before is None else self._commands_before(index, before)
                if deferrable and lane.push_deferred(push_plan(item, self.queue_capacity), commands):
                    self._thread.deferred[lane] = index  # Redis' answer is read later (settle_deferred)
                else:
                    self._push_reply_waiting(index, lane, item, deferrable, before if commands else None)
                return
            except (QueueFullError, redis.ResponseError) as exc:
                if self._redirected(exc, lane) is not None:
                    self._reply_redirected(queue_name, messages, redis_expiry_seconds)
                else:
                    self._refused_reply(queue_name, exc)
                return
            except Exception as exc:
                failure = exc
                self.metrics.counter(self.prefix + "send.error.connection").increment()
                self.backend_layer.reset_client(index)
            finally:
                if timer is not None:
                    timer.stop()
        self._log_undelivered(queue_name, failure)
        try:
            raise MessageSendError(f"Redis error sending to service {self.service_name}: {failure}") from failure
        finally:
            del failure  # its traceback holds this frame (and the reply): no cycle to wait for the collector

    def send_reply_then_pop(
        self, queue_name: str, messages: Sequence[OutgoingMessage], redis_expiry_seconds: int, pop_key: str, wait: float
    ) -> bool:
        """Push a server's reply and start its wait for the next request on the list ``pop_key`` in one write, when
        the reply list and ``pop_key`` share a lane (a fast path of :meth:`send_reply`, for a server that receives
        right after replying).

        The reply goes out as early as with :meth:`send_reply`; the wait is read by the next :meth:`take_messages` of
        ``pop_key`` (or by :meth:`return_waiting`), and a refused reply is acted on then, as :meth:`send_reply`
        acts on a deferred one.

        Returns:
            False when nothing was written (push it with :meth:`send_reply`): the keys live on different masters,
            the connection owes replies or has not run the send script yet, the reply is big, or the write failed.
        """
        key = queue_key(queue_name)
        index, lane = self._lane(key, "send.get_redis_connection", "send")
        if self._thread.deferred or not (self._one_host or self._same_lane(index, pop_key)):
            return False
        push = push_plan((key, messages, redis_expiry_seconds), self.queue_capacity)
        try:
            fused = lane.push_and_pop(push, pop_key, wait, True)
        except Exception:
            self.backend_layer.reset_client(index)
            return False  # nothing was pushed: send_reply tries again, on a new connection
        if fused:
            self._thread.waiting = (pop_key, index, lane)
        return fused

    def return_waiting(self, wait: float) -> None:
        """End a wait that :meth:`send_reply_then_pop` started and no receive read: a request it took goes back to
        the head of its list (for another worker), and a refused reply is acted on. For a server that stops.

        Args:
            wait: The wait's timeout, as sent (the wait is read to its end: a request Redis handed over is never lost).
        """
        waiting, self._thread.waiting = self._thread.waiting, None
        if waiting is None:
            return
        key, index, lane = waiting
        if not lane.waits_on(key):
            return
        try:
            taken = lane.blocking_pop(key, wait)
            if taken:
                self.run_at(index, "LPUSH", key, *[bytes(message) for message in reversed(taken)])
        except (redis.RedisError, MessageSendError) as exc:
            _logger.error("Could not return a request taken while stopping (service %s): %s", self.service_name, exc)
        if lane.settled:
            self._handle_settled(lane)

    def _commands_before(self, index: int, before: tuple[int, Sequence[tuple[Any, ...]]]) -> Sequence[tuple[Any, ...]]:
        """The commands to write with a reply's push to ring slot ``index`` (see :meth:`send_reply`): ``before``'s
        when they go to the same master; else none, once they ran on their own."""
        if self.backend_layer.shares_lane(before[0], index):
            return before[1]  # written with the push, run by Redis just before it
        self._run_before(before)
        return ()

    def _push_reply_waiting(
        self,
        index: int,
        lane: Lane,
        item: PushItem,
        deferrable: bool,
        before: tuple[int, Sequence[tuple[Any, ...]]] | None,
    ) -> None:
        """Push a reply on ``lane`` (ring slot ``index``) and wait for Redis' answer, when the lane could not defer
        it (which also loads the script on the connection), running ``before``'s commands first.

        Raises:
            QueueFullError, redis.RedisError: As ``Lane.push`` raises them.
        """
        if before is not None:
            self._run_before(before)
        if lane.has_deferred:
            self._settle_lane(index, lane)
        key, messages, redis_expiry_seconds = item
        lane.push(key, messages, redis_expiry_seconds, self.queue_capacity, script_only=not deferrable)

    def _run_before(self, before: tuple[int, Sequence[tuple[Any, ...]]]) -> None:
        """Run the commands that must precede a reply's push, on their own master (see :meth:`send_reply`)."""
        index, commands = before
        try:
            for command in commands:
                self.run_at(index, *command)
        except (redis.RedisError, MessageSendError) as exc:
            log_bounded(
                _logger,
                logging.ERROR,
                self.log_throttle,
                "before reply",
                "Could not run what goes before a reply's push (service %s): %s",
                self.service_name,
                exc,
            )

    def settle_deferred(self) -> None:
        """Read Redis' answers to every deferred reply push of this thread, acting on failures as :meth:`send_reply`
        does."""
        for lane, index in list(self._thread.deferred.items()):
            self._settle_lane(index, lane)

    def _settle_lane(self, index: int, lane: Lane) -> None:
        if lane.has_deferred:
            lane.settle()
        self._thread.deferred.pop(lane, None)
        self._handle_settled(lane)

    def _handle_settled(self, lane: Lane) -> None:
        """Act on the failed deferred reply pushes of a lane (see :meth:`send_reply`)."""
        results, lane.settled = lane.settled, []
        for (key, messages, expiry), error in results:
            queue_name = queue_name_of(key)
            if self._redirected(error, lane) is not None:
                self._reply_redirected(queue_name, messages, expiry)
                continue
            if isinstance(error, QueueFullError) or (
                isinstance(error, redis.ResponseError) and not must_push_again(error)
            ):
                self._refused_reply(queue_name, error)
                continue
            # Redis ran nothing (the script vanished with SCRIPT FLUSH, a transaction was discarded) or the
            # connection closed before Redis answered: push again, on a fresh connection if need be, with the
            # script's text.
            try:
                if not isinstance(error, redis.ResponseError):
                    self.metrics.counter(self.prefix + "send.error.connection").increment()
                self.send_reply(queue_name, list(messages), expiry, deferrable=False)
            except MessageSendError:
                pass  # logged by send_reply

    def _reply_redirected(self, queue_name: str, messages: Sequence[OutgoingMessage], expiry: int) -> None:
        """Push a reply again after a ``MOVED``/``ASK`` answer, following the redirection (never raises)."""
        try:
            self._push_once(queue_key(queue_name), messages, expiry, True, None)
        except QueueFullError as exc:
            self._refused_reply(queue_name, exc)
        except MessageSendError as exc:
            self._log_undelivered(queue_name, exc)

    def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None:
        """The ``MOVED``/``ASK`` answer ``error`` is, once the backend learned from it; None for any other error.

        Only a backend that follows redirections (Redis Cluster) gets one; for the others such an answer is an
        error like any other (see :meth:`_fail`, which says what it means).
        """
        if not isinstance(error, redis.ResponseError):
            return None
        backend = self.backend_layer
        if not backend.follows_redirects:
            return None
        replying_host = ""
        if lane is not None:
            replying_host = str(getattr(lane.client.connection_pool, "connection_kwargs", {}).get("host") or "")
        redirect = parse_redirect(str(error), replying_host)
        if redirect is not None:
            backend.note_redirect(redirect)
            self.metrics.counter(self.prefix + ("redirect.ask" if redirect.ask else "redirect.moved")).increment()
        return redirect

    def _refused_reply(self, queue_name: str, error: Exception) -> None:
        full = isinstance(error, QueueFullError)
        self.metrics.counter(
            self.prefix + ("send.error.redis_queue_full" if full else "send.error.response")
        ).increment()
        log_bounded(
            _logger,
            logging.ERROR,
            self.log_throttle,
            ("reply refused", full),
            "Could not deliver a reply to %s (service %s): %s",
            short_repr(queue_name),
            self.service_name,
            "the reply list is full" if full else error,
        )

    def _log_undelivered(self, queue_name: str, error: Exception | None) -> None:
        log_bounded(
            _logger,
            logging.ERROR,
            self.log_throttle,
            "reply undelivered",
            "Could not deliver a reply to %s (service %s): Redis could not be reached: %s",
            short_repr(queue_name),
            self.service_name,
            error,
        )

    def _retry_full(
        self, entries: Sequence[tuple[str, Sequence[OutgoingMessage], int]], deadline: float | None = None
    ) -> list[MessageSendError | None]:
        """Retry pushes refused by a full queue, as :meth:`send_messages` retries its first refusal.

        One backoff sleep covers them all; then each is retried with the remaining attempts, never past
        ``deadline`` less the read margin (a sleep that would end past it is not made: each fails at once).
        """
        if not entries:
            return []
        if self.queue_full_retries > 0 and not self._count_queue_full_retry(0, deadline):
            failures_now: list[MessageSendError | None] = []
            for queue_name, _messages, _expiry in entries:
                self.metrics.counter(self.prefix + "send.error.redis_queue_full").increment()
                message = queue_full_error_message(queue_name, 0)
                failures_now.append(QueueFullSendError(message, queue_full_come_back_seconds(0)))
            return failures_now
        failures: list[MessageSendError | None] = []
        for queue_name, messages, expiry in entries:
            try:
                self._push_retrying(queue_name, messages, expiry, 1, deadline=deadline)
                failures.append(None)
            except MessageSendError as exc:
                failures.append(exc)
        return failures

    def _push_retrying(
        self,
        queue_name: str,
        messages: Sequence[OutgoingMessage],
        redis_expiry_seconds: int,
        first: int,
        script_only: bool = False,
        deadline: float | None = None,
    ) -> None:
        # Attempts after a full queue use the send script even for a big message: a transaction's refused push
        # would send the whole message to replicas and the AOF each time, the script's does not.
        key = queue_key(queue_name)
        retries = 0
        for attempt in range(first, self.queue_full_retries + 1):
            try:
                self._push_once(key, messages, redis_expiry_seconds, script_only or attempt > 0, deadline)
                return
            except QueueFullError:
                if attempt >= self.queue_full_retries or not self._count_queue_full_retry(attempt, deadline):
                    break
                retries = attempt + 1
        self.metrics.counter(self.prefix + "send.error.redis_queue_full").increment()
        raise QueueFullSendError(queue_full_error_message(queue_name, retries), queue_full_come_back_seconds(retries))

    def _push_once(
        self,
        key: str,
        messages: Sequence[OutgoingMessage],
        redis_expiry_seconds: int,
        script_only: bool,
        deadline: float | None,
    ) -> None:
        """One push attempt; a master turned replica (``READONLY``: nothing ran) is looked up again once, and a
        Redis Cluster's ``MOVED``/``ASK`` answers (nothing ran either) are followed.

        Raises:
            QueueFullError: The queue is full.
            MessageSendError: Redis failed.
        """
        asking: Redirect | None = None
        read_only_seen = False
        for attempt in range(MAXIMUM_REDIRECTS + 1):
            if asking is None:
                index, lane = self._lane(key, "send.get_redis_connection", "send")
            else:
                index, lane = asking.slot, self._lane_at_address(asking, "send")
            if lane.has_deferred:
                self._settle_lane(index, lane)
            try:
                with self.metrics.timer(self.prefix + "send.send_message_to_redis_queue"):
                    if asking is None:
                        lane.push(key, messages, redis_expiry_seconds, self.queue_capacity, script_only, deadline)
                    else:
                        lane.push_asking((key, messages, redis_expiry_seconds), self.queue_capacity, deadline)
                return
            except QueueFullError:
                raise
            except redis.ReadOnlyError as exc:
                if read_only_seen:
                    self._fail_send(index, exc)
                read_only_seen = True
                # A failover demoted this master: find the new one (Sentinel) and push there.
                self.backend_layer.reset_client(index)
                asking = None
            except redis.ResponseError as exc:
                redirect = self._redirected(exc, lane)
                if redirect is None or attempt >= MAXIMUM_REDIRECTS:
                    self._fail_send(index, exc)
                asking = redirect if redirect.ask else None
            except Exception as exc:
                self._fail_send(index, exc)
        raise AssertionError("unreachable")  # pragma: no cover (the last attempt returns or raises)

    def _lane_at_address(self, redirect: Redirect, error_prefix: str) -> Lane:
        """The thread's lane to the node an ``ASK`` answer names."""
        try:
            return self.backend_layer.lane_for_address(redirect.address)
        except CannotGetConnectionError as exc:
            self.metrics.counter(self.prefix + error_prefix + ".error.connection").increment()
            error_class = MessageSendError if error_prefix == "send" else MessageReceiveError
            raise error_class(str(exc)) from exc

    def send_then_pop(
        self,
        key: str,
        message: OutgoingMessage,
        redis_expiry_seconds: int,
        reply_key: str,
        wait: float,
    ) -> bool:
        """Push one message to the list ``key`` and start the wait for its reply on the list ``reply_key`` (full
        keys, made by ``core.keys.queue_key``) in the same write, when both keys share a lane.

        For a caller that waits for the reply right after sending: the next :meth:`take_messages` of
        ``reply_key`` reads Redis' answer to the push, then the reply, and makes a refused push as
        :meth:`send_messages` would (retrying a full queue, else raising ``MessageSendError``) before waiting
        again.

        Returns:
            False when the message was not sent (it goes through :meth:`send_messages` then): the keys live
            on different masters, the connection has not run the send script yet, or the message is big.

        Raises:
            MessageSendError: Redis could not be reached (nothing was pushed).
        """
        index, lane = self._lane(key, "send.get_redis_connection", "send")
        if not (self._one_host or self._same_lane(index, reply_key)):
            return False
        push = push_plan((key, [message], redis_expiry_seconds), self.queue_capacity)
        try:
            if self.measured:
                with self.metrics.timer(self.prefix + "send.send_message_to_redis_queue"):
                    fused = lane.push_and_pop(push, reply_key, wait)
            else:
                fused = lane.push_and_pop(push, reply_key, wait)
        except Exception as exc:
            self._fail_send(index, exc)
        if fused:
            # The pop that follows reads this lane: it is not looked up again.
            self._thread.waiting = (reply_key, index, lane)
        return fused

    def _same_lane(self, index: int, other_key: str) -> bool:
        """Whether the lane of ring slot ``index`` also serves ``other_key`` (so both go in one write); its callers
        skip it on a ring of one host (``_one_host``), where every key has the one lane, and ask :meth:`_lane`
        first, which makes the ring."""
        ring = self._ring
        assert ring is not None
        other_index = ring.index_for(other_key)
        return other_index == index or self.backend_layer.shares_lane(index, other_index)

    def _pushed_again(self, index: int, refused: PushRefusedBeforeWait, wait_deadline: float) -> None:
        """Act on a push refused before its wait (see :meth:`send_then_pop`) as :meth:`send_messages` would.

        A full queue is retried only while the backoff ends before ``wait_deadline`` (the wait's own end).
        """
        key, messages, expiry = refused.item
        error = refused.error
        if isinstance(error, QueueFullError):
            deadline = wait_deadline + READ_MARGIN_SECONDS  # the form send_messages' deadlines take
            if self.queue_full_retries <= 0 or not self._count_queue_full_retry(0, deadline):
                self.metrics.counter(self.prefix + "send.error.redis_queue_full").increment()
                message = queue_full_error_message(queue_name_of(key), 0)
                raise QueueFullSendError(message, queue_full_come_back_seconds(0))
            self._push_retrying(queue_name_of(key), messages, expiry, 1, deadline=deadline)
            return
        if must_push_again(error) or self._redirected(error) is not None:
            self._push_retrying(queue_name_of(key), messages, expiry, 0, script_only=True)
            return
        self._fail_send(index, error)

    def send_batch(self, items: Sequence[BatchItem]) -> list[MessageSendError | None]:
        """Push several messages, each to its own queue, with one write and one read per master.

        Each item is ``(queue_name, messages, redis_expiry_seconds)`` as for :meth:`send_messages`. Items
        refused because their queue is full are retried one by one as :meth:`send_messages` does.

        Returns:
            Per item, None when it was pushed, else why not. A connection failure fails every item of that
            master's write (whether Redis ran some of them cannot be known).
        """
        return self.send_batches([(self, items)])[0]

    @staticmethod
    def send_batches(
        batches: Sequence[tuple[RedisTransportCore, Sequence[BatchItem]]],
        deadline: float | None = None,
    ) -> list[list[MessageSendError | None]]:
        """:meth:`send_batch` for the items of several transports at once (the jobs of a parallel call to
        several services): cores that share a backend (equal settings) share its connections, so every item
        bound for one master goes in one write, whichever service it is for.

        Each item's failures are its own core's (its service's name and metrics, its retries). ``deadline``
        (``time.monotonic()``): by when Redis must have answered each write (default: ``socket_timeout`` from
        it), and past which (less the read margin) a full queue is not retried.

        Returns:
            Per batch, per item: None when it was pushed, else why not.
        """
        results: list[list[MessageSendError | None]] = [[None] * len(items) for _core, items in batches]
        # Grouped by connection (one per thread and master: several Cluster slots share their master's) and
        # queue capacity (the send script's argument).
        by_lane: dict[tuple[Lane, int], tuple[int, list[tuple[int, int]]]] = {}
        for number, (core, items) in enumerate(batches):
            for position, (queue_name, _messages, _expiry) in enumerate(items):
                try:
                    index, lane = core._lane(queue_key(queue_name), "send.get_redis_connection", "send")
                except MessageSendError as exc:
                    results[number][position] = exc
                    continue
                by_lane.setdefault((lane, core.queue_capacity), (index, []))[1].append((number, position))
        full: list[tuple[int, int]] = []
        redirected: list[tuple[int, int]] = []
        for (lane, capacity), (index, places) in by_lane.items():
            first = batches[places[0][0]][0]
            for number in dict.fromkeys(number for number, _position in places):
                if lane.has_deferred:
                    batches[number][0]._settle_lane(index, lane)
            batch = [batches[n][1][p] for n, p in places]
            try:
                with first.metrics.timer(first.prefix + "send.send_message_to_redis_queue"):
                    errors = lane.push_many(
                        [(queue_key(name), messages, expiry) for name, messages, expiry in batch],
                        capacity,
                        deadline=deadline,
                    )
            except Exception as exc:
                for number, position in places:
                    try:
                        batches[number][0]._fail_send(index, exc)
                    except MessageSendError as failure:
                        results[number][position] = failure
                continue
            for (number, position), error in zip(places, errors, strict=True):
                core = batches[number][0]
                if isinstance(error, QueueFullError):
                    full.append((number, position))
                elif error is not None and core._redirected(error, lane) is not None:
                    redirected.append((number, position))
                elif error is not None:
                    try:
                        core._fail_send(index, error)
                    except MessageSendError as send_error:
                        results[number][position] = send_error
        for number, position in redirected:
            # The slot moved (MOVED) or is moving (ASK): nothing ran; pushed again where the answer says.
            core, items = batches[number]
            queue_name, messages, expiry = items[position]
            try:
                core._push_retrying(queue_name, messages, expiry, 0, deadline=deadline)
            except MessageSendError as exc:
                results[number][position] = exc
        # The batch was each item's first attempt.
        for number, (core, items) in enumerate(batches):
            positions = [position for full_number, position in full if full_number == number]
            retried = core._retry_full([items[p] for p in positions], deadline)
            for position, retry_failure in zip(positions, retried, strict=True):
                results[number][position] = retry_failure
        return results

    def _count_queue_full_retry(self, attempt: int, deadline: float | None = None) -> bool:
        """Sleep before retry ``attempt`` of a full queue; ``False`` (no sleep) when it would end past the deadline."""
        pause = queue_full_backoff_seconds(attempt)
        if deadline is not None and time.monotonic() + pause > deadline - READ_MARGIN_SECONDS:
            return False
        self.metrics.counter(self.prefix + "send.queue_full_retry").increment()
        self.metrics.counter(self.prefix + f"send.queue_full_retry.retry_{attempt + 1}").increment()
        time.sleep(pause)
        return True

    def _fail_send(self, index: int, exc: Exception) -> NoReturn:
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            self._fail(index, "send.error.connection", exc, MessageSendError, "sending to")
        if isinstance(exc, redis.RedisError):
            self._fail(index, "send.error.response", exc, MessageSendError, "sending to")
        self._fail(index, "send.error.unknown", exc, MessageSendError, "sending to")

    def pop_message(self, queue_name: str, timeout: float | None) -> RawMessage:
        """Block until a message arrives on ``pysoa:<queue_name>`` (one host of the ring) and return it.

        Args:
            queue_name: The queue name without the ``pysoa:`` prefix.
            timeout: Seconds to wait; None or 0 for ``receive_timeout_in_seconds``.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time.
            MessageReceiveError: Redis failed (the slot's connection is then reset).
        """
        return self.pop_messages(queue_name, timeout)[0]

    def pop_messages(self, queue_name: str, timeout: float | None, drain: int = 0) -> list[RawMessage]:
        """Like :meth:`pop_message`, also taking up to ``drain`` more messages already waiting (same round trip).

        Returns:
            At least one message, oldest first (a big one as a ``bytearray``, received in place).
        """
        return self.take_messages(queue_key(queue_name), timeout, drain)[1]

    def take_messages(
        self,
        key: str,
        timeout: float | None,
        drain: int = 0,
        move_to: str | None = None,
        before: Callable[[int], Sequence[tuple[Any, ...]]] | None = None,
    ) -> tuple[int, list[RawMessage], list[Any]]:
        """:meth:`pop_messages` of a full key, optionally moving the message instead and writing commands first.

        Args:
            key: The full key of the list.
            timeout: Seconds to wait; None or 0 for ``receive_timeout_in_seconds``.
            drain: As for :meth:`pop_messages` (not with ``move_to``).
            move_to: Take the message with ``BLMOVE`` into this list (on the same master) instead of ``BLPOP``.
            before: Given the ring index of the master waited on, the commands to write before the wait, in the
                same write (written again on a new connection when the first one failed).

        Returns:
            The ring index waited on, at least one message, and the replies to the ``before`` commands.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time.
            MessageReceiveError: Redis failed (the slot's connection is then reset).
        """
        thread = self._thread
        waiting, thread.waiting = thread.waiting, None
        if waiting is not None and waiting[0] == key and waiting[2].waits_on(key):
            _key, index, lane = waiting  # the lane that carried this wait with its push (send_then_pop)
        else:
            index, lane = self._lane(key, "receive.get_redis_connection", "receive")
        deferred_lanes = thread.deferred
        if deferred_lanes:
            # Replies on other masters' connections are read now; this lane's once its BLPOP is sent.
            for other, other_index in list(deferred_lanes.items()):
                if other is not lane:
                    self._settle_lane(other_index, other)
            deferred_lanes.pop(lane, None)
        wait = timeout or self.receive_timeout_in_seconds
        deadline = time.monotonic() + wait
        redirects = 0
        asking: Redirect | None = None
        attempt = 0
        messages: list[RawMessage] = []
        while True:
            try:
                if asking is None and before is None and not self.measured:
                    messages = lane.blocking_pop(key, wait, drain, move_to)  # the usual wait, with no timer to feed
                    break
                with self.metrics.timer(self.prefix + "receive.pop_from_redis_queue"):
                    if asking is not None and move_to is None:
                        messages = lane.pop_asking(key, wait)
                    elif before is None:
                        # (A slot being migrated answers a BLMOVE with ASK again: bounded by the redirects.)
                        messages = lane.blocking_pop(key, wait, drain, move_to)
                    else:
                        messages = lane.blocking_pop(key, wait, drain, move_to, before(index))
                break
            except PushRefusedBeforeWait as refused:
                # The request written with this wait was refused: push it as a send would, then wait anew.
                self._pushed_again(index, refused, deadline)
                wait = max(deadline - time.monotonic(), _MINIMUM_REMAINING_WAIT_SECONDS)
                index, lane = self._lane(key, "receive.get_redis_connection", "receive")
                asking = None
                attempt += 1
                if attempt > 2:
                    break
            except redis.TimeoutError as exc:
                # Redis did not answer within the wait and its margin (frozen?): no second wait on top.
                self._handle_settled(lane)
                self._fail(index, "receive.error.connection", exc, MessageReceiveError, "receiving from")
            except redis.AuthenticationError as exc:
                # The credentials were refused: connecting again with the same ones cannot help.
                self._handle_settled(lane)
                self._fail(index, "receive.error.connection", exc, ReceiveAuthenticationError, "receiving from")
            except (redis.ConnectionError, redis.ReadOnlyError) as exc:
                # ReadOnlyError: a failover demoted the master; the BLPOP did not run.
                self._handle_settled(lane)
                wait = deadline - time.monotonic()
                if attempt or wait < _MINIMUM_REMAINING_WAIT_SECONDS:
                    self._fail(index, "receive.error.connection", exc, MessageReceiveError, "receiving from")
                # The connection died while waiting (Redis restarted, a proxy or CLIENT KILL closed it): whatever
                # is to come is still in the list, so the wait goes on, on a new connection.
                self.metrics.counter(self.prefix + "receive.reconnect").increment()
                self.backend_layer.reset_client(index)
                index, lane = self._lane(key, "receive.get_redis_connection", "receive")
                asking = None
                attempt += 1
            except redis.ResponseError as exc:
                # MOVED: the slot moved (a failover, a resharding; a waiting BLPOP is answered so when its slot
                # leaves the node). ASK: it is moving; this wait goes to the new node. Nothing was popped.
                self._handle_settled(lane)
                redirect = self._redirected(exc, lane)
                wait = deadline - time.monotonic()
                if redirect is None or redirects >= MAXIMUM_REDIRECTS or wait < _MINIMUM_REMAINING_WAIT_SECONDS:
                    self._fail(index, "receive.error.unknown", exc, MessageReceiveError, "receiving from")
                redirects += 1
                asking = redirect if redirect.ask else None
                if asking is None:
                    index, lane = self._lane(key, "receive.get_redis_connection", "receive")
                else:
                    index, lane = asking.slot, self._lane_at_address(asking, "receive")
            except Exception as exc:
                self._handle_settled(lane)
                self._fail(index, "receive.error.unknown", exc, MessageReceiveError, "receiving from")
        if lane.settled:
            self._handle_settled(lane)
        if not messages:
            self.metrics.counter(self.prefix + "receive.error.timeout").increment()
            raise MessageReceiveTimeout(f"No message received for service {self.service_name}")
        return index, messages, lane.before_replies

    def run_at(self, index: int, *command: Any, within: float | None = None) -> Any:
        """Run one small command on the master at ring ``index``, after reading the replies owed on its connection.

        Args:
            within: Seconds Redis has to answer (connecting included); None for ``socket_timeout``.

        Raises:
            redis.RedisError: Redis refused the command or could not be reached (the connection is then reset).
            MessageSendError: No master is known for the slot.
        """
        index, lane = self._lane_at(index, "send.get_redis_connection", "send")
        if lane.has_deferred:
            self._settle_lane(index, lane)
        try:
            return lane.execute(*command, deadline=None if within is None else time.monotonic() + within)
        except (redis.ConnectionError, redis.TimeoutError):
            self.backend_layer.reset_client(index)
            raise

    def queue_indexes(self, key: str) -> list[int]:
        """The ring slots where the request queue ``key`` may hold messages: every master of a ring, or the
        queue's slot under Redis Cluster (at-least-once delivery keeps its keys beside the queue on each)."""
        return self.backend_layer.queue_indexes(key)

    def run_on_key_master(self, key: str, *command: Any, within: float | None = None) -> Any:
        """Run one small command on the master serving ``key`` (hashed like a reply list when it has ``!``).

        For the liveness keys of watched requests and the look at a timed-out call's queue; the caller decides
        what a failure means.

        Args:
            within: Seconds Redis has to answer (connecting included); None for ``socket_timeout``.

        Raises:
            redis.RedisError: Redis refused the command or could not be reached (or did not answer in time).
            MessageSendError: No master is known for the slot.
        """
        index, lane = self._lane(key, "send.get_redis_connection", "send")
        deadline = None if within is None else time.monotonic() + within
        redirects = 0
        while True:
            try:
                return lane.execute(*command, deadline=deadline)
            except (redis.ConnectionError, redis.TimeoutError):
                self.backend_layer.reset_client(index)
                raise
            except redis.ResponseError as exc:
                redirect = self._redirected(exc, lane)
                if redirect is None or redirects >= MAXIMUM_REDIRECTS:
                    raise
                redirects += 1
                if redirect.ask:
                    reply = self._lane_at_address(redirect, "send").execute_asking(tuple(command), deadline)
                    if isinstance(reply, Exception):
                        raise reply from None
                    return reply
                index, lane = self._lane(key, "send.get_redis_connection", "send")

    def _fail(
        self,
        index: int,
        metric: str,
        exc: Exception,
        error_class: type[MessageSendError] | type[MessageReceiveError],
        verb: str,
    ) -> NoReturn:
        self.metrics.counter(self.prefix + metric).increment()
        # Sentinel looks the master up again on the next call (Cluster its slot map), so a failover is followed.
        backend = self.backend_layer
        backend.reset_client(index)
        _logger.debug("Redis error %s service %s: %r", verb, self.service_name, exc)
        hint = ""
        if not backend.follows_redirects and parse_redirect(str(exc)) is not None:
            hint = STANDARD_BACKEND_HINT
        raise error_class(f"Redis error {verb} service {self.service_name}: {exc}{hint}") from exc
