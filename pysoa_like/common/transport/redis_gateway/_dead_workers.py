"""A blocking client's watch over the workers of its requests (``detect_dead_workers``): the wait for a reply cut
into slices, between which the liveness keys of the watched requests are looked at; a request whose key went away
without a reply is answered with a ``WORKER_DIED`` job error instead of waiting out its timeout."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import redis

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.worker_watch import WATCH_CHECK_SECONDS, WatchVerdict, worker_died_body

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.client import _ThreadState

__all__ = ["DeadWorkerWatch"]

# After a watched request's liveness key went away, how long to look for its reply before declaring it lost.
_LAST_LOOK_SECONDS = 0.05


class DeadWorkerWatch:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`: its watch over the
    workers of its requests."""

    service_name: str
    metrics: MetricsRecorder
    core: RedisTransportCore
    _state: _ThreadState
    _prefix: str

    def _pop_watching(self, queue_name: str, wait: float) -> RawMessage | ReceivedMessage:
        """Pop the next reply, checking every second that the workers of watched requests are alive.

        Returns:
            The popped reply, or a ``WORKER_DIED`` job error standing for the reply of a watched request whose
            worker ended without one.

        Raises:
            MessageReceiveTimeout: Nothing arrived within ``wait``.
        """
        state = self._state
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                # (A wait of 0 would be the transport's default receive timeout.)
                raise MessageReceiveTimeout(f"No message received for service {self.service_name}")
            slice_seconds = min(left, WATCH_CHECK_SECONDS)
            try:
                popped = self.core.pop_messages(queue_name, slice_seconds, len(state.pending) - 1)
            except MessageReceiveTimeout:
                if deadline - time.monotonic() <= 0:
                    raise
                died = self._dead_worker_request(queue_name, deadline)
                if died is not None:
                    return died
                continue
            if len(popped) > 1:
                state.held.extend(popped[1:])
            return popped[0]

    def _dead_worker_request(self, queue_name: str, deadline: float) -> ReceivedMessage | None:
        """The ``WORKER_DIED`` answer for a watched request whose liveness key went away without a reply.

        Each look at a liveness key is bounded by the wait's ``deadline`` (``time.monotonic()``), not only by the
        socket timeout: a Redis slow to answer it must not hold the call past its timeout.
        """
        state = self._state
        for request_id, key in state.watched.watched():
            left = deadline - time.monotonic()
            if left <= 0:
                return None  # the wait's time is up: the caller ends it
            try:
                exists = bool(self.core.run_on_key_master(key, "EXISTS", key, within=left))
            except (redis.RedisError, MessageSendError):
                continue  # cannot tell now: ask again after the next slice
            if state.watched.observe(request_id, exists) is not WatchVerdict.GONE:
                continue
            # The worker pushes the reply before deleting the key: one last look at the reply list.
            try:
                late = self.core.pop_messages(queue_name, _LAST_LOOK_SECONDS, len(state.pending) - 1)
            except MessageReceiveTimeout:
                late = []
            if late:
                state.held.extend(late)
                return None
            state.watched.forget(request_id)
            state.pending.forget(request_id)
            self.metrics.counter(self._prefix + "receive.error.worker_died").increment()
            return ReceivedMessage(request_id, {}, worker_died_body())
        return None
