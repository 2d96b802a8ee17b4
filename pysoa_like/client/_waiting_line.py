"""The line of asyncio calls waiting for a place in a full bulkhead, served in order, each on its own event loop.

A waiting ``AsyncClient`` call joins the line with a future of its loop. A call that leaves the bulkhead hands its
place straight to the first call in line (the count of calls in flight does not change) and wakes it, on its loop
(loops in several threads may share a client). So no newcomer takes a place ahead of the line, and a waiter
wakes once, when it holds a place: no polling. A waiter that gives up (its deadline, or cancelled) leaves the
line; if a place was handed to it in the meantime, it hands that place on, and it never gives back one it did
not take. Every method is called with the owning policies' lock held, except :meth:`WaitingLine.wait`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["WaitingLine"]


class _Waiter:
    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class WaitingLine:
    """The asyncio calls waiting for a place in one bulkhead, first come first served.

    Args:
        lock: The lock of the bulkhead's policies (held by the callers of :meth:`hand_on` and :meth:`__len__`).
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._waiters: deque[_Waiter] = deque()

    def __len__(self) -> int:
        return len(self._waiters)

    def hand_on(self) -> bool:
        """Give a freed place to the first call in line and wake it (the lock is held); whether one took it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.granted = True
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            try:
                if running is waiter.loop:
                    _wake(waiter.future)
                else:
                    waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:  # its loop is closed: that call is gone, the next one gets the place
                waiter.granted = False
                continue
            return True
        return False

    async def wait(self, try_enter: Callable[[], bool], free: Callable[[], None], wait_until: float) -> bool:
        """Wait in line for a place until ``wait_until`` (monotonic); whether one was taken (then it is the caller's).

        Args:
            try_enter: Takes a place now if there is room (called with the lock held).
            free: Frees a place (called with the lock held): a place handed to a call that gave up.
            wait_until: When to give up.
        """
        with self._lock:
            if not self._waiters and try_enter():
                return True
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            left = wait_until - time.monotonic()
            if left > 0:
                await asyncio.wait((waiter.future,), timeout=left)
        except BaseException:  # cancelled: a place handed over in the meantime goes on to the next in line
            with self._lock:
                if waiter.granted:
                    free()
                else:
                    self._waiters.remove(waiter)
            raise
        with self._lock:
            if waiter.granted:
                return True
            self._waiters.remove(waiter)
            return False
