"""MsgpackSerializer produces and reads exactly the bytes of PROTOCOL.md section 9.1."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import currint
import pytest

from pysoa_like.common.serializer import MsgpackSerializer

# A one-entry map {"v": <value>}: fixmap of 1, fixstr "v".
_PREFIX = bytes.fromhex("81a176")
_UTC = datetime.timezone.utc

VECTORS: list[tuple[str, Any, str]] = [
    ("naive datetime", datetime.datetime(2020, 1, 2, 3, 4, 5, 6), "d7 01 00059b1f7226f346"),
    ("naive datetime before 1970", datetime.datetime(1969, 12, 31, 23, 59, 59, 999999), "d7 01 ffffffffffffffff"),
    ("UTC datetime", datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=_UTC), "d7 0a 00059b1f7226f346"),
    ("date", datetime.date(2020, 1, 2), "d6 03 07e40102"),
    ("time", datetime.time(1, 2, 3, 4), "c7 07 04 010203 00000004"),
    ("decimal", decimal.Decimal("-12.3400"), "c7 0a 05 0008 2d31322e33343030"),
    ("decimal exponent", decimal.Decimal("1E+3"), "c7 06 05 0004 31452b33"),
    ("USD amount", currint.Amount.from_code_and_minor("USD", 1234), "c7 0b 02 555344 00000000000004d2"),
    ("JPY amount", currint.Amount.from_code_and_minor("JPY", -5), "c7 0b 02 4a5059 fffffffffffffffb"),
]


@pytest.mark.parametrize(("value", "hex_vector"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_encodes_vector(value: Any, hex_vector: str) -> None:
    """Each extension value encodes to exactly the PySOA-produced bytes."""
    assert MsgpackSerializer().dict_to_blob({"v": value}) == _PREFIX + bytes.fromhex(hex_vector)


@pytest.mark.parametrize(("value", "hex_vector"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_decodes_vector(value: Any, hex_vector: str) -> None:
    """Each PySOA-produced vector decodes to the original value and type."""
    decoded = MsgpackSerializer().blob_to_dict(_PREFIX + bytes.fromhex(hex_vector))
    assert decoded == {"v": value}
    assert type(decoded["v"]) is type(value)


def test_utc_vector_decodes_to_an_aware_datetime_in_utc() -> None:
    """Extension type 10 decodes to a datetime whose tzinfo is datetime.timezone.utc."""
    decoded = MsgpackSerializer().blob_to_dict(_PREFIX + bytes.fromhex("d70a00059b1f7226f346"))
    assert decoded["v"].tzinfo is _UTC
    assert decoded["v"] == datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=_UTC)


def test_decimal_nan_is_sent_as_text_nan() -> None:
    """Decimal NaN travels as the text NaN and decodes back to a NaN."""
    blob = MsgpackSerializer().dict_to_blob({"v": decimal.Decimal("NaN")})
    assert blob == _PREFIX + bytes.fromhex("c7 05 05 0003 4e614e")
    assert MsgpackSerializer().blob_to_dict(blob)["v"].is_nan()


def test_strings_of_32_to_255_bytes_use_str8_and_floats_use_float64() -> None:
    """A 58-byte reply_to string starts d9 3a and a float is written as 0xcb float64, as PySOA does."""
    reply_to = "service.echo.d3cdbd07524445b39b74ed237fe7c5cf!7f02fffedb80"
    blob = MsgpackSerializer().dict_to_blob({"v": reply_to, "f": 1.5})
    assert blob == (bytes.fromhex("82 a176 d93a") + reply_to.encode() + bytes.fromhex("a166 cb 3ff8000000000000"))


def test_bytes_use_the_bin_family() -> None:
    """bytes values are written as bin8 (0xc4), not as strings."""
    assert MsgpackSerializer().dict_to_blob({"v": b"\x00\xff"}) == _PREFIX + bytes.fromhex("c40200ff")


def test_datetime_encoding_is_exact_where_pysoa_lost_a_microsecond() -> None:
    """2005-04-17T08:29:02.646319 is sent as ...646319 (PySOA's float path sent ...646318)."""
    value = datetime.datetime(2005, 4, 17, 8, 29, 2, 646319)
    expected_micros = 1113726542 * 1_000_000 + 646319
    blob = MsgpackSerializer().dict_to_blob({"v": value})
    assert blob == _PREFIX + bytes.fromhex("d701") + expected_micros.to_bytes(8, "big", signed=True)


def test_pysoa_low_by_one_value_decodes_exactly() -> None:
    """A value PySOA encoded one microsecond low decodes to exactly that microsecond, with no float rounding."""
    micros = 1113726542 * 1_000_000 + 646318
    blob = _PREFIX + bytes.fromhex("d701") + micros.to_bytes(8, "big", signed=True)
    assert MsgpackSerializer().blob_to_dict(blob) == {"v": datetime.datetime(2005, 4, 17, 8, 29, 2, 646318)}
