"""When periodic tasks tick: fixed intervals and cron expressions (pure functions of the time, in UTC).

A schedule answers two questions about a Unix time ``now``: the latest tick at or before it
(:meth:`~Schedule.previous_tick`) and the first tick after it (:meth:`~Schedule.next_tick`). Interval
ticks are aligned on the Unix epoch (plus an optional offset), so every worker of a fleet computes the
same ticks: ``every=60`` ticks at each whole minute, ``every=3600, offset=900`` at a quarter past each
hour.

Cron expressions have the five usual fields, in UTC: minute (0-59), hour (0-23), day of month (1-31),
month (1-12 or ``jan``-``dec``), day of week (0-7, 0 and 7 both Sunday, or ``sun``-``sat``). Each field is
``*``, a value, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma-separated list of those. When both
day fields are restricted, a day matches if either does (as cron does).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Cron", "Interval", "Schedule"]

_UTC = datetime.timezone.utc
_MINUTE = datetime.timedelta(minutes=1)
# Enough to cross any gap between two matching minutes (a 29 February is at most 8 years away).
_SEARCH_LIMIT = 100_000

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_DAYS = {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


class Schedule(Protocol):
    """When a periodic task ticks."""

    def previous_tick(self, now: float) -> float:
        """The latest tick at or before ``now`` (Unix time)."""
        ...

    def next_tick(self, now: float) -> float:
        """The first tick after ``now`` (Unix time)."""
        ...

    def describe(self) -> str:
        """A short description (``every 60 s``, ``cron 0 3 * * *``)."""
        ...


class Interval:
    """Every ``seconds``, aligned on the Unix epoch plus ``offset``.

    Args:
        seconds: The interval (more than 0).
        offset: Shifts the ticks (``0 <= offset < seconds``).

    Raises:
        ValueError: A bad interval or offset.
    """

    def __init__(self, seconds: float, offset: float = 0.0) -> None:
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
            raise ValueError(f"A periodic interval must be a number of seconds above 0, not {seconds!r}")
        if not isinstance(offset, (int, float)) or not 0 <= offset < seconds:
            raise ValueError(f"A periodic offset must be at least 0 and less than the interval, not {offset!r}")
        self.seconds = float(seconds)
        self.offset = float(offset)

    def previous_tick(self, now: float) -> float:
        """The latest tick at or before ``now``."""
        return math.floor((now - self.offset) / self.seconds) * self.seconds + self.offset

    def next_tick(self, now: float) -> float:
        """The first tick after ``now``."""
        return self.previous_tick(now) + self.seconds

    def describe(self) -> str:
        """``every <seconds> s`` (with the offset, if any)."""
        return f"every {self.seconds:g} s" + (f" (offset {self.offset:g} s)" if self.offset else "")


def _parse_field(text: str, low: int, high: int, names: dict[str, int], what: str) -> frozenset[int]:
    values: set[int] = set()

    def number(token: str) -> int:
        token = token.strip().lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ValueError(f"invalid {what} {token!r}")
        value = int(token)
        upper = 7 if what == "day of week" else high
        if not low <= value <= upper:
            raise ValueError(f"{what} {value} is out of range {low}-{upper}")
        return value

    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"invalid step {step_text!r} in the {what} field")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start, _, end = base.partition("-")
            first, last = number(start), number(end)
            if first > last:
                raise ValueError(f"range {base!r} of the {what} field goes backwards")
        else:
            first = number(base)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    if what == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


class Cron:
    """A cron expression, in UTC (see the module docstring).

    Args:
        expression: Five fields: ``"minute hour day-of-month month day-of-week"``.

    Raises:
        ValueError: The expression is not valid (the message says which field and why).
    """

    def __init__(self, expression: str) -> None:
        parts = expression.split() if isinstance(expression, str) else []
        if len(parts) != 5:
            raise ValueError(f"A cron expression has 5 fields (minute hour day month weekday), not {expression!r}")
        try:
            self.minutes = _parse_field(parts[0], 0, 59, {}, "minute")
            self.hours = _parse_field(parts[1], 0, 23, {}, "hour")
            self.days = _parse_field(parts[2], 1, 31, {}, "day of month")
            self.months = _parse_field(parts[3], 1, 12, _MONTHS, "month")
            self.weekdays = _parse_field(parts[4], 0, 6, _DAYS, "day of week")
        except ValueError as exc:
            raise ValueError(f"Invalid cron expression {expression!r}: {exc}") from exc
        self.expression = " ".join(parts)
        self._any_day = parts[2] == "*"
        self._any_weekday = parts[4] == "*"

    def _day_matches(self, moment: datetime.datetime) -> bool:
        by_day = moment.day in self.days
        by_weekday = (moment.isoweekday() % 7) in self.weekdays
        if self._any_day:
            return by_weekday
        if self._any_weekday:
            return by_day
        return by_day or by_weekday

    @staticmethod
    def _below(allowed: Iterable[int], value: int) -> int | None:
        return max((v for v in allowed if v <= value), default=None)

    @staticmethod
    def _above(allowed: Iterable[int], value: int) -> int | None:
        return min((v for v in allowed if v >= value), default=None)

    def _latest_at_or_before(self, moment: datetime.datetime) -> datetime.datetime:
        for _ in range(_SEARCH_LIMIT):
            if moment.month not in self.months or not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0) - _MINUTE
                continue
            hour = self._below(self.hours, moment.hour)
            if hour is None:
                moment = moment.replace(hour=0, minute=0) - _MINUTE
                continue
            if hour != moment.hour:
                moment = moment.replace(hour=hour, minute=59)
            minute = self._below(self.minutes, moment.minute)
            if minute is None:
                moment = moment.replace(minute=0) - _MINUTE
                continue
            return moment.replace(minute=minute)
        raise ValueError(f"Cron expression {self.expression!r} never matches")

    def _earliest_at_or_after(self, moment: datetime.datetime) -> datetime.datetime:
        for _ in range(_SEARCH_LIMIT):
            if moment.month not in self.months or not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + datetime.timedelta(days=1)
                continue
            hour = self._above(self.hours, moment.hour)
            if hour is None:
                moment = moment.replace(hour=0, minute=0) + datetime.timedelta(days=1)
                continue
            if hour != moment.hour:
                moment = moment.replace(hour=hour, minute=0)
            minute = self._above(self.minutes, moment.minute)
            if minute is None:
                moment = moment.replace(minute=0) + datetime.timedelta(hours=1)
                continue
            return moment.replace(minute=minute)
        raise ValueError(f"Cron expression {self.expression!r} never matches")

    def previous_tick(self, now: float) -> float:
        """The latest matching minute at or before ``now``."""
        moment = datetime.datetime.fromtimestamp(now, _UTC).replace(second=0, microsecond=0)
        return self._latest_at_or_before(moment).timestamp()

    def next_tick(self, now: float) -> float:
        """The first matching minute after ``now``."""
        moment = datetime.datetime.fromtimestamp(now, _UTC).replace(second=0, microsecond=0) + _MINUTE
        return self._earliest_at_or_after(moment).timestamp()

    def describe(self) -> str:
        """``cron <expression>``."""
        return f"cron {self.expression}"
