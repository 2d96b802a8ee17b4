"""The gateway's JSON encoding: every value MessagePack carries survives the trip through JSON text."""

from __future__ import annotations

import datetime
import decimal
import json
import math
from typing import Any

import pytest
from currint import Amount

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.gateway.encoding import TAGS, EncodingError, from_json_value, to_json_value

_UTC = datetime.timezone.utc

VALUES: list[Any] = [
    None,
    True,
    0,
    -(2**63),
    2**64 - 1,
    1.5,
    "text ☃",
    b"",
    b"\x00\x01\xfe\xff",
    datetime.datetime(1, 1, 1),
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
    datetime.datetime(2026, 12, 6, 1, 2, 3, 4, tzinfo=_UTC),
    datetime.date(2026, 2, 28),
    datetime.time(0, 0),
    datetime.time(23, 59, 59, 999999),
    decimal.Decimal("12.3400"),
    decimal.Decimal("-0"),
    decimal.Decimal("1E+30"),
    decimal.Decimal("Infinity"),
    Amount.from_code_and_minor("JPY", -5),
    math.inf,
    -math.inf,
    {1: "one", "two": 2, 3.5: [b"x"]},
    {"$date": "literal"},
    {"$object": {"x": 1}},
    {"$unknown": 1},
    {"$date": 1, "other": 2},
    [[], {}, [{"$bytes": "plain"}]],
    {"nested": {"deep": [decimal.Decimal("1"), {"$map": []}]}},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_each_value_survives_json_text_unchanged(value: Any) -> None:
    """to_json_value writes strict JSON (no NaN, no non-string keys) that from_json_value reads back equal."""
    text = json.dumps(to_json_value(value), allow_nan=False)
    back = from_json_value(json.loads(text))
    assert back == value and type(back) is type(value)


def test_what_msgpack_delivers_round_trips() -> None:
    """A body after a MessagePack trip (what a service answers) encodes and decodes to the same body."""
    serializer = MsgpackSerializer()
    body = {"values": [v for v in VALUES if not isinstance(v, dict)], "keys": {1: "x"}}
    delivered = serializer.blob_to_dict(serializer.dict_to_blob({"body": body}))["body"]
    assert from_json_value(json.loads(json.dumps(to_json_value(delivered)))) == delivered


def test_nan_is_tagged_and_comes_back_as_nan() -> None:
    """NaN (never equal to itself) is tagged as $float and read back as a NaN."""
    assert to_json_value(math.nan) == {"$float": "NaN"}
    assert math.isnan(from_json_value({"$float": "NaN"}))


def test_the_documented_forms() -> None:
    """Each tag writes the form the docs show."""
    assert to_json_value(datetime.datetime(2026, 12, 6, 1, 2, 3, 4, tzinfo=_UTC)) == {
        "$datetime": "2026-12-06T01:02:03.000004+00:00"
    }
    assert to_json_value(decimal.Decimal("12.3400")) == {"$decimal": "12.3400"}
    assert to_json_value(Amount.from_code_and_minor("EUR", 1250)) == {"$amount": {"currency": "EUR", "minor": 1250}}
    assert to_json_value(b"\x00\xff") == {"$bytes": "AP8="}
    assert to_json_value({1: 2}) == {"$map": [[1, 2]]}
    assert to_json_value((1, 2)) == [1, 2]
    assert set(TAGS) == {"$datetime", "$date", "$time", "$decimal", "$amount", "$bytes", "$float", "$map", "$object"}


def test_an_offset_is_read_as_the_same_instant_in_utc() -> None:
    """An aware date-time with any offset (or Z) is read in UTC; the wire carries only naive and UTC."""
    expected = datetime.datetime(2026, 12, 6, 0, 30, tzinfo=_UTC)
    assert from_json_value({"$datetime": "2026-12-06T02:30:00+02:00"}) == expected
    assert from_json_value({"$datetime": "2026-12-06T00:30:00Z"}).tzinfo == _UTC
    aware = datetime.datetime(2026, 12, 6, 2, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert to_json_value(aware) == {"$datetime": "2026-12-06T00:30:00+00:00"}


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ({"a": {"$datetime": "yesterday"}}, "a", "ISO 8601 date-time"),
        ({"$date": "2026-13-01"}, "", "ISO 8601 date"),
        ({"$time": "12:00+01:00"}, "", "naive time"),
        ({"$time": 5}, "", "takes a string"),
        ({"$decimal": "1,5"}, "", "not a decimal"),
        ({"$bytes": "not base64!"}, "", "base64"),
        ({"$float": "nan"}, "", "NaN, Infinity, -Infinity"),
        ({"$amount": {"currency": "EURO", "minor": 1}}, "", "3-letter code"),
        ({"$amount": {"currency": "EUR", "minor": 1.5}}, "", "must be an integer"),
        ({"$amount": {"currency": "EUR"}}, "", '"currency"'),
        ({"$amount": {"currency": "QQQ", "minor": 1}}, "", "refused by currint"),
        ({"x": [{"$map": [[1]]}]}, "x.0.0", "[key, value] pair"),
        ({"$map": {"a": 1}}, "", "array of [key, value] pairs"),
        ({"$map": [[[1], 2]]}, "0", "hashable"),
        ({"$object": []}, "", "takes an object"),
    ],
)
def test_a_malformed_tag_says_what_and_where(value: Any, path: str, words: str) -> None:
    """Reading a bad tagged value raises EncodingError with the value's path and what is expected."""
    with pytest.raises(EncodingError) as caught:
        from_json_value(value)
    assert caught.value.path == path
    assert words in caught.value.reason


def test_a_type_without_encoding_is_refused_with_its_path() -> None:
    """A value of a type JSON and the tags cannot carry (a set, an object) is an EncodingError naming where."""
    with pytest.raises(EncodingError, match=r"^items\.1: a set has no JSON encoding$"):
        to_json_value({"items": [1, {2}]})
    with pytest.raises(EncodingError, match="zero amount"):
        to_json_value(Amount.ZERO)  # currint's zero amount has no currency
