"""``detect_dead_workers`` for the asyncio Redis driver: a task per transport and event loop that watches workers.

The protocol is the blocking driver's (see :mod:`pysoa_like.core.worker_watch`, whose :class:`WatchedRequests`
makes the decisions here too): a watched request carries ``meta.watch_worker``, and the worker that takes it keeps
a liveness key for it until it has pushed the reply. What is asyncio's own is where the looking happens. The
calls themselves only wait for their futures; while any watched call of a transport waits, one
:class:`AioWorkerWatch` task looks every :data:`~pysoa_like.core.worker_watch.WATCH_CHECK_SECONDS` whether the
liveness keys exist (every ``EXISTS`` of a look written together, on the loop's push connections). A key seen and
then gone while the call still waits means the worker ended without answering, unless the reply is on its way:
the worker pushes the reply before it deletes the key, and the loop's reply reader hands it over as soon as it
pops it. So the task gives the reader :data:`_LAST_LOOK_SECONDS`, then asks whether the reply list is empty, and
only then ends the call with the ``WORKER_DIED`` job error (a list with replies in it is looked at again at the
next check).

Nothing here blocks the loop, and every Redis wait has a deadline: a look is bounded by the check interval, and a
Redis that does not answer it in time (or fails) leaves the calls waiting as they were, for their own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.redis_gateway._aio_connection import RedisConnectionError
from pysoa_like.core.worker_watch import WATCH_CHECK_SECONDS, WatchedRequests, WatchVerdict, worker_died_body

__all__ = ["AioWorkerWatch"]

_logger = logging.getLogger("pysoa_like.transport")
# How long the reply reader gets to hand over a reply pushed just before its worker's liveness key went away.
_LAST_LOOK_SECONDS = 0.25


class AioWorkerWatch:
    """The watched calls of one transport on one event loop, and the task that checks their workers.

    Args:
        state: The loop's reply-list state (``futures`` by call key, ``pool``, ``reply_key``).
        died: Called once for each call ended with ``WORKER_DIED`` (the transport counts it).
    """

    def __init__(self, state: Any, died: Callable[[], None]) -> None:
        self._state = state
        self._died = died
        self._watched = WatchedRequests()
        # Call key -> the request id the call's transport knows it by (what its WORKER_DIED answer carries).
        self._request_ids: dict[Any, int] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, call_key: Any, request_id: int, key: str) -> None:
        """Watch the worker of a call whose request was pushed, through the liveness key ``key``."""
        self._watched.watch(call_key, key)
        self._request_ids[call_key] = request_id
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def close(self) -> None:
        """Stop watching (the transport is closed on this loop)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        try:
            while self._prune():
                await asyncio.sleep(WATCH_CHECK_SECONDS)
                if not self._prune():
                    break
                try:
                    gone = await self._look()
                    if gone:
                        await self._settle(gone)
                except Exception:
                    # Not expected (Redis' failures are handled above); the calls keep their own timeouts.
                    _logger.warning("Could not look at the workers of the waiting calls", exc_info=True)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def _waiting(self, call_key: Any) -> asyncio.Future[ReceivedMessage] | None:
        future: asyncio.Future[ReceivedMessage] | None = self._state.futures.get(call_key)
        return None if future is None or future.done() else future

    def _forget(self, call_key: Any) -> None:
        self._watched.forget(call_key)
        self._request_ids.pop(call_key, None)

    def _prune(self) -> bool:
        """Forget the calls that ended (answered, timed out, cancelled); whether any watched call still waits."""
        for call_key, _key in self._watched.watched():
            if self._waiting(call_key) is None:
                self._forget(call_key)
        return bool(self._watched)

    async def _look(self) -> list[Any]:
        """One look at every watched call's liveness key; the calls whose key was seen and is gone."""
        watched = list(self._watched.watched())
        pool = self._state.pool
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(
                    *(self._exists(pool, key) for _call_key, key in watched),
                    return_exceptions=True,
                ),
                WATCH_CHECK_SECONDS,
            )
        except asyncio.TimeoutError:
            return []  # Redis is slow: the calls wait as they were, and the next look asks again
        gone = []
        for (call_key, _key), exists in zip(watched, answers, strict=True):
            if not isinstance(exists, int) or self._waiting(call_key) is None:
                continue  # cannot tell now (an error), or the call just ended
            if self._watched.observe(call_key, bool(exists)) is WatchVerdict.GONE:
                gone.append(call_key)
        return gone

    @staticmethod
    async def _exists(pool: Any, key: str) -> int | None:
        reply = await pool.execute_at(await pool.slot_of(key), ("EXISTS", key), WATCH_CHECK_SECONDS)
        return reply if isinstance(reply, int) else None

    async def _replies_waiting(self) -> Any:
        pool = self._state.pool
        reply_key = self._state.reply_key
        return await pool.execute_at(await pool.slot_of(reply_key), ("LLEN", reply_key), WATCH_CHECK_SECONDS)

    async def _settle(self, gone: list[Any]) -> None:
        """End the calls whose worker is gone without a reply (after a last look), with ``WORKER_DIED``."""
        await asyncio.sleep(_LAST_LOOK_SECONDS)
        gone = [call_key for call_key in gone if self._waiting(call_key) is not None]
        if not gone:
            return
        try:
            waiting_replies = await asyncio.wait_for(self._replies_waiting(), WATCH_CHECK_SECONDS)
        except (RedisConnectionError, asyncio.TimeoutError):
            return  # cannot tell now: looked at again at the next check
        if waiting_replies != 0:
            return  # a reply may be one of these calls': the reader takes it, or the next check decides
        for call_key in gone:
            future = self._waiting(call_key)
            request_id = self._request_ids.get(call_key)
            self._forget(call_key)
            if future is not None and request_id is not None:
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_result(ReceivedMessage(request_id, {}, worker_died_body()))
                self._died()
