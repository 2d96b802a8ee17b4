"""Periodic schedules (intervals, cron in UTC) and task declarations (no Redis)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from pysoa_like.periodic import Cron, Interval, PeriodicTask, TaskRun
from pysoa_like.periodic.testing import run_periodic_task
from pysoa_like.server.server import Server

LOCAL_SETTINGS: dict[str, Any] = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}


def _t(text: str) -> float:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def _iso(value: float) -> str:
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def test_interval_ticks_are_aligned_on_the_epoch() -> None:
    """every=60 ticks at whole minutes, whatever the clock says when asked; an offset shifts them."""
    minute = Interval(60)
    assert minute.previous_tick(_t("2024-05-01T10:00:59")) == _t("2024-05-01T10:00:00")
    assert minute.previous_tick(_t("2024-05-01T10:01:00")) == _t("2024-05-01T10:01:00")
    assert minute.next_tick(_t("2024-05-01T10:01:00")) == _t("2024-05-01T10:02:00")
    quarter_past = Interval(3600, offset=900)
    assert quarter_past.previous_tick(_t("2024-05-01T10:10:00")) == _t("2024-05-01T09:15:00")
    assert Interval(0.5).previous_tick(10.7) == 10.5


@pytest.mark.parametrize(
    ("expression", "now", "previous", "following"),
    [
        ("0 3 * * *", "2024-05-01T12:00", "2024-05-01 03:00", "2024-05-02 03:00"),
        ("0 3 * * *", "2024-05-01T03:00", "2024-05-01 03:00", "2024-05-02 03:00"),
        ("*/15 9-17 * * mon-fri", "2024-05-04T12:00", "2024-05-03 17:45", "2024-05-06 09:00"),
        ("0 0 29 2 *", "2024-05-04T12:00", "2024-02-29 00:00", "2028-02-29 00:00"),
        ("30 2 1 * 0", "2024-05-04T12:00", "2024-05-01 02:30", "2024-05-05 02:30"),
        ("30 2 1 * 7", "2024-05-04T12:00", "2024-05-01 02:30", "2024-05-05 02:30"),
        ("5,35 */6 * jan,jul *", "2024-07-01T07:00", "2024-07-01 06:35", "2024-07-01 12:05"),
        ("* * * * *", "2024-07-01T07:00:30", "2024-07-01 07:00", "2024-07-01 07:01"),
    ],
)
def test_cron_ticks(expression: str, now: str, previous: str, following: str) -> None:
    """Cron ticks are the matching minutes in UTC; both day fields restricted means either matches."""
    cron = Cron(expression)
    assert _iso(cron.previous_tick(_t(now))) == previous
    assert _iso(cron.next_tick(_t(now))) == following


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 5 fields"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("* * * foo *", "invalid month 'foo'"),
        ("5-1 * * * *", "goes backwards"),
        ("*/0 * * * *", "invalid step '0'"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_bad_cron_expressions_are_refused(expression: str, message: str) -> None:
    """A bad expression fails when declared, saying which field is wrong."""
    with pytest.raises(ValueError, match=message):
        Cron(expression).next_tick(0)


def test_task_declarations_are_checked() -> None:
    """A task needs a valid name and exactly one schedule; intervals and offsets must make sense."""
    with pytest.raises(ValueError, match="exactly one of every= and cron="):
        PeriodicTask("t", print)
    with pytest.raises(ValueError, match="exactly one of every= and cron="):
        PeriodicTask("t", print, every=1, cron="* * * * *")
    with pytest.raises(ValueError, match="Invalid periodic task name"):
        PeriodicTask("no spaces", print, every=1)
    with pytest.raises(ValueError, match="above 0"):
        PeriodicTask("t", print, every=0)
    with pytest.raises(ValueError, match="less than the interval"):
        PeriodicTask("t", print, every=10, offset=10)
    assert PeriodicTask("t", print, cron="0 3 * * *").schedule.describe() == "cron 0 3 * * *"


def test_missed_ticks_are_counted_between_runs() -> None:
    """The ticks strictly between the previous run's tick and this one are the missed ones."""
    task = PeriodicTask("t", print, every=10)
    assert task.missed_ticks(100, 110) == 0
    assert task.missed_ticks(100, 150) == 4
    nightly = PeriodicTask("n", print, cron="0 3 * * *")
    assert nightly.missed_ticks(_t("2024-05-01T03:00"), _t("2024-05-04T03:00")) == 2


runs: list[TaskRun] = []


async def nightly(run: TaskRun) -> None:
    runs.append(run)


class TaskServer(Server):
    service_name = "tasks"
    periodic_tasks = [PeriodicTask("purge", "purge", every=60), PeriodicTask("nightly", nightly, cron="0 3 * * *")]

    def purge(self, run: TaskRun) -> None:
        runs.append(run)


def test_tasks_run_in_tests_without_redis() -> None:
    """run_periodic_task runs a method or a coroutine task now, with the tick and missed ticks it is given."""
    runs.clear()
    server = TaskServer(LOCAL_SETTINGS)
    assert server.periodic_task_names() == ["purge", "nightly"]
    first = run_periodic_task(server, "purge", tick=120.0, missed_ticks=2)
    second = run_periodic_task(server, "nightly")
    assert runs == [first, second]
    assert (first.tick, first.missed_ticks, first.server) == (120.0, 2, server)
    assert second.tick == Cron("0 3 * * *").previous_tick(second.tick + 1)
    with pytest.raises(KeyError, match="no periodic task 'other'"):
        run_periodic_task(server, "other")


def test_bad_task_lists_fail_when_the_server_is_built() -> None:
    """Duplicate names, entries that are not PeriodicTask, and missing methods fail at startup."""

    class Duplicates(Server):
        service_name = "broken"
        periodic_tasks = [PeriodicTask("a", print, every=1), PeriodicTask("a", print, every=2)]

    class NotATask(Server):
        service_name = "broken"
        periodic_tasks = [print]

    class MissingMethod(Server):
        service_name = "broken"
        periodic_tasks = [PeriodicTask("a", "nothing_here", every=1)]

    with pytest.raises(ValueError, match="Two periodic tasks are named 'a'"):
        Duplicates(LOCAL_SETTINGS)
    with pytest.raises(TypeError, match="must hold PeriodicTask objects"):
        NotATask(LOCAL_SETTINGS)
    with pytest.raises(AttributeError, match="no method 'nothing_here'"):
        MissingMethod(LOCAL_SETTINGS)
