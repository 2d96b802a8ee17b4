"""freeze time directives: parse-time values on the frozen clock, and freezegun around cases and actions."""

from __future__ import annotations

import datetime
import re
import sys
from collections.abc import Callable

import pytest

from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import TestCase as PlanCase
from pysoa_like.test.plan.grammar.directive import TestFixture as PlanFixture
from tests.unit.testing_toolkit.plan.conftest import call_hooks

Parse = Callable[..., PlanFixture]
UTC = datetime.timezone.utc


def case_of(parse: Parse, *lines: str) -> PlanCase:
    """The one test case made of ``lines``."""
    (case,) = parse("test name: t\ntest description: d\n" + "".join(f"{line}\n" for line in lines))
    return case


def test_a_test_level_freeze_applies_to_date_keywords_in_the_rest_of_the_case(parse: Parse) -> None:
    """Keywords after the freeze line are computed on the frozen clock; the next case sees the real clock."""
    fixture = parse(
        """
        test name: frozen
        test description: d
        a: input datetime: before: utc_midnight
        freeze time: 2024-05-01T10:00:00Z
        a: input datetime: now: now
        a: input datetime: due: utc_now 14
        b: input date: today: today
        b: input time: at: now 0,1

        test name: not_frozen
        test description: d
        a: input date: today: today
        """
    )
    frozen, real = fixture
    assert frozen["_freezegun_freeze_time"] == datetime.datetime(2024, 5, 1, 10)
    assert frozen["a.0"]["inputs"]["before"].date() == datetime.datetime.now(UTC).date()
    assert frozen["a.0"]["inputs"]["now"] == datetime.datetime(2024, 5, 1, 10)
    assert frozen["a.0"]["inputs"]["due"] == datetime.datetime(2024, 5, 15, 10, tzinfo=UTC)
    assert frozen["b.0"]["inputs"] == {"today": datetime.date(2024, 5, 1), "at": datetime.time(11)}
    assert real["a.0"]["inputs"]["today"] == datetime.date.today()


def test_an_action_level_freeze_lasts_until_a_new_action_case_begins(parse: Parse) -> None:
    """The parse clock is frozen for that action's later lines, and thawed when another action path starts."""
    case = case_of(
        parse,
        "a: freeze time: 2030-01-02T03:04:05Z",
        "a: input datetime: at: now",
        "b: input date: today: today",
        "a: input date: later: today",
    )
    assert case["a.0"]["_freezegun_freeze_time"] == datetime.datetime(2030, 1, 2, 3, 4, 5)
    assert case["a.0"]["inputs"]["at"] == datetime.datetime(2030, 1, 2, 3, 4, 5)
    assert case["b.0"]["inputs"]["today"] == datetime.date.today()
    assert case["a.0"]["inputs"]["later"] == datetime.date.today()


def test_freeze_now_stores_none_and_freezes_the_parse_clock_at_parse_time(parse: Parse) -> None:
    """freeze time: now means "when the freeze starts"; parse-time values use the moment of parsing."""
    before = datetime.datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    case = case_of(parse, "freeze time: now", "a: input datetime: at: now", "a: input datetime: again: now")
    assert case["_freezegun_freeze_time"] is None
    assert case["a.0"]["inputs"]["at"] == case["a.0"]["inputs"]["again"] >= before


def test_a_global_action_freeze_does_not_freeze_the_parse_clock(parse: Parse) -> None:
    """A global freeze line is a default for later cases; it does not change how this file is read."""
    fixture = parse(
        """
        a: global freeze time: 2030-01-02T03:04:05Z

        test name: t
        test description: d
        a: input date: today: today
        """
    )
    assert fixture[0]["a.0"]["inputs"]["today"] == datetime.date.today()
    assert fixture[0]["a.0"]["_freezegun_freeze_time"] == datetime.datetime(2030, 1, 2, 3, 4, 5)


@pytest.mark.parametrize(
    "value", ["2024-05-01 10:00:00", "2024-05-01T10:00:00", "tomorrow", "", "2024-13-01T10:00:00Z"]
)
def test_freeze_values_must_be_now_or_a_utc_instant(parse: Parse, value: str) -> None:
    """Anything but now or YYYY-MM-DDTHH:MM:SSZ is a syntax error saying what to write."""
    with pytest.raises(FixtureSyntaxError, match="write 'now' or a UTC instant as YYYY-MM-DDTHH:MM:SSZ"):
        case_of(parse, f"freeze time: {value}", "a: input: x: y")


def test_freeze_without_freezegun_is_a_syntax_error(parse: Parse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without freezegun installed the directive cannot work, and says how to get it."""
    monkeypatch.setitem(sys.modules, "freezegun", None)
    words = "needs freezegun, which is not installed: pip install '/path/to/pysoa_like[test-plans]' (its checkout"
    with pytest.raises(FixtureSyntaxError, match=re.escape(words)):
        case_of(parse, "freeze time: now", "a: input: x: y")


def test_run_time_freezes_nest_test_then_action(parse: Parse) -> None:
    """The test-level freeze covers the case; an action-level one takes over during its action, then yields."""
    case = case_of(parse, "freeze time: 2024-05-01T10:00:00Z", "a: freeze time: 2030-01-02T03:04:05Z", "a: input: x: y")
    call_hooks("set_up_test_case", case, [case])
    try:
        assert datetime.datetime.now(UTC) == datetime.datetime(2024, 5, 1, 10, tzinfo=UTC)
        call_hooks("set_up_test_case_action", "a", case["a.0"], case, [case])
        try:
            assert datetime.datetime.now(UTC) == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        finally:
            call_hooks("tear_down_test_case_action", "a", case["a.0"], case, [case])
        assert datetime.date.today() == datetime.date(2024, 5, 1)
    finally:
        call_hooks("tear_down_test_case", case, [case])
    assert datetime.datetime.now(UTC) != datetime.datetime(2024, 5, 1, 10, tzinfo=UTC)
