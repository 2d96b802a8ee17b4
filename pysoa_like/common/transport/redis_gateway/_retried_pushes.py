"""Pushes that wait for Redis' answer: a full queue retried with backoff (never past the call's deadline), a master
turned replica looked up again, Redis Cluster's redirects followed.

A call whose request and reply list share a connection does not push this way (the core's ``send_then_pop``
writes its push with the wait for its reply); a send to another master of a ring, a big message, a batch's
refused items and a push refused before its wait do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import redis

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import MessageSendError, QueueFullSendError
from pysoa_like.common.transport.redis_gateway._lanes import (
    READ_MARGIN_SECONDS,
    PushRefusedBeforeWait,
    QueueFullError,
    must_push_again,
)
from pysoa_like.common.transport.redis_gateway.protocol import (
    queue_full_backoff_seconds,
    queue_full_come_back_seconds,
    queue_full_error_message,
)
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, Redirect
from pysoa_like.core.keys import queue_key, queue_name_of
from pysoa_like.core.message import OutgoingMessage

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient

__all__ = ["RetriedPushes"]


class RetriedPushes:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its pushes that wait
    for Redis' answer."""

    service_name: str
    metrics: MetricsRecorder
    prefix: str
    queue_capacity: int
    queue_full_retries: int

    if TYPE_CHECKING:

        @property
        def backend_layer(self) -> BaseRedisClient: ...

        def _lane(self, key: str, timer_name: str, error_prefix: str) -> tuple[int, Lane]: ...

        def _settle_lane(self, index: int, lane: Lane) -> None: ...

        def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None: ...

        def _lane_at_address(self, redirect: Redirect, error_prefix: str) -> Lane: ...

        def _fail_send(self, index: int, exc: Exception) -> NoReturn: ...

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

    def _count_queue_full_retry(self, attempt: int, deadline: float | None = None) -> bool:
        """Sleep before retry ``attempt`` of a full queue; ``False`` (no sleep) when it would end past the deadline."""
        pause = queue_full_backoff_seconds(attempt)
        if deadline is not None and time.monotonic() + pause > deadline - READ_MARGIN_SECONDS:
            return False
        self.metrics.counter(self.prefix + "send.queue_full_retry").increment()
        self.metrics.counter(self.prefix + f"send.queue_full_retry.retry_{attempt + 1}").increment()
        time.sleep(pause)
        return True
