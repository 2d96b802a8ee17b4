"""Values survive a MsgpackSerializer round trip unchanged (or changed only as documented)."""

from __future__ import annotations

import datetime
import decimal
import zoneinfo
from typing import Any

import currint
import msgpack  # type: ignore[import-untyped,unused-ignore]
import pytest

from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.common.serializer._msgpack_ext import encode_default
from pysoa_like.common.serializer.errors import InvalidField

_UTC = datetime.timezone.utc


def _round_trip(value: Any) -> Any:
    serializer = MsgpackSerializer()
    return serializer.blob_to_dict(serializer.dict_to_blob({"v": value}))["v"]


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(1, 1, 1),
        datetime.datetime(1, 1, 1, tzinfo=_UTC),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=_UTC),
        datetime.datetime(1970, 1, 1),
        datetime.datetime(1969, 7, 20, 20, 17, 40, 1),
        datetime.datetime(2024, 2, 29, 12, 0, 0, 500000, tzinfo=_UTC),
    ],
    ids=str,
)
def test_datetimes_round_trip_exactly(value: datetime.datetime) -> None:
    """Naive and UTC datetimes from year 1 to year 9999 come back to the microsecond."""
    result = _round_trip(value)
    assert result == value
    assert (result.tzinfo is None) == (value.tzinfo is None)


def test_many_datetimes_round_trip_exactly() -> None:
    """A spread of datetimes with varied microseconds all round-trip with no one-microsecond drift."""
    start = datetime.datetime(2005, 4, 17, 8, 29, 2, 646319)
    values = [start + datetime.timedelta(days=37 * n, microseconds=7919 * n) for n in range(2000)]
    serializer = MsgpackSerializer()
    assert serializer.blob_to_dict(serializer.dict_to_blob({"v": values}))["v"] == values


@pytest.mark.parametrize(
    "tzinfo",
    [_UTC, zoneinfo.ZoneInfo("UTC"), datetime.timezone(datetime.timedelta(0), "Zulu")],
    ids=["timezone.utc", "zoneinfo UTC", "named zero offset"],
)
def test_any_zero_offset_tzinfo_is_sent_as_utc(tzinfo: datetime.tzinfo) -> None:
    """Any tzinfo with a zero UTC offset encodes as type 10 and decodes with datetime.timezone.utc."""
    value = datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=tzinfo)
    blob = MsgpackSerializer().dict_to_blob({"v": value})
    assert blob[3:5] == bytes.fromhex("d70a")
    result = _round_trip(value)
    assert result == value
    assert result.tzinfo is _UTC


def test_datetime_subclass_encodes_as_datetime() -> None:
    """A datetime subclass is encoded through the isinstance fallback and decodes as a datetime."""

    class MyDateTime(datetime.datetime):
        pass

    result = _round_trip(MyDateTime(2021, 5, 6, 7, 8, 9, 10))
    assert result == datetime.datetime(2021, 5, 6, 7, 8, 9, 10)
    assert type(result) is datetime.datetime


@pytest.mark.parametrize(
    "value",
    [
        datetime.date.min,
        datetime.date.max,
        datetime.date(2024, 2, 29),
        datetime.time.min,
        datetime.time.max,
        datetime.time(12, 30),
        decimal.Decimal("0"),
        decimal.Decimal("-0"),
        decimal.Decimal("3.141592653589793238462643383279502884197"),
        decimal.Decimal("-Infinity"),
        decimal.Decimal("1.5E-400"),
        decimal.Decimal("9" * 65535),
        currint.Amount.from_code_and_minor("EUR", 0),
        currint.Amount.from_code_and_minor("GBP", 2**63 - 1),
        currint.Amount.from_code_and_minor("usd", -(2**63)),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_extension_values_round_trip(value: Any) -> None:
    """Dates, naive times, Decimals (up to 65535 characters) and Amounts round-trip unchanged."""
    result = _round_trip(value)
    assert result == value
    assert type(result) is type(value)
    if isinstance(value, decimal.Decimal):
        assert str(result) == str(value)


def test_decimal_nan_and_snan_round_trip() -> None:
    """Decimal NaN and sNaN keep their kind."""
    assert _round_trip(decimal.Decimal("NaN")).is_qnan()
    assert _round_trip(decimal.Decimal("sNaN")).is_snan()


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**64 - 1,
        -(2**63),
        1.5,
        float("inf"),
        "",
        "x" * 31,
        "x" * 32,
        "é" * 40000,
        b"",
        b"\xff" * 70000,
        [],
        {},
        "caf\u00e9 \U0001f600",
    ],
    ids=lambda value: repr(value)[:30],
)
def test_native_values_round_trip(value: Any) -> None:
    """Native msgpack values, including the range limits and every string/bin size class, round-trip."""
    result = _round_trip(value)
    assert result == value
    assert type(result) is type(value)


def test_lone_surrogates_round_trip() -> None:
    """A string with a lone surrogate, which PySOA wrote but could not read back, decodes again."""
    value = {"text": "a\ud800b", "\udfff": ["\ud83d"]}
    assert _round_trip(value) == value


