"""Calls, errors and queue depths per service over the last minutes, rebuilt from registry snapshots.

Pure: no I/O, no clock (every method takes the time). Workers publish two running counts in their
registry entries (``jobs_handled`` and ``jobs_failed``, as of each refresh, with the refresh's time
by the Redis clock). The difference between two refreshes of one worker is spread evenly over the
time between them and added to fixed time buckets of ``resolution`` seconds, so the rates are exact
per refresh interval whatever the polling rhythm, and a dashboard polling faster than the workers
refresh sees no spikes. A bucket is shown once every live worker of the service has refreshed past
its end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attr

from pysoa_like.registry.records import InstanceInfo, ServiceInfo

__all__ = ["RateHistory"]


@attr.s(slots=True, auto_attribs=True)
class _Seen:
    """What one worker's entry said at its last refresh that the dashboard saw."""

    service: str
    refreshed_at: float
    handled: int
    failed: int


@attr.s(slots=True, auto_attribs=True)
class _Series:
    """One service's buckets: index (time // resolution) -> [jobs, failed jobs], and queue depths."""

    jobs: dict[int, list[float]] = attr.ib(factory=dict)
    queued: dict[int, int] = attr.ib(factory=dict)
    # Every bucket ending at or before this time is complete (all live workers refreshed past it).
    complete_until: float = 0.0
    last_seen: float = 0.0


class RateHistory:
    """Jobs and failed jobs per second and queue depths, per service, over a sliding window.

    Args:
        resolution: Seconds per bucket (one chart point).
        window: Seconds of history kept and shown.
        started_at: When the dashboard started (Unix time): counts of workers started before it are a
            baseline, not calls it saw.
    """

    def __init__(self, resolution: float, window: float, started_at: float) -> None:
        if resolution <= 0 or window < resolution:
            raise ValueError("resolution must be positive and window at least one resolution")
        self.resolution = float(resolution)
        self.window = float(window)
        self.started_at = float(started_at)
        self._seen: dict[str, _Seen] = {}
        self._series: dict[str, _Series] = {}

    @property
    def services(self) -> list[str]:
        """The services seen within the window, sorted."""
        return sorted(self._series)

    def observe(self, services: Iterable[ServiceInfo], now: float) -> None:
        """Take one registry snapshot (services with their live instances and queue depths) read at ``now``."""
        for service in services:
            series = self._series.setdefault(service.name, _Series())
            series.last_seen = now
            bucket = self._bucket(now)
            if service.queue_depth is not None:
                series.queued[bucket] = max(series.queued.get(bucket, 0), service.queue_depth)
            complete = now
            for instance in service.instances:
                self._observe_instance(series, instance)
                complete = min(complete, instance.refreshed_at)
            series.complete_until = max(series.complete_until, complete)
        self._forget(now)

    def _observe_instance(self, series: _Series, instance: InstanceInfo) -> None:
        refreshed = instance.refreshed_at
        seen = self._seen.get(instance.instance_id)
        if seen is None:
            self._seen[instance.instance_id] = _Seen(
                instance.service, refreshed, instance.jobs_handled, instance.jobs_failed
            )
            if instance.started_at >= self.started_at and refreshed > instance.started_at:
                # Started while the dashboard watched: all its jobs are new.
                self._spread(series, instance.started_at, refreshed, instance.jobs_handled, instance.jobs_failed)
            return
        if refreshed <= seen.refreshed_at:
            return
        handled = instance.jobs_handled - seen.handled
        failed = instance.jobs_failed - seen.failed
        if handled < 0 or failed < 0:  # counters restarted (should not happen: a new run has a new id)
            handled, failed = instance.jobs_handled, instance.jobs_failed
        self._spread(series, seen.refreshed_at, refreshed, handled, failed)
        seen.refreshed_at, seen.handled, seen.failed = refreshed, instance.jobs_handled, instance.jobs_failed

    def _bucket(self, moment: float) -> int:
        return math.floor(moment / self.resolution)

    def _spread(self, series: _Series, start: float, end: float, handled: int, failed: int) -> None:
        """Add counts that happened between ``start`` and ``end`` to the buckets, in proportion to time."""
        if handled == 0 and failed == 0:
            return
        # Counts seen after the dashboard started go to the buckets it charts: a worker refreshed just
        # before the start would otherwise put part of the next refresh's counts into uncharted buckets.
        start = max(start, end - self.window, min(self.started_at, end))
        span = end - start
        first, last = self._bucket(start), self._bucket(end)
        for index in range(first, last + 1):
            overlap = min(end, (index + 1) * self.resolution) - max(start, index * self.resolution)
            share = 1.0 if span <= 0 else max(overlap, 0.0) / span
            if share <= 0:
                continue
            counts = series.jobs.setdefault(index, [0.0, 0.0])
            counts[0] += handled * share
            counts[1] += failed * share

    def _forget(self, now: float) -> None:
        oldest = self._bucket(now - self.window) - 1
        for name in list(self._series):
            series = self._series[name]
            if series.last_seen < now - self.window:
                del self._series[name]
                continue
            for buckets in (series.jobs, series.queued):
                for index in [i for i in buckets if i < oldest]:
                    del buckets[index]
        for instance_id in [i for i, seen in self._seen.items() if seen.refreshed_at < now - 2 * self.window]:
            del self._seen[instance_id]

    def series(self, now: float) -> dict[str, Any]:
        """The chart data: bucket times and, per service, jobs/s, failed jobs/s and queue depths.

        Returns:
            ``{"start": first bucket's start, "step": resolution, "count": number of buckets, "services":
            {name: {"calls": [...], "errors": [...], "queued": [...]}}}``. Rates are per second; a
            bucket not yet complete (some worker has not refreshed past it) or before the dashboard
            started is ``None``; a queue depth never sampled in a bucket is ``None``.
        """
        last = self._bucket(now) - 1  # the current bucket is still filling
        count = max(int(self.window / self.resolution), 1)
        first = last - count + 1
        known_from = self._bucket(self.started_at)
        services: dict[str, Any] = {}
        for name, series in sorted(self._series.items()):
            calls: list[float | None] = []
            errors: list[float | None] = []
            queued: list[int | None] = []
            for index in range(first, last + 1):
                queued.append(series.queued.get(index))
                if index < known_from or (index + 1) * self.resolution > series.complete_until:
                    calls.append(None)
                    errors.append(None)
                    continue
                jobs, failed = series.jobs.get(index, (0.0, 0.0))
                calls.append(round(jobs / self.resolution, 3))
                errors.append(round(failed / self.resolution, 3))
            services[name] = {"calls": calls, "errors": errors, "queued": queued}
        return {"start": first * self.resolution, "step": self.resolution, "count": count, "services": services}

    def totals(self, name: str, now: float, seconds: float) -> tuple[float, float, float]:
        """Jobs and failed jobs of ``name`` in the complete buckets of the last ``seconds``, and the seconds covered.

        Only buckets since the dashboard started count (the covered seconds say how many); ``(0, 0, 0)``
        for a service not seen.
        """
        series = self._series.get(name)
        if series is None:
            return 0.0, 0.0, 0.0
        last = self._bucket(min(now, series.complete_until)) - 1
        first = max(self._bucket(now - seconds), self._bucket(self.started_at))
        jobs = failed = 0.0
        for index in range(first, last + 1):
            counts = series.jobs.get(index)
            if counts is not None:
                jobs += counts[0]
                failed += counts[1]
        return jobs, failed, max(last - first + 1, 0) * self.resolution
