"""Every data type of fixture values, valid and invalid, and the any/regex matchers."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

from pysoa_like.test.plan.errors import DataTypeConversionError
from pysoa_like.test.plan.grammar.data_types import (
    AnyValue,
    RegexValue,
    freeze_parse_clock,
    get_all_data_type_names,
    get_typed_value,
    unfreeze_parse_clock,
)

UTC = datetime.timezone.utc
FROZEN = datetime.datetime(2024, 5, 1, 22, 30, 15)


@pytest.fixture
def frozen_clock() -> Any:
    """The parse clock frozen at 2024-05-01 22:30:15 UTC."""
    owner = object()
    freeze_parse_clock(owner, FROZEN)
    yield FROZEN
    unfreeze_parse_clock(owner)


def test_the_nineteen_type_names() -> None:
    """PySOA 1.4.9's type names, no more and no fewer."""
    assert get_all_data_type_names() == sorted(
        ["base64_bytes", "bool", "bytes", "date", "datetime", "decimal", "emptydict", "emptylist", "emptystr",
         "encoded_ascii", "encoded_unicode", "float", "int", "None", "none", "not regex", "regex", "str", "time"]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("type_name", "value", "result"),
    [
        ("str", "Dune # not a comment", "Dune # not a comment"),
        ("str", "", ""),
        ("int", "42", 42),
        ("int", " -7 ", -7),
        ("int", "123456789012345678901234567890", 123456789012345678901234567890),
        ("int", "", 0),
        ("float", "1e3", 1000.0),
        ("float", "-2.5", -2.5),
        ("float", "", 0.0),
        ("decimal", "9.99", decimal.Decimal("9.99")),
        ("decimal", "", decimal.Decimal("0.0")),
        ("bool", "true", True),
        ("bool", "TRUE", True),
        ("bool", "yes", False),
        ("bool", "", False),
        ("bytes", "café", "café".encode()),
        ("bytes", "", b""),
        ("base64_bytes", "aGVsbG8=", b"hello"),
        ("base64_bytes", "aGV*sbG8=", b"hello"),
        ("base64_bytes", "", b""),
        ("encoded_ascii", r"tab\there\x0b\u00e9", "tab\there\x0b\u00e9"),
        ("encoded_ascii", "", ""),
        ("encoded_unicode", r"caf\u00e9\n", "café\n"),
        ("encoded_unicode", "déjà \\t", "déjà \t"),
        ("emptystr", "ignored", ""),
        ("emptylist", "ignored", []),
        ("emptydict", "ignored", {}),
        ("none", "ignored", None),
        ("None", "", None),
        ("date", "2020,1,31", datetime.date(2020, 1, 31)),
        ("date", " 2020 , 1 , 31 ", datetime.date(2020, 1, 31)),
        ("time", "9", datetime.time(9)),
        ("time", "9,30,15,500", datetime.time(9, 30, 15, 500)),
        ("datetime", "2021,2,3", datetime.datetime(2021, 2, 3)),
        ("datetime", "2021,2,3,4,5,6,7", datetime.datetime(2021, 2, 3, 4, 5, 6, 7)),
    ],
)
def test_conversions(type_name: str, value: str, result: Any) -> None:
    """Each type converts its text as documented (empty text included)."""
    converted = get_typed_value(type_name, value)
    assert converted == result
    assert type(converted) is type(result)


@pytest.mark.parametrize(
    ("type_name", "value", "message"),
    [
        ("int", "12a", "not a valid int"),
        ("int", "1.5", "not a valid int"),
        ("float", "one", "not a valid float"),
        ("decimal", "1,5", "not a valid Decimal"),
        ("base64_bytes", "aGVsbG8", "invalid base64"),
        ("encoded_ascii", "café", "must be ASCII"),
        ("encoded_unicode", "bad \\x4", "invalid escape"),
        ("date", "", "cannot be empty"),
        ("date", "2021,13,1", "month must be in 1..12"),
        ("date", "2021,1", "3 comma-separated integers"),
        ("date", "tomorrow", "unknown keyword 'tomorrow'"),
        ("date", "2021,x,1", "comma-separated integers"),
        ("time", "", "cannot be empty"),
        ("time", "25", "hour must be in 0..23"),
        ("time", "1,2,3,4,5", "1 to 4 comma-separated integers"),
        ("time", "midnights", "unknown keyword 'midnights'"),
        ("time", "utc_midnight", "unknown keyword 'utc_midnight'"),
        ("datetime", "", "cannot be empty"),
        ("datetime", "2021", "3 to 7 comma-separated integers"),
        ("datetime", "Dune", "unknown keyword 'Dune'"),
        ("datetime", "nowish", "unknown keyword 'nowish'"),
        ("datetime", "now 1,x", "a delta is up to five"),
        ("regex", "(", "invalid regular expression"),
        ("not regex", "[a", "invalid regular expression"),
        ("list", "", "unknown data type 'list'"),
    ],
)
def test_conversion_errors(type_name: str, value: str, message: str) -> None:
    """Malformed values are conversion errors with a reason (never a raw ValueError or TypeError)."""
    with pytest.raises(DataTypeConversionError, match=message):
        get_typed_value(type_name, value)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    ("type_name", "value", "result"),
    [
        ("datetime", "now", FROZEN),
        ("datetime", "utc_now", FROZEN.replace(tzinfo=UTC)),
        ("datetime", "midnight", datetime.datetime(2024, 5, 1)),
        ("datetime", "utc_midnight", datetime.datetime(2024, 5, 1, tzinfo=UTC)),
        ("datetime", "now 1", FROZEN + datetime.timedelta(days=1)),
        ("datetime", "now +1", FROZEN + datetime.timedelta(days=1)),
        ("datetime", "now+1", FROZEN + datetime.timedelta(days=1)),
        ("datetime", "now -0,2", FROZEN + datetime.timedelta(hours=2)),
        ("datetime", "now 0,-2", FROZEN - datetime.timedelta(hours=2)),
        (
            "datetime",
            "utc_now 0,0,1,2,3",
            FROZEN.replace(tzinfo=UTC) + datetime.timedelta(minutes=1, seconds=2, microseconds=3),
        ),
        ("datetime", "midnight 1,2,3,4,5,6,7", datetime.datetime(2024, 5, 2, 2, 3, 4, 5)),
        ("time", "now", datetime.time(22, 30, 15)),
        ("time", "utc_now", datetime.time(22, 30, 15)),
        ("time", "midnight", datetime.time(0)),
        ("time", "now 0,2", datetime.time(0, 30, 15)),
        ("time", "midnight 5,1,2,3,4", datetime.time(1, 2, 3)),
        ("date", "today", datetime.date(2024, 5, 1)),
        ("date", "utc_today", datetime.date(2024, 5, 1)),
    ],
)
def test_date_and_time_keywords_and_deltas(type_name: str, value: str, result: Any) -> None:
    """Keywords with deltas of signed days,hours,minutes,seconds,microseconds (extra parts ignored).

    Times wrap around midnight and keep no microseconds.
    """
    assert get_typed_value(type_name, value) == result


