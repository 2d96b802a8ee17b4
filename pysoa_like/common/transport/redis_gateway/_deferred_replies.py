"""A server's replies once written: Redis' answers to deferred pushes read and acted on, and what goes before a reply.

The core's ``send_reply`` writes a reply without waiting for Redis' answer when that is safe; the answer is read
later (by the thread's next wait, or :meth:`DeferredReplies.settle_deferred`) and a failure handled here: a full or
refusing reply list is counted and logged, never raised (one reply's problem stays that reply's), a push that Redis
did not run is made again, a Redis Cluster redirect is followed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import MessageSendError
from pysoa_like.common.transport.redis_gateway._lanes import PushItem, QueueFullError, must_push_again
from pysoa_like.core.keys import queue_key, queue_name_of
from pysoa_like.core.message import OutgoingMessage

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient
    from pysoa_like.common.transport.redis_gateway.core import _ThreadState
    from pysoa_like.core.cluster import Redirect

__all__ = ["DeferredReplies"]

_logger = logging.getLogger("pysoa_like.transport")


class DeferredReplies:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: what follows a
    server's reply push."""

    service_name: str
    metrics: MetricsRecorder
    prefix: str
    queue_capacity: int
    log_throttle: LogThrottle
    _thread: _ThreadState

    if TYPE_CHECKING:

        @property
        def backend_layer(self) -> BaseRedisClient: ...

        def send_reply(
            self,
            queue_name: str,
            messages: Sequence[OutgoingMessage],
            redis_expiry_seconds: int,
            deferrable: bool = True,
            before: tuple[int, Sequence[tuple[Any, ...]]] | None = None,
        ) -> None: ...

        def run_at(self, index: int, *command: Any, within: float | None = None) -> Any: ...

        def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None: ...

        def _push_once(
            self,
            key: str,
            messages: Sequence[OutgoingMessage],
            redis_expiry_seconds: int,
            script_only: bool,
            deadline: float | None,
        ) -> None: ...

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
