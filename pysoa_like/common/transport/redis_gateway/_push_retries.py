"""What follows a push refused for a full queue, or refused before its wait: the retries.

A full queue is retried with backoff (``(2**i + random()) / 4`` seconds before retry i), never past the call's
deadline less the read margin; the first attempt and each retry are the core's ``_push_retrying``. A call's push
written with the wait for its reply (``send_then_pop``) and refused is made again here as ``send_messages`` would
make it; a batch's items refused for a full queue are retried here one by one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

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
from pysoa_like.core.keys import queue_name_of
from pysoa_like.core.message import OutgoingMessage

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.core.cluster import Redirect

__all__ = ["PushRetries"]


class PushRetries:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its retries of refused
    pushes."""

    metrics: MetricsRecorder
    prefix: str
    queue_full_retries: int

    if TYPE_CHECKING:

        def _push_retrying(
            self,
            queue_name: str,
            messages: Sequence[OutgoingMessage],
            redis_expiry_seconds: int,
            first: int,
            script_only: bool = False,
            deadline: float | None = None,
        ) -> None: ...

        def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None: ...

        def _fail_send(self, index: int, exc: Exception) -> NoReturn: ...

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
