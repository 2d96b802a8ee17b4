"""Assertions shared by the Redis process tests."""

from __future__ import annotations

import os
import time


def pid_is_gone(pid: int, timeout: float = 5.0) -> bool:
    """Tell whether no process with ``pid`` exists (waiting up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
