"""Harakiri: interrupting a worker stuck on one request (``SIGALRM``).

Before each receive/process cycle the server arms an alarm of ``harakiri.timeout`` seconds. If it
fires, every thread's stack is logged, a second alarm of ``harakiri.shutdown_grace`` seconds is
armed, the server is told to shut down and :class:`HarakiriInterrupt` is raised in the main thread,
so the action (or job middleware) in progress is abandoned and the waiting client is answered with
``ACTION_TIMEOUT`` (or ``JOB_TIMEOUT``). If the grace alarm fires too, the process exits at once
(``os._exit(1)``) after giving the ``atexit`` functions up to five seconds.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["Harakiri", "HarakiriInterrupt", "format_thread_stacks"]

# How long the emergency exit lets atexit functions run.
_ATEXIT_GRACE_SECONDS = 5.0


class HarakiriInterrupt(BaseException):
    """Raised in the main thread when a request outlives ``harakiri.timeout``.

    A ``BaseException`` so that actions catching ``Exception`` do not swallow it.
    """


def format_thread_stacks() -> str:
    """The current stack of every thread, formatted for a log line."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts: list[str] = []
    for ident, frame in sys._current_frames().items():
        parts.append(f"Thread {names.get(ident, '?')} ({ident}):\n{''.join(traceback.format_stack(frame))}")
    return "\n".join(parts)


class Harakiri:
    """Arms ``SIGALRM`` around each request cycle and handles it when it fires.

    Args:
        timeout: Seconds a cycle may take; ``0`` disables harakiri.
        shutdown_grace: Seconds allowed for a graceful exit once harakiri fired (``0``: none).
        on_harakiri: Called (in the main thread) when the first alarm fires, before the interrupt is
            raised; the server sets ``shutting_down`` and counts the metric there.
        logger: Where stacks and decisions are logged.
        exit_function: What the emergency exit calls (``os._exit`` by default; tests replace it).
        run_exit_functions: Runs the ``atexit`` functions before the emergency exit
            (``atexit._run_exitfuncs`` by default; tests replace it, since running the real ones
            inside a test process would disable every ``weakref.finalize`` of that process).
    """

    def __init__(
        self,
        timeout: float,
        shutdown_grace: float,
        on_harakiri: Callable[[], None],
        logger: logging.Logger,
        exit_function: Callable[[int], Any] = os._exit,
        run_exit_functions: Callable[[], Any] = atexit._run_exitfuncs,
    ) -> None:
        self.timeout = timeout
        self.shutdown_grace = shutdown_grace
        self._on_harakiri = on_harakiri
        self._logger = logger
        self._exit = exit_function
        self._run_exit_functions = run_exit_functions
        self.fired = False
        self._previous_handler: Any = None
        self._previous_timer = 0.0
        self._installed_at = 0.0
        self._installed = False

    @property
    def enabled(self) -> bool:
        """Whether harakiri is on (a positive timeout)."""
        return self.timeout > 0

    def install(self, handler: Callable[[int, FrameType | None], Any] | None = None) -> None:
        """Install the ``SIGALRM`` handler (main thread only; a no-op when disabled).

        Args:
            handler: What the alarm calls instead of :meth:`handle_alarm` (the server's overridable
                ``harakiri``, which calls :meth:`handle_alarm` by default).
        """
        if self.enabled and not self._installed:
            # Someone else's pending alarm (a test runner's timeout, say) is re-armed by uninstall().
            self._previous_timer = signal.getitimer(signal.ITIMER_REAL)[0]
            self._installed_at = time.monotonic()
            self._previous_handler = signal.signal(signal.SIGALRM, handler or self.handle_alarm)
            self._installed = True

    def uninstall(self) -> None:
        """Cancel any alarm and restore the previous ``SIGALRM`` handler."""
        if self._installed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler or signal.SIG_DFL)
            self._installed = False
            if self._previous_timer > 0:
                remaining = self._previous_timer - (time.monotonic() - self._installed_at)
                signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001))

    def arm(self) -> None:
        """Start (or restart) the timeout for one receive/process cycle."""
        if self._installed and not self.fired:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)

    def disarm(self) -> None:
        """Cancel the pending alarm (not once harakiri fired: the grace alarm must stay armed)."""
        if self._installed and not self.fired:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def handle_alarm(self, signum: int, frame: FrameType | None) -> None:
        """The ``SIGALRM`` handler: interrupt the stuck request, or exit if already shutting down.

        Raises:
            HarakiriInterrupt: On the first alarm.
        """
        if self.fired:
            self._logger.error("Graceful shutdown after harakiri took too long; exiting the process immediately")
            self._emergency_exit()
            return
        self.fired = True
        self._logger.error(
            "Harakiri: a request took more than %s seconds; interrupting it. Thread stacks:\n%s",
            self.timeout,
            format_thread_stacks(),
        )
        if self.shutdown_grace > 0:
            signal.setitimer(signal.ITIMER_REAL, self.shutdown_grace)
        self._on_harakiri()
        raise HarakiriInterrupt()

    def emergency_exit(self) -> None:
        """Exit the process at once (status 1), giving the ``atexit`` functions five seconds first."""
        self._emergency_exit()

    def _emergency_exit(self) -> None:
        # atexit functions may hang too, so they get a bounded chance in a daemon thread.
        thread = threading.Thread(target=self._run_exit_functions, name="pysoa-like-harakiri-atexit", daemon=True)
        thread.start()
        thread.join(_ATEXIT_GRACE_SECONDS)
        self._exit(1)
