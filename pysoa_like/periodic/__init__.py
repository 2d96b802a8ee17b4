"""Periodic tasks: run by exactly one worker of the fleet at each tick, whatever the number of workers.

See ``docs/periodic_tasks.rst``::

    from pysoa_like.periodic import PeriodicTask

    class ReportServer(Server):
        service_name = "reports"
        periodic_tasks = [PeriodicTask("purge", purge_expired, every=60)]
"""

from __future__ import annotations

from pysoa_like.periodic.schedule import Cron, Interval, Schedule
from pysoa_like.periodic.tasks import PeriodicTask, TaskRun

__all__ = ["Cron", "Interval", "PeriodicTask", "Schedule", "TaskRun"]