def test_keywords_use_the_real_clock_when_nothing_froze_it() -> None:
    """Without a freeze, now is the local time and utc_now an aware UTC time, without microseconds."""
    before = datetime.datetime.now().replace(microsecond=0)
    value = get_typed_value("datetime", "now")
    assert before <= value <= datetime.datetime.now() and value.microsecond == 0 and value.tzinfo is None
    utc = get_typed_value("datetime", "utc_now")
    assert utc.tzinfo is UTC and abs(utc - datetime.datetime.now(UTC)) < datetime.timedelta(seconds=5)


def test_the_latest_freeze_wins_until_undone() -> None:
    """Freezes by several owners nest: the most recent one applies; unfreezing it restores the previous one."""
    outer, inner = object(), object()
    freeze_parse_clock(outer, datetime.datetime(2020, 1, 1))
    freeze_parse_clock(inner, datetime.datetime(2030, 1, 1))
    try:
        assert get_typed_value("date", "today") == datetime.date(2030, 1, 1)
        unfreeze_parse_clock(inner)
        assert get_typed_value("date", "today") == datetime.date(2020, 1, 1)
    finally:
        unfreeze_parse_clock()
    assert get_typed_value("date", "today") == datetime.date.today()


@pytest.mark.parametrize(
    ("type_name", "matching", "not_matching"),
    [
        ("str", ["", "x"], [b"x", 1, None]),
        ("encoded_unicode", ["x"], [b"x"]),
        ("bytes", [b""], ["x"]),
        ("base64_bytes", [b"x"], ["x"]),
        ("int", [0, True], [1.0, "1", None]),
        ("float", [1.5], [1, "1.5"]),
        ("decimal", [decimal.Decimal(1)], [1.0]),
        ("bool", [False], [0]),
        ("time", [datetime.time(1)], ["01:00"]),
        ("date", [datetime.date(2020, 1, 1), "2020-01-01"], [datetime.datetime(2020, 1, 1), "01/01/2020"]),
        (
            "datetime",
            [datetime.datetime(2020, 1, 1), "2020-01-01T10:00:00Z", "2020-01-01T10:00:00.5Z"],
            [datetime.date(2020, 1, 1), "2020-01-01"],
        ),
        ("emptystr", [""], ["x", []]),
        ("emptylist", [[]], [[1], {}, ""]),
        ("emptydict", [{}], [{"a": 1}, []]),
        ("none", [None], ["", 0]),
        ("regex", ["x"], [1]),
    ],
)
def test_any_value(type_name: str, matching: list[Any], not_matching: list[Any]) -> None:
    """``any TYPE`` matches values of that type (int includes bools, as in PySOA); None only for none."""
    matcher = AnyValue(type_name)
    for value in matching:
        assert matcher == value
        assert (matcher != value) is False
    for value in not_matching:
        assert matcher != value
    assert repr(matcher) == f"<any {type_name}>"


def test_any_value_permitting_none() -> None:
    """With permit_none, None matches too."""
    assert AnyValue("str", permit_none=True) == None  # noqa: E711
    assert AnyValue("str") != None  # noqa: E711


def test_regex_values_match_text_at_its_start() -> None:
    """regex uses re.match (anchored at the start only); not regex is its negation; non-text never matches."""
    assert RegexValue("^97[89]-") == "978-0441"
    assert RegexValue("bc") != "abc"
    assert RegexValue("b") == "bcd-and-more"
    assert RegexValue("bc", negate=True) == "abc"
    assert RegexValue("ab", negate=True) != "abc"
    assert RegexValue(".*") != 5 and RegexValue(".*", negate=True) != 5
    assert repr(RegexValue("a", negate=True)) == "<not regex 'a'>"
