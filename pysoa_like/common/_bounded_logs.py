"""Bounded log output for what peers can trigger: capped lines, repeated errors throttled.

A hostile or broken peer decides how often a receiver logs (one line per bad message) and what those lines
contain (values copied from its messages; quote them with :func:`~pysoa_like.common._short_text.short_repr`).
:class:`LogThrottle` lets only the first few lines of one kind through per interval and counts the rest, and
:func:`log_bounded` writes one line through a throttle, capped in length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from pysoa_like.common._short_text import cap_line

__all__ = ["LogThrottle", "log_bounded"]


class LogThrottle:
    """Lets the first ``burst`` lines of each kind through per ``interval`` seconds and counts the others.

    Thread-safe. The number of kinds remembered is bounded: past ``maximum_kinds`` the oldest windows are
    forgotten.

    Args:
        burst: Lines of one kind let through per interval.
        interval: The window, in seconds.
        clock: The time source (seconds, monotonic).
        maximum_kinds: How many kinds are tracked at most.
    """

    def __init__(
        self,
        burst: int = 5,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        maximum_kinds: int = 256,
    ) -> None:
        self.burst = burst
        self.interval = interval
        self._clock = clock
        self._maximum_kinds = maximum_kinds
        # kind -> [window start, lines let through in the window, lines held back since the last one let through]
        self._windows: dict[Hashable, list[float]] = {}
        self._lock = threading.Lock()

    def admit(self, kind: Hashable) -> int | None:
        """Whether a line of ``kind`` may be written now.

        Returns:
            None when it must be dropped; otherwise how many lines of this kind were dropped since the last
            one written (usually 0), for the line to mention.
        """
        now = self._clock()
        with self._lock:
            window = self._windows.get(kind)
            if window is None or now - window[0] >= self.interval:
                held_back = int(window[2]) if window is not None else 0
                if window is None and len(self._windows) >= self._maximum_kinds:
                    self._windows.pop(next(iter(self._windows)))
                self._windows[kind] = [now, 1, 0]
                return held_back
            if window[1] < self.burst:
                window[1] += 1
                held_back, window[2] = int(window[2]), 0
                return held_back
            window[2] += 1
            return None


def log_bounded(
    logger: logging.Logger,
    level: int,
    throttle: LogThrottle,
    kind: Hashable,
    template: str,
    *args: object,
) -> bool:
    """Log one line of ``kind`` unless the throttle holds it back, capped in length (``cap_line``).

    Args:
        logger: Where to log.
        level: The level.
        throttle: Decides whether the line is written.
        kind: What makes two lines "the same error" (a reason code, say).
        template: A ``%``-format string.
        args: Its arguments (pass peer-supplied values through :func:`short_repr`).

    Returns:
        Whether the line was written.
    """
    if not logger.isEnabledFor(level):
        return False
    held_back = throttle.admit(kind)
    if held_back is None:
        return False
    text = cap_line(template % args if args else template)
    if held_back:
        text += f" ({held_back} similar lines suppressed)"
    logger.log(level, "%s", text)
    return True
