"""How a worker rides out a transport outage (Redis down, restarting, failing over): back off, never give up.

A worker whose receive fails with a transient transport error waits and tries again, with PySOA's exponential
schedule (``(2**n + random()) / 4`` seconds before attempt n + 2: 0.25, 0.5, 1 s, ...) capped at
:data:`MAXIMUM_BACKOFF_SECONDS`, for as long as it takes. It logs one line when the outage starts and one when it
ends (not one per attempt), and reports whether it is ready (its last receive worked) to whoever listens: the
``server.worker.ready`` gauge and the readiness file. Only a signal stops it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

__all__ = ["MAXIMUM_BACKOFF_SECONDS", "OutageTracker", "outage_backoff_seconds"]

#: The longest wait between two attempts, so a worker is back at most this long after its transport is.
MAXIMUM_BACKOFF_SECONDS = 2.0


def outage_backoff_seconds(failures_so_far: int, random_value: Callable[[], float] = random.random) -> float:
    """How long to wait after a transient failure, given how many came before it in this outage.

    Args:
        failures_so_far: 0 after the first failure, 1 after the second, and so on.
        random_value: The jitter source, in [0, 1).

    Returns:
        ``(2**failures_so_far + random_value()) / 4`` seconds (0.25 to 0.5 after the first failure, as PySOA),
        at most :data:`MAXIMUM_BACKOFF_SECONDS`.
    """
    exponent = min(failures_so_far, 8)
    delay: float = (2**exponent + random_value()) / 4.0
    return min(delay, MAXIMUM_BACKOFF_SECONDS)


class OutageTracker:
    """Follows a worker's transport through outages: when to try again, what to log, whether it is ready.

    Args:
        logger: Where the two lines of an outage go (WARNING when it starts, INFO when it ends).
        on_readiness: Called with the new readiness whenever it changes.
        clock: The time source (seconds, monotonic).
        random_value: The backoff's jitter source.
    """

    def __init__(
        self,
        logger: logging.Logger,
        on_readiness: Callable[[bool], None],
        clock: Callable[[], float] = time.monotonic,
        random_value: Callable[[], float] = random.random,
    ) -> None:
        self._logger = logger
        self._on_readiness = on_readiness
        self._clock = clock
        self._random_value = random_value
        #: Whether the last attempt worked (None before the first one).
        self.ready: bool | None = None
        self._failures = 0
        self._since = 0.0

    def succeeded(self) -> None:
        """Record a receive that worked (a request, or an idle timeout: either way the transport answered)."""
        if self.ready:
            return
        if self.ready is False:
            self._logger.info(
                "Transport available again after %.1f s (%d failed attempts); serving",
                self._clock() - self._since,
                self._failures,
            )
        self.ready = True
        self._failures = 0
        self._on_readiness(True)

    def failed(self, error: Exception) -> float:
        """Record a transient failure.

        Returns:
            How long to wait before the next attempt.
        """
        if self.ready is not False:
            self._since = self._clock()
            self._logger.warning(
                "Transport unavailable (%s); retrying with backoff (0.25 s, then doubling up to %.0f s) until it is "
                "back",
                error,
                MAXIMUM_BACKOFF_SECONDS,
            )
            self.ready = False
            self._on_readiness(False)
        delay = outage_backoff_seconds(self._failures, self._random_value)
        self._failures += 1
        return delay
