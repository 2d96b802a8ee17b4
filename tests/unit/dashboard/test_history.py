"""RateHistory: calls and errors per second rebuilt from the registry's per-worker counts (no I/O, no clock)."""

from __future__ import annotations

import pytest

from pysoa_like.dashboard import RateHistory
from pysoa_like.registry.records import InstanceInfo, ServiceInfo

START = 1000.0


def _snapshot(
    *workers: tuple[str, float, int, int], queued: int | None = 0, started_at: float = 0.0, name: str = "orders"
) -> list[ServiceInfo]:
    """One service whose workers are (instance id, refreshed at, jobs handled, jobs failed)."""
    instances = tuple(
        InstanceInfo(
            service=name,
            instance_id=instance_id,
            started_at=started_at,
            jobs_handled=handled,
            jobs_failed=failed,
            ttl_seconds=10.0,
            expires_at=refreshed + 10.0,
        )
        for instance_id, refreshed, handled, failed in workers
    )
    return [ServiceInfo(name, instances, queued)]


def test_counts_between_two_refreshes_are_spread_over_the_time_between_them() -> None:
    """20 jobs between refreshes 4 s apart are 5 jobs/s in each of the four 1-second buckets."""
    history = RateHistory(1.0, 60.0, START)
    history.observe(_snapshot(("a", 1001.0, 100, 7)), 1001.5)
    history.observe(_snapshot(("a", 1005.0, 120, 9)), 1006.5)
    series = history.series(1006.5)
    calls = series["services"]["orders"]["calls"]
    errors = series["services"]["orders"]["errors"]
    assert series["step"] == 1.0 and series["count"] == 60 and len(calls) == 60
    assert series["start"] + 60 * series["step"] == 1006.0
    assert calls[-5:] == [5.0, 5.0, 5.0, 5.0, None]  # the bucket after the last refresh is not complete yet
    assert errors[-5:] == [0.5, 0.5, 0.5, 0.5, None]
    assert calls[:50] == [None] * 50  # before the dashboard started


def test_counts_already_there_when_first_seen_are_a_baseline() -> None:
    """A worker that ran before the dashboard contributes only what it handles afterwards."""
    history = RateHistory(2.0, 60.0, START)
    history.observe(_snapshot(("a", 1002.0, 5000, 50)), 1003.0)
    assert history.totals("orders", 1003.0, 60.0)[:2] == (0.0, 0.0)
    history.observe(_snapshot(("a", 1004.0, 5010, 50)), 1005.0)
    assert history.totals("orders", 1005.0, 60.0) == (10.0, 0.0, 4.0)


def test_a_worker_started_while_watched_counts_from_its_start() -> None:
    """A new worker's jobs since its start are all counted, spread from its start to its first refresh."""
    history = RateHistory(1.0, 60.0, START)
    history.observe(_snapshot(("a", 1010.0, 6, 0), started_at=1008.0), 1010.5)
    calls = history.series(1011.5)["services"]["orders"]["calls"]
    assert calls[-4:] == [0.0, 3.0, 3.0, None]


def test_a_bucket_waits_for_every_worker_of_the_service() -> None:
    """Until the slowest worker refreshed past a bucket, the bucket is not shown (None), then it is."""
    history = RateHistory(1.0, 30.0, START)
    history.observe(_snapshot(("a", 1001.0, 0, 0), ("b", 1001.0, 0, 0)), 1001.1)
    history.observe(_snapshot(("a", 1005.0, 8, 0), ("b", 1002.0, 0, 0)), 1005.1)
    # b refreshed up to 1002 only: [1001, 1002) is complete, the later buckets are not.
    assert history.series(1005.1)["services"]["orders"]["calls"][-4:] == [2.0, None, None, None]
    history.observe(_snapshot(("a", 1005.0, 8, 0), ("b", 1005.0, 3, 0)), 1005.2)
    assert history.series(1005.2)["services"]["orders"]["calls"][-4:] == [2.0, 3.0, 3.0, 3.0]


def test_queue_depths_keep_the_highest_sample_of_each_bucket() -> None:
    """Each bucket shows the deepest queue sampled in it; buckets never sampled are None."""
    history = RateHistory(5.0, 60.0, START)
    history.observe(_snapshot(("a", 1001.0, 0, 0), queued=4), 1001.0)
    history.observe(_snapshot(("a", 1002.0, 0, 0), queued=9), 1002.0)
    history.observe(_snapshot(("a", 1003.0, 0, 0), queued=2), 1003.0)
    history.observe(_snapshot(("a", 1011.0, 0, 0), queued=1), 1011.0)
    queued = history.series(1016.0)["services"]["orders"]["queued"]
    assert queued[-3:] == [9, None, 1]


def test_services_and_workers_out_of_the_window_are_forgotten() -> None:
    """A service not seen for a whole window leaves the history; counters restarting do not go negative."""
    history = RateHistory(1.0, 10.0, START)
    history.observe(_snapshot(("a", 1001.0, 10, 0)), 1001.0)
    history.observe(_snapshot(("a", 1003.0, 4, 0)), 1003.0)  # lower than before: taken as counts since a restart
    assert history.totals("orders", 1003.5, 10.0)[0] == pytest.approx(4.0)
    history.observe([], 1020.0)
    assert history.services == [] and history.series(1020.0)["services"] == {}
    assert history.totals("orders", 1020.0, 10.0) == (0.0, 0.0, 0.0)


def test_bad_sizes_are_refused() -> None:
    """A resolution of zero or a window shorter than one resolution is a ValueError."""
    with pytest.raises(ValueError, match="resolution"):
        RateHistory(0.0, 10.0, START)
    with pytest.raises(ValueError, match="window"):
        RateHistory(5.0, 1.0, START)


def test_counts_after_a_refresh_from_before_the_start_are_all_charted() -> None:
    """A worker last refreshed before the dashboard started: all it handled since is charted after the start."""
    history = RateHistory(1.0, 60.0, START)
    history.observe(_snapshot(("a", 998.0, 500, 5)), 1000.5)  # baseline, refreshed 2 s before the start
    history.observe(_snapshot(("a", 1003.0, 531, 6)), 1004.5)
    series = history.series(1004.5)
    calls = [value for value in series["services"]["orders"]["calls"] if value is not None]
    errors = [value for value in series["services"]["orders"]["errors"] if value is not None]
    assert sum(calls) * series["step"] == pytest.approx(31.0, abs=0.01)
    assert sum(errors) * series["step"] == pytest.approx(1.0, abs=0.01)
    assert history.totals("orders", 1004.5, 60.0)[:2] == pytest.approx((31.0, 1.0))
