"""What the Redis client and server transports share: settings, the backend cache, serializers and the I/O.

``RedisTransportCore`` turns framed messages into Redis calls (one atomic script per message, blocking pops),
maps every Redis failure to a transport error, records PySOA's metrics and caches one backend per process and
unique ``(backend_type, backend_layer_kwargs)`` for client transports, and one for server transports.
Everything about bytes and keys comes from
:mod:`pysoa_like.common.transport.redis_gateway.protocol`.

This module holds what one call runs (the lane of a key, a push written with the wait for its reply, a push that
waits for Redis' answer, a server's reply, the wait for a message); the rest of the core is in its bases, one
concern each: the backend and its lanes (:mod:`._backends`), what follows a server's reply push
(:mod:`._deferred_replies`), the retries of refused pushes (:mod:`._push_retries`), batches (:mod:`._batch_sends`),
single commands on a master (:mod:`._master_commands`) and Redis failures (:mod:`._redis_failures`); the
serializers are in :mod:`._serializers`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import redis

from pysoa_like.common._bounded_logs import LogThrottle
from pysoa_like.common.metrics import MetricsRecorder, records_nothing
from pysoa_like.common.serializer import Serializer
from pysoa_like.common.transport.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    QueueFullSendError,
    ReceiveAuthenticationError,
)
from pysoa_like.common.transport.redis_gateway._backends import SharedBackends, backend_key
from pysoa_like.common.transport.redis_gateway._batch_sends import BatchItem, BatchSends
from pysoa_like.common.transport.redis_gateway._deferred_replies import DeferredReplies
from pysoa_like.common.transport.redis_gateway._lanes import (
    READ_MARGIN_SECONDS,
    Lane,
    PushItem,
    PushRefusedBeforeWait,
    QueueFullError,
    RawMessage,
)
from pysoa_like.common.transport.redis_gateway._master_commands import MasterCommands
from pysoa_like.common.transport.redis_gateway._push_retries import PushRetries
from pysoa_like.common.transport.redis_gateway._redis_failures import RedisFailures
from pysoa_like.common.transport.redis_gateway._serializers import SerializersByType, make_serializer, serializer_named
from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient
from pysoa_like.common.transport.redis_gateway.protocol import queue_full_come_back_seconds, queue_full_error_message
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, Redirect, SlotRing
from pysoa_like.core.constants import (
    DEFAULT_MESSAGE_EXPIRY_IN_SECONDS,
    DEFAULT_QUEUE_CAPACITY,
    DEFAULT_QUEUE_FULL_RETRIES,
    DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS,
)
from pysoa_like.core.keys import HostRing, queue_key
from pysoa_like.core.message import OutgoingMessage
from pysoa_like.core.redis_protocol import push_plan

__all__ = [
    "BatchItem",
    "RedisTransportCore",
    "SerializersByType",
    "backend_key",
    "make_serializer",
    "serializer_named",
]

_logger = logging.getLogger("pysoa_like.transport")
_oversized_logger = logging.getLogger("pysoa_like.transport.oversized_message")

# A wait cut short by a closed connection goes on on a new one if at least this much of it is left.
_MINIMUM_REMAINING_WAIT_SECONDS = 0.05


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
        #: A ring slot the round-robin chose for a key whose use was put off (a push or a wait that could not go in
        #: one write with another): ``(full key, ring slot)``, taken by the next lookup of that key, so that every
        #: push and every wait draws one slot.
        self.drawn: tuple[str, int] | None = None


class RedisTransportCore(SharedBackends, DeferredReplies, PushRetries, BatchSends, MasterCommands, RedisFailures):
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

    def _lane(self, key: str, timer_name: str, error_prefix: str, deadline: float | None = None) -> tuple[int, Lane]:
        """The ring slot serving ``key`` and the thread's lane to it (see :meth:`_lane_at`: ``deadline`` bounds the
        wait for a master lookup).

        On a fixed ring the thread's lane is the one kept here, not looked up again: the lane's write finds a
        connection that Redis closed while it was idle and opens a new one (``Lane._ready``); with a recorder
        that records, the connection is checked here first so that the replacement is counted (``reconnect``).

        Raises:
            MessageSendError: (``error_prefix`` ``"send"``) No connection can be had (see :meth:`_lane_at`).
            MessageReceiveError: (any other ``error_prefix``) The same.
        """
        ring = self._ring
        if ring is None:
            # This transport's own round-robin over the shared connections (see HostRing), or the key's slot.
            ring = self._ring = self._backend_for(error_prefix, deadline).make_ring()
            self._one_host = ring.host_count == 1
        thread = self._thread
        if ring.host_count == 1:
            index = 0
        else:
            drawn = thread.drawn
            if drawn is not None and drawn[0] == key:
                thread.drawn = None
                index = drawn[1]
            else:
                index = ring.index_for(key)
        lane = thread.lanes.get(index)
        if lane is None:
            return self._lane_at(index, timer_name, error_prefix, deadline)
        if self.measured and lane.check_connection():
            self.metrics.counter(self.prefix + "reconnect").increment()
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

    def deserialized(self, serializer: Serializer, payload: Any) -> Any:
        """A received payload deserialized, timed (``receive.deserialize``): the ``deserialize`` the drivers hand the
        core's decoding for a recorder that records (see :attr:`measured`; otherwise they hand ``None``)."""
        with self.metrics.timer(self.prefix + "receive.deserialize"):
            return serializer.buffer_to_dict(payload)

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
        key: str | None = None,
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
            key: The reply list's key (``queue_key(queue_name)``), when the caller has it already.

        Raises:
            MessageSendError: Redis could not be reached (twice): the reply is lost, which is logged.
        """
        if key is None:
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
        self,
        queue_name: str,
        messages: Sequence[OutgoingMessage],
        redis_expiry_seconds: int,
        pop_key: str,
        wait: float,
        key: str | None = None,
    ) -> bool:
        """Push a server's reply and start its wait for the next request on the list ``pop_key`` in one write, when
        the reply list and ``pop_key`` share a lane (a fast path of :meth:`send_reply`, for a server that receives
        right after replying).

        The reply goes out as early as with :meth:`send_reply`; the wait is read by the next :meth:`take_messages` of
        ``pop_key`` (or by :meth:`return_waiting`), and a refused reply is acted on then, as :meth:`send_reply`
        acts on a deferred one.

        Args:
            key: The reply list's key (``queue_key(queue_name)``), when the caller has it already.

        Returns:
            False when nothing was written (push it with :meth:`send_reply`): the keys live on different masters,
            the connection owes replies or has not run the send script yet, the reply is big, or the write failed.
        """
        if key is None:
            key = queue_key(queue_name)
        index, lane = self._lane(key, "send.get_redis_connection", "send")
        thread = self._thread
        if thread.deferred:
            return False
        pop_index = index
        if not self._one_host:
            # The next receive's master, drawn once: the receive waits there whether or not it goes with the reply.
            assert self._ring is not None
            pop_index = self._ring.index_for(pop_key)
            if not self._same_lane(index, pop_index):
                thread.drawn = (pop_key, pop_index)
                return False
        push = push_plan((key, messages, redis_expiry_seconds), self.queue_capacity)
        try:
            fused = lane.push_and_pop(push, pop_key, wait, True)
        except Exception:
            self.backend_layer.reset_client(index)
            fused = False  # nothing was pushed: send_reply tries again, on a new connection
        if fused:
            thread.waiting = (pop_key, index, lane)
        elif not self._one_host:
            thread.drawn = (pop_key, pop_index)
        return fused

    def send_then_pop(
        self,
        key: str,
        message: OutgoingMessage,
        redis_expiry_seconds: int,
        reply_key: str,
        wait: float,
        deadline: float | None = None,
    ) -> bool:
        """Push one message to the list ``key`` and start the wait for its reply on the list ``reply_key`` (full
        keys, made by ``core.keys.queue_key``) in the same write, when both keys share a lane. ``deadline``
        (``time.monotonic()``, the push's): the call waits for a master lookup (Sentinel) until then, not longer.

        For a caller that waits for the reply right after sending: the next :meth:`take_messages` of
        ``reply_key`` reads Redis' answer to the push, then the reply, and makes a refused push as
        :meth:`send_messages` would (retrying a full queue, else raising ``MessageSendError``) before waiting
        again.

        Returns:
            False when the message was not sent (it goes through :meth:`send_messages` then): the keys live
            on different masters, the connection has not run the send script yet, or the message is big.

        Raises:
            MessageSendError: Redis could not be reached, or no master was found by ``deadline`` (nothing was pushed).
        """
        index, lane = self._lane(key, "send.get_redis_connection", "send", deadline)
        if not self._one_host:
            assert self._ring is not None
            if not self._same_lane(index, self._ring.index_for(reply_key)):
                self._thread.drawn = (key, index)  # the push the caller makes instead goes to this master
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
        elif not self._one_host:
            self._thread.drawn = (key, index)
        return fused

    def _same_lane(self, index: int, other_index: int) -> bool:
        """Whether ring slots ``index`` and ``other_index`` have one lane (so a push and a wait go in one write);
        its callers skip it on a ring of one host (``_one_host``), where every key has the one lane."""
        return other_index == index or self.backend_layer.shares_lane(index, other_index)

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
                index, lane = self._lane(key, "send.get_redis_connection", "send", deadline)
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
        wait = timeout or self.receive_timeout_in_seconds
        if waiting is not None and waiting[0] == key and waiting[2].waits_on(key):
            _key, index, lane = waiting  # the lane that carried this wait with its push (send_then_pop)
        else:
            # A master lookup (Sentinel) is waited for as long as the wait's reply would be read.
            lookup_deadline = time.monotonic() + wait + READ_MARGIN_SECONDS
            index, lane = self._lane(key, "receive.get_redis_connection", "receive", lookup_deadline)
        deferred_lanes = thread.deferred
        if deferred_lanes:
            # Replies on other masters' connections are read now; this lane's once its BLPOP is sent.
            for other, other_index in list(deferred_lanes.items()):
                if other is not lane:
                    self._settle_lane(other_index, other)
            deferred_lanes.pop(lane, None)
        deadline = time.monotonic() + wait
        lookups_end = deadline + READ_MARGIN_SECONDS  # (for the lane's master looked up again meanwhile)
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
                index, lane = self._lane(key, "receive.get_redis_connection", "receive", lookups_end)
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
                index, lane = self._lane(key, "receive.get_redis_connection", "receive", lookups_end)
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
                    index, lane = self._lane(key, "receive.get_redis_connection", "receive", lookups_end)
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
