"""Periodic tasks: declared on a server, run by exactly one worker of the fleet at each tick.

::

    class ReportServer(Server):
        service_name = "reports"
        periodic_tasks = [
            PeriodicTask("purge", purge_expired, every=60),          # each whole minute
            PeriodicTask("nightly", "build_nightly", cron="0 3 * * *"),  # a server method, 03:00 UTC
        ]

A task is a callable taking a :class:`TaskRun` (a function, a coroutine function, or the name of a
server method). See ``docs/periodic_tasks.rst`` for the guarantees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attr

from pysoa_like.fleet._callables import bind_to_server
from pysoa_like.periodic.schedule import Cron, Interval, Schedule

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["PeriodicTask", "TaskRun", "check_periodic_tasks"]

_TASK_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@attr.s(frozen=True, slots=True)
class PeriodicTask:
    """A task a service runs on a schedule: exactly one worker of the fleet runs each tick.

    Args:
        name: Unique within the service: letters, digits and ``_ . : -``.
        task: A callable taking the :class:`TaskRun` (sync or coroutine), or the name of a server method.
        every: Seconds between ticks (aligned on the Unix epoch), or ``None`` with ``cron``.
        cron: A five-field cron expression in UTC, or ``None`` with ``every``.
        offset: Shifts interval ticks (``every=3600, offset=900``: a quarter past each hour).
        lock_ttl_seconds: How long the run lock outlives a worker that died while running the task
            (``None``: the server's ``periodic.lock_ttl_seconds``).

    Raises:
        ValueError: A bad name, neither or both of ``every`` and ``cron``, or a bad schedule.
    """

    name: str = attr.ib()
    task: Callable[[TaskRun], Any] | str = attr.ib()
    every: float | None = attr.ib(default=None)
    cron: str | None = attr.ib(default=None)
    offset: float = attr.ib(default=0.0)
    lock_ttl_seconds: float | None = attr.ib(default=None)
    schedule: Schedule = attr.ib(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TASK_NAME.match(self.name):
            raise ValueError(
                f"Invalid periodic task name {self.name!r}: use 1 to 100 letters, digits and the characters _ . : -"
            )
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"Periodic task {self.name!r} needs exactly one of every= and cron=")
        schedule: Schedule = Interval(self.every, self.offset) if self.every is not None else Cron(str(self.cron))
        object.__setattr__(self, "schedule", schedule)
        if self.lock_ttl_seconds is not None and not self.lock_ttl_seconds > 0:
            raise ValueError(f"Periodic task {self.name!r}: lock_ttl_seconds must be above 0")

    def bind(self, server: Any) -> Callable[[TaskRun], Any]:
        """The callable to run for ``server``: the task, or the server's method it names.

        Raises:
            AttributeError: The server has no such method.
        """
        return bind_to_server(self.task, server, "for a periodic task")

    def missed_ticks(self, last: float, tick: float) -> int:
        """How many ticks fell strictly between ``last`` (the previous tick run) and ``tick`` (at most 10,000)."""
        count, moment = 0, self.schedule.next_tick(last)
        while moment < tick and count < 10_000:
            count += 1
            moment = self.schedule.next_tick(moment)
        return count


@attr.s(slots=True)
class TaskRun:
    """One run of a periodic task, given to the task.

    Attributes:
        name: The task name.
        tick: The tick being run (Unix time); the run starts at or shortly after it.
        missed_ticks: Ticks skipped since the previous run (the fleet was down, or a run was slower than
            the interval); 0 normally.
        server: The server running it.
    """

    name: str = attr.ib()
    tick: float = attr.ib()
    missed_ticks: int = attr.ib(default=0)
    server: Server | None = attr.ib(default=None, repr=False, eq=False)
    _client: Any = attr.ib(default=None, init=False, repr=False, eq=False)

    @property
    def client(self) -> Any:
        """A client for calls made by the task (a new correlation id per run).

        Raises:
            RuntimeError: The run has no server.
        """
        if self._client is None:
            if self.server is None:
                raise RuntimeError("This run has no server: it has no client")
            self._client = self.server.make_client({})
        return self._client


def check_periodic_tasks(server: Any, tasks: Sequence[PeriodicTask]) -> None:
    """Check a server's periodic tasks: objects of the right type, unique names, bindable.

    Raises:
        TypeError: An entry is not a :class:`PeriodicTask`.
        ValueError: Two tasks share a name.
        AttributeError: A task names a method the server does not have.
    """
    seen: set[str] = set()
    for task in tasks:
        if not isinstance(task, PeriodicTask):
            raise TypeError(f"periodic_tasks must hold PeriodicTask objects, not {type(task).__name__}")
        if task.name in seen:
            raise ValueError(f"Two periodic tasks are named {task.name!r}")
        seen.add(task.name)
        task.bind(server)
