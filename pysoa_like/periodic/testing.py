"""Running a periodic task in a test, without Redis and without waiting for its tick."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pysoa_like.fleet._callables import finish
from pysoa_like.periodic.tasks import TaskRun

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["run_periodic_task"]


def run_periodic_task(server: Server, name: str, tick: float | None = None, missed_ticks: int = 0) -> TaskRun:
    """Run one of ``server``'s periodic tasks now, in this thread (a coroutine to completion).

    Args:
        server: The server declaring the task.
        name: The task name.
        tick: The tick to pass (default: the latest tick of its schedule).
        missed_ticks: The missed ticks to pass.

    Returns:
        The run the task got.

    Raises:
        KeyError: The server has no task of that name.
        Exception: Whatever the task raised.
    """
    task = next((t for t in server.periodic_tasks if t.name == name), None)
    if task is None:
        raise KeyError(f"{type(server).__name__} has no periodic task {name!r}")
    run = TaskRun(name, task.schedule.previous_tick(time.time()) if tick is None else tick, missed_ticks, server)
    finish(task.bind(server)(run))
    return run
