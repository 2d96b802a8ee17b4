"""What the dashboard knows: the latest registry snapshot, the history of rates and the recent errors.

:class:`DashboardState` reads Redis only (blocking redis-py calls, run in a thread by the app): the
service registry, each service's request-queue depth, its recent errors and its published actions.
It never sends a service a request, so watching a fleet does not change what it does.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pysoa_like.dashboard._history import RateHistory
from pysoa_like.fleet.errors import FleetError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.records import RecentError, ServiceInfo
from pysoa_like.registry.store import RegistryStore

__all__ = ["DashboardState"]

_logger = logging.getLogger("pysoa_like.dashboard")

# The recent errors read per service and shown in all.
_ERRORS_SHOWN = 50
# "Calls per second" in the services table: over the last this many seconds.
_RATE_SECONDS = 60.0
# How often the request-queue keys are scanned for services that do not register (a SCAN walks all keys).
QUEUE_SCAN_SECONDS = 30.0


class DashboardState:
    """The dashboard's view of one fleet, refreshed by :meth:`poll`.

    Args:
        fleet: The Redis holding the registry (and the request queues).
        resolution: Seconds per chart point.
        window: Seconds of history shown.
        clock: The wall clock (tests pass their own).
        queue_scan: Seconds between two scans of the request-queue keys, which find the services that
            do not register (PySOA 1.4.9 workers, the registry turned off) while requests wait for them.
    """

    def __init__(
        self,
        fleet: FleetRedis,
        resolution: float = 5.0,
        window: float = 900.0,
        clock: Any = time.time,
        queue_scan: float = QUEUE_SCAN_SECONDS,
    ) -> None:
        self.fleet = fleet
        self.store = RegistryStore(fleet)
        self.clock = clock
        self.started_at: float = clock()
        self.history = RateHistory(resolution, window, self.started_at)
        self._lock = threading.Lock()
        self._services: list[ServiceInfo] = []
        self._errors: list[RecentError] = []
        self._problem: str | None = None
        self._polled_at: float | None = None
        self.queue_scan = queue_scan
        self._scanned_at: float | None = None
        self._queued_only: list[str] = []
        self._registered: set[str] = set()

    def poll(self) -> None:
        """Read the registry, queue depths and recent errors once.

        A Redis failure, or any other error, is kept as the problem the page shows; the next poll tries again.
        """
        try:
            # Every service with a worker alive within the last hour: one that died is shown with no instance.
            registered = set(self.store.service_names())
            if self._scanned_at is None or self.clock() - self._scanned_at >= self.queue_scan:
                self._queued_only = self.store.queued_services()
                self._scanned_at = self.clock()
            names = sorted(registered | set(self.history.services) | set(self._queued_only))
            services = self.store.list_services(names) if names else []
            errors = [error for name in names for error in self.store.recent_errors(name, _ERRORS_SHOWN)]
        except FleetError as exc:
            with self._lock:
                self._problem = str(exc)
            return
        except Exception as exc:
            # Whatever else goes wrong (a record no reader expected) must not end the polling for good.
            _logger.exception("Reading the registry failed")
            with self._lock:
                self._problem = f"reading the registry failed: {type(exc).__name__}: {exc}"
            return
        now = self.clock()
        errors.sort(key=lambda error: error.time, reverse=True)
        with self._lock:
            self.history.observe(services, now)
            self._services = services
            self._errors = errors[:_ERRORS_SHOWN]
            self._problem = None
            self._polled_at = now
            self._registered = registered

    def overview(self) -> dict[str, Any]:
        """The JSON the page polls: services and instances, chart series, recent errors, problems."""
        now = self.clock()
        with self._lock:
            services = [self._describe(service, now) for service in self._services]
            return {
                "now": now,
                "polled_at": self._polled_at,
                "problem": self._problem,
                "services": services,
                "series": self.history.series(now),
                "recent_errors": [error.to_dict() for error in self._errors],
            }

    def _describe(self, service: ServiceInfo, now: float) -> dict[str, Any]:
        summary = service.to_dict()
        for described, instance in zip(summary["instances"], service.instances, strict=True):
            described["refreshed_at"] = instance.refreshed_at
        jobs, failed, seconds = self.history.totals(service.name, now, _RATE_SECONDS)
        summary.update(
            calls_per_second=round(jobs / seconds, 3) if seconds else None,
            errors_per_second=round(failed / seconds, 3) if seconds else None,
            error_ratio=round(failed / jobs, 4) if jobs else None,
            jobs_handled=sum(instance.jobs_handled for instance in service.instances),
            jobs_failed=sum(instance.jobs_failed for instance in service.instances),
            actions=sorted({action for instance in service.instances for action in instance.actions}),
            registered=service.name in self._registered,
        )
        return summary

    def actions(self, service: str) -> dict[str, Any]:
        """The actions of ``service`` with their schemas, as its workers published them, per version.

        Raises:
            FleetConnectionError: Redis failed.
        """
        return {"service": service, "versions": self.store.actions(service)}
