"""The server's asyncio event loop thread, behind ``request.run_coroutine``.

The thread starts lazily on the first ``run_coroutine`` call, so it works wherever a server
handles requests (``run()``, the local transport, test helpers); PySOA started it only in
``run()``. :meth:`AsyncEventLoopThread.stop` lets pending tasks finish (up to a grace period),
then stops and closes the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.server.coroutine import CoroutineMiddleware

__all__ = ["AsyncEventLoopThread", "submit_in_context"]

_logger = logging.getLogger("pysoa_like.async")

_T = TypeVar("_T")


async def _in_context(context: contextvars.Context, awaitable: Awaitable[_T]) -> _T:
    # A task copies the context current when it is created: made inside context.run, it sees the caller's
    # context variables (request logging context, current identity, job deadline). Cancelling the outer
    # task cancels this one.
    task: asyncio.Future[_T] = context.run(asyncio.ensure_future, awaitable)
    return await task


def submit_in_context(
    loop: asyncio.AbstractEventLoop, awaitable: Awaitable[_T], context: contextvars.Context
) -> concurrent.futures.Future[_T]:
    """Run ``awaitable`` on ``loop`` (from another thread) in a task of ``context``; cancel the future to cancel it.

    Args:
        loop: A running loop of another thread.
        awaitable: What to await there.
        context: The context variables its task runs with (a copy of the caller's, usually).

    Returns:
        A future of its result.
    """
    return asyncio.run_coroutine_threadsafe(_in_context(context, awaitable), loop)


class AsyncEventLoopThread:
    """Runs an asyncio loop in a daemon thread and schedules coroutines on it.

    Args:
        coroutine_middleware: Middleware applied to every scheduled coroutine.
        stop_grace_seconds: How long :meth:`stop` waits for pending tasks before cancelling them.
    """

    def __init__(
        self, coroutine_middleware: Sequence[CoroutineMiddleware] = (), stop_grace_seconds: float = 5.0
    ) -> None:
        self._middleware = tuple(coroutine_middleware)
        self._stop_grace_seconds = stop_grace_seconds
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def is_running(self) -> bool:
        """Whether the loop thread has been started and not yet stopped."""
        return self._thread is not None and self._thread.is_alive()

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                new_loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run_loop, args=(new_loop, ready), name="pysoa-like-async", daemon=True
                )
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = new_loop
            return self._loop

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Schedule ``coroutine`` on the loop thread (starting it if needed).

        Args:
            coroutine: The coroutine to run.

        Returns:
            A future for its result.
        """
        for middleware in self._middleware:
            middleware.before_run_coroutine()
        wrapped = build_middleware_stack((m.coroutine for m in self._middleware), coroutine)
        return asyncio.run_coroutine_threadsafe(wrapped, self._ensure_started())

    def run_in_context(self, awaitable: Awaitable[_T], context: contextvars.Context) -> concurrent.futures.Future[_T]:
        """Run ``awaitable`` on the loop thread (starting it if needed) in a task of ``context``.

        Unlike :meth:`run_coroutine`, no coroutine middleware applies: the server runs coroutine actions
        this way when it handles one job at a time.
        """
        return submit_in_context(self._ensure_started(), awaitable, context)

    def stop(self) -> None:
        """Let pending tasks finish (cancelling them after the grace period), stop the loop and join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._drain(), loop).result(self._stop_grace_seconds + 1)
        except Exception:
            _logger.warning("Pending coroutines did not finish cleanly before the event loop stopped", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self._stop_grace_seconds)

    async def _drain(self) -> None:
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        if not pending:
            return
        _, still_pending = await asyncio.wait(pending, timeout=self._stop_grace_seconds)
        for task in still_pending:
            task.cancel()
        if still_pending:
            await asyncio.wait(still_pending, timeout=1)
