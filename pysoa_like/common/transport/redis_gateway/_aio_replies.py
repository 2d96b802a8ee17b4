"""The asyncio driver's waiting calls: one reply list per event loop and service, and each transport's calls on it.

A :class:`LoopState` is shared, on one event loop, by the transports with the same settings (so clients made per
request, as a server makes one per job, share one reader and its connection): the reply list's name, which replies
it accepts (``PendingReplies``), a future per waiting call and the calls' deadlines, one heap and one timer for them
all (:meth:`LoopState.watch`). :class:`Calls` is one transport's part of it: its request ids' keys, the pushes made
again for them, the workers it watches.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.common.transport.redis_gateway.protocol import make_reply_to, new_client_id
from pysoa_like.core.keys import new_reply_queue_suffix, queue_key
from pysoa_like.core.message import REPLY_NONCE_META_KEY, PendingReplies

if TYPE_CHECKING:
    from pysoa_like.common.transport.base import ReceivedMessage
    from pysoa_like.common.transport.redis_gateway._aio_pool import AioPool
    from pysoa_like.common.transport.redis_gateway._aio_pushing import PushRetry
    from pysoa_like.common.transport.redis_gateway._aio_worker_watch import AioWorkerWatch
    from pysoa_like.common.transport.redis_gateway.protocol import ChunkReassembler

__all__ = ["CallKey", "Calls", "LoopState", "TimedOut", "forget_call"]


#: A waiting call, as the reply list of an event loop knows it: ``(request id, nonce)`` (the transports sharing
#: the list number their requests independently; the nonce tells them apart).
CallKey = tuple[Any, Any]


class LoopState:
    """One event loop's reply list for one service, shared by the transports with the same settings.

    Clients made per request (as a server makes one per job) then share one reader and its connection.
    """

    def __init__(self, service_name: str, require_nonce: bool, pool: AioPool) -> None:
        self.reply_to = make_reply_to(service_name, new_client_id(), new_reply_queue_suffix())
        self.reply_key = queue_key(self.reply_to)
        self.pending = PendingReplies(require_nonce)
        self.futures: dict[CallKey, asyncio.Future[ReceivedMessage]] = {}
        # Request id -> call key, for replies that echo no nonce (require_reply_nonce off).
        self.by_id: dict[Any, CallKey] | None = None if require_nonce else {}
        self.pool = pool
        self.users: weakref.WeakSet[Any] = weakref.WeakSet()
        self.reader: asyncio.Task[None] | None = None
        self.chunks: ChunkReassembler | None = None
        self.chunk_bytes = 0
        # The waiting calls' deadlines, one timer for them all (armed for the earliest): entries
        # [loop time, order, future or None once the call ended].
        self.deadlines: list[list[Any]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def watch(self, future: asyncio.Future[ReceivedMessage], timeout: float) -> list[Any]:
        """Time ``future`` out (``TimedOut``) unless it is done within ``timeout`` seconds.

        Returns:
            Its entry, whose future the call sets to None when it ends (so that nothing holds it until then).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        entry = [deadline, next(self._order), future]
        deadlines = self.deadlines
        while deadlines and deadlines[0][2] is None:  # calls that ended first (most do)
            heapq.heappop(deadlines)
        heapq.heappush(deadlines, entry)
        if self._timer is None or deadline < self._timer_at:
            self._arm(loop, deadline)
        return entry

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire, loop)
        self._timer_at = deadline

    def stop_timer(self) -> None:
        """Cancel the deadlines' timer (the reply list is given up: no call waits on it any more)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out the calls whose deadline passed; arm the timer for the next one."""
        self._timer = None
        deadlines = self.deadlines
        # A timer may run up to the loop's clock resolution early: a deadline that near has passed.
        now = loop.time() + 0.001
        while deadlines and (deadlines[0][2] is None or deadlines[0][0] <= now):
            future = heapq.heappop(deadlines)[2]
            if future is not None and not future.done():
                future.set_exception(TimedOut())
        if deadlines:
            self._arm(loop, deadlines[0][0])

    def key_of(self, request_id: Any, meta: Any) -> CallKey | None:
        """The call a reply with this request id and meta answers, if any could be."""
        nonce = meta.get(REPLY_NONCE_META_KEY) if isinstance(meta, Mapping) else None
        if nonce is not None or self.by_id is None:
            return (request_id, nonce)
        try:
            return self.by_id.get(request_id)
        except TypeError:  # an unhashable id: nobody's
            return None


class Calls:
    """A transport's calls on one event loop: its request ids' keys on the loop's shared reply list."""

    def __init__(self, state: LoopState) -> None:
        self.state = state
        self.keys: dict[int, CallKey] = {}
        # Pushes made again after Redis' first answer refused them (full queue, missing script), by call.
        self.retries: dict[CallKey, PushRetry] = {}
        # The workers of its watched calls (detect_dead_workers), once it made one.
        self.workers: AioWorkerWatch | None = None


def forget_call(calls: Calls, request_id: Any) -> bool:
    """Stop waiting for one of a transport's requests on one loop; whether it was awaited there."""
    call_key = calls.keys.pop(request_id, None)
    if call_key is None:
        return False
    state = calls.state
    retry = calls.retries.pop(call_key, None)
    if retry is not None and retry.task is not None:
        retry.task.cancel()  # a request nobody waits for is not pushed later
    state.pending.forget(call_key)
    if state.by_id is not None and state.by_id.get(request_id) == call_key:
        del state.by_id[request_id]
    future = state.futures.pop(call_key, None)
    if future is not None:
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()  # read: aclose() fails it while its send may still be under way (and then fail)
    return True


class TimedOut(Exception):
    """A receive's timeout fired before its reply came."""