def test_tuples_become_lists() -> None:
    """Tuples are sent as arrays and come back as lists."""
    assert _round_trip((1, (2, 3), [4])) == [1, [2, 3], [4]]


def test_non_string_map_keys_round_trip() -> None:
    """Int, bytes, None and float map keys are accepted on decode (strict_map_key off)."""
    value = {1: "a", -5: "b", b"k": "c", None: "d", 1.5: "e"}
    assert _round_trip(value) == value


def test_nested_job_body_round_trips() -> None:
    """A realistic nested job request with mixed extension types comes back equal."""
    job = {
        "control": {"continue_on_error": False, "suppress_response": False, "timeout": 5},
        "context": {"correlation_id": "cid", "switches": [1, 2], "caller": "me"},
        "actions": [
            {
                "action": "book",
                "body": {
                    "when": datetime.datetime(2022, 3, 4, 5, 6, 7, 8, tzinfo=_UTC),
                    "day": datetime.date(2022, 3, 4),
                    "at": datetime.time(9, 30),
                    "price": currint.Amount.from_code_and_minor("USD", 1999),
                    "rate": decimal.Decimal("0.0725"),
                    "ids": [1, 2, 3],
                    "nested": {"deep": [{"x": None, "y": [True, 1.25, b"raw"]}]},
                },
            }
        ],
    }
    serializer = MsgpackSerializer()
    assert serializer.blob_to_dict(serializer.dict_to_blob(job)) == job


def test_bytearray_and_memoryview_input_decode() -> None:
    """blob_to_dict accepts bytearray and memoryview as well as bytes."""
    serializer = MsgpackSerializer()
    blob = serializer.dict_to_blob({"a": 1})
    assert serializer.blob_to_dict(bytearray(blob)) == {"a": 1}
    assert serializer.blob_to_dict(memoryview(blob)) == {"a": 1}


def test_timestamp_like_bytes_inside_a_bin_value_are_not_rejected() -> None:
    """Bytes that look like a Timestamp extension header inside a bin value do not trip the Timestamp check."""
    value = {"raw": bytes.fromhex("d6ff00000001 c70cff")}
    assert _round_trip(value) == value


def test_zone_at_zero_offset_only_in_winter_encodes_by_the_value_offset() -> None:
    """A zone is judged by the value's own offset: Europe/London encodes as UTC in winter, fails in summer."""
    london = zoneinfo.ZoneInfo("Europe/London")
    winter = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=london)
    assert _round_trip(winter) == winter
    with pytest.raises(InvalidField, match="convert it to UTC"):
        MsgpackSerializer().dict_to_blob({"v": datetime.datetime(2024, 7, 15, 12, 0, tzinfo=london)})


def _reference_packer() -> msgpack.Packer:
    """One packer that always writes strings with "surrogatepass", as the serializer did before its fast path."""
    return msgpack.Packer(
        default=encode_default, use_bin_type=True, unicode_errors="surrogatepass", datetime=False, autoreset=True
    )


@pytest.mark.parametrize(
    "message",
    [
        {"text": "plain ascii", "n": 1},
        {"text": "caf\u00e9 \U0001f600 \u4e2d\u6587", "k\u00e9y": ["\u00fc" * 40, "x" * 70000]},
        {"text": "a\ud800b", "\udfff": ["\ud83d"]},
        {"nested": {"deep": ["ok", {"lone": "\udc80"}]}, "when": datetime.datetime(2020, 1, 2, tzinfo=_UTC)},
        {"amount": decimal.Decimal("1.50"), "date": datetime.date(2020, 1, 2), "bytes": b"\xed\xa0\x80"},
    ],
    ids=["ascii", "unicode", "surrogates", "nested-surrogate", "extensions"],
)
def test_fast_packing_writes_the_same_bytes_as_surrogatepass(message: dict[str, Any]) -> None:
    """Strict UTF-8 first, surrogatepass only on failure: the bytes always equal the surrogatepass packer's."""
    serializer = MsgpackSerializer()
    assert serializer.dict_to_blob(message) == _reference_packer().pack(message)
    assert serializer.blob_to_dict(serializer.dict_to_blob(message)) == message


def test_packing_after_a_lone_surrogate_message_is_unaffected() -> None:
    """A message that needed the surrogatepass fallback leaves no state behind for the next messages."""
    serializer = MsgpackSerializer()
    plain = {"text": "caf\u00e9", "n": list(range(5))}
    before = serializer.dict_to_blob(plain)
    assert serializer.dict_to_blob({"text": "\ud800"}) == _reference_packer().pack({"text": "\ud800"})
    assert serializer.dict_to_blob(plain) == before == _reference_packer().pack(plain)


def test_unencodable_value_next_to_a_lone_surrogate_names_the_value() -> None:
    """A message with a lone surrogate and an unencodable value still fails on the value, with its path."""
    with pytest.raises(InvalidField, match=r"^bad\.1"):
        MsgpackSerializer().dict_to_blob({"a": "\ud800", "bad": [1, object()]})
