"""CPU time of processes read from ``/proc/<pid>/stat`` (Linux), for CPU-per-call figures.

``utime`` and ``stime`` are fields 14 and 15 of the stat line, in clock ticks (usually 1/100 s). The
process name (field 2) may hold spaces and parentheses, so fields are counted after the last ``)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["CLOCK_TICKS", "cpu_seconds", "cpu_snapshot"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` (all its threads).

    Args:
        pid: A running process (``os.getpid()`` for this one).

    Returns:
        ``utime + stime`` in seconds, at clock-tick resolution.

    Raises:
        OSError: If the process does not exist or ``/proc`` is not available.
    """
    with open(f"/proc/{pid}/stat", "rb") as stream:
        line = stream.read()
    fields = line[line.rindex(b")") + 2 :].split()
    # After the name, field 3 (state) is index 0, so utime (14) and stime (15) are indexes 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot(pids: Iterable[int]) -> list[float]:
    """:func:`cpu_seconds` of each of ``pids``, in order."""
    return [cpu_seconds(pid) for pid in pids]
