"""Graceful shutdown on ``SIGINT``/``SIGTERM`` for a server worker.

The first signal asks the server to stop after the job in progress. A second signal forces the
process out (``SystemExit(1)``), except that a second signal arriving within one second of the
first is ignored as a duplicate: Ctrl+C (or ``kill -TERM -<pgid>``) reaches a whole process group
while the supervising parent forwards a ``SIGTERM`` to its workers at the same moment. PySOA
ignored only the *other* one of ``SIGINT``/``SIGTERM``; a repeated ``SIGTERM`` sent to the group
forced its workers out in the middle of a job.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["DUPLICATE_SIGNAL_WINDOW_SECONDS", "ShutdownSignalHandler"]

#: How long a second shutdown signal counts as a duplicate of the first.
DUPLICATE_SIGNAL_WINDOW_SECONDS = 1.0

_SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownSignalHandler:
    """Decides what each shutdown signal means and installs itself for SIGINT and SIGTERM.

    Args:
        request_shutdown: Called on the first signal (the server sets ``shutting_down``).
        logger: Where decisions are logged.
        clock: A monotonic clock (tests replace it).
    """

    def __init__(
        self,
        request_shutdown: Callable[[], None],
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._request_shutdown = request_shutdown
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self.first_signal: int | None = None
        self._first_signal_at = 0.0
        self._previous: dict[int, Any] = {}

    def install(self, handler: Callable[[int, FrameType | None], Any] | None = None) -> None:
        """Install the handler for SIGINT and SIGTERM (main thread only).

        Args:
            handler: What the signals call instead of :meth:`handle` (the server's overridable
                ``handle_shutdown_signal``, which calls :meth:`handle` by default).
        """
        for signum in _SHUTDOWN_SIGNALS:
            self._previous[signum] = signal.signal(signum, handler or self.handle)

    def uninstall(self) -> None:
        """Restore the handlers that were installed before :meth:`install`."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler.

        Raises:
            SystemExit: On a second (non-duplicate) signal, with code 1.
        """
        # Non-blocking: a signal arriving while the handler runs must not deadlock the main thread.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self.first_signal is None:
                self.first_signal = signum
                self._first_signal_at = self._clock()
                self._logger.info("Received signal %s; shutting down after the current job", _name(signum))
                self._request_shutdown()
                return
            if self._clock() - self._first_signal_at < DUPLICATE_SIGNAL_WINDOW_SECONDS:
                self._logger.info("Ignoring %s right after %s (a duplicate)", _name(signum), _name(self.first_signal))
                return
            self._logger.warning("Received signal %s while shutting down; forcing exit", _name(signum))
        finally:
            self._lock.release()
        raise SystemExit(1)


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
