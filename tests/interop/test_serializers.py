"""Serializer-level interop: PySOA 1.4.9's serializers and ours read each other's bytes.

PySOA runs in its own venv (``pysoa_side/serializers.py``); values and bytes cross the process
boundary as tagged JSON and hex. Each value is wrapped as ``{"value": v}`` (serializers take dicts).
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from currint import Amount

from pysoa_like.common.serializer import JSONSerializer, MsgpackSerializer, Serializer
from tests.interop._harness import PySOAScripts
from tests.interop.pysoa_side import tagged

UTC = datetime.timezone.utc

MSGPACK_VALUES: dict[str, Any] = {
    "naive_datetime": datetime.datetime(2020, 1, 2, 3, 4, 5, 6),
    "pre_epoch_datetime": datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
    "utc_datetime": datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "date": datetime.date(2020, 1, 2),
    "time": datetime.time(1, 2, 3, 4),
    "decimal": decimal.Decimal("-12.3400"),
    "decimal_exponent": decimal.Decimal("1E+3"),
    "bytes": b"\x00\xffpysoa\x80",
    "large_bytes": bytes(range(256)) * 300,
    "amount_usd": Amount.from_code_and_minor("USD", 1234),
    "amount_jpy_negative": Amount.from_code_and_minor("JPY", -5),
    "nested": {"a": [1, 2.5, None, True, False, {"b": "c"}], "d": {"e": [], "f": {}}},
    "int_keys": {1: "a", 2: {3: "b", -4: [5]}},
    "unicode": "h\u00e9llo \u2603 \U0001d11e \u4e2d\u6587",
    "str8_string": "s" * 40,
    "long_string": "L" * 70000,
    "int_limits": [2**64 - 1, -(2**63), 0, -1, 127, 128, 255, 256, 65536],
    "floats": [1.5, -0.0, 1e300],
    "mixed_body": {
        "when": datetime.datetime(2021, 6, 30, 23, 59, 59, 999999),
        "on": datetime.date(1999, 12, 31),
        "price": Amount.from_code_and_minor("EUR", 99),
        "rate": decimal.Decimal("0.000001"),
        "raw": b"\x01\x02",
        "list": [datetime.time(23, 59, 59, 999999), decimal.Decimal("NaN")],
    },
}
JSON_VALUES: dict[str, Any] = {
    "nested": MSGPACK_VALUES["nested"],
    "unicode": MSGPACK_VALUES["unicode"],
    "int_limits": MSGPACK_VALUES["int_limits"],
    "floats": [1.5, -0.0, 1e300, 0.1],
    "long_string": MSGPACK_VALUES["long_string"],
    "empty": {},
}
# JSON turns int keys into strings on both sides.
JSON_INT_KEYS = {1: "a", 2: {3: "b"}}

# PySOA encodes datetimes through floating point and, for this one, writes a microsecond too few.
QUIRK_DATETIME = datetime.datetime(2005, 4, 17, 8, 29, 2, 646319)

_OURS: dict[str, Serializer] = {"msgpack": MsgpackSerializer(), "json": JSONSerializer()}
_VALUES = {"msgpack": MSGPACK_VALUES, "json": JSON_VALUES}


def _pysoa_encode(scripts: PySOAScripts, serializer: str, values: list[Any]) -> list[dict[str, str]]:
    spec = {"op": "encode", "serializer": serializer, "values": [tagged.encode(value) for value in values]}
    results: list[dict[str, str]] = scripts.run("serializers.py", spec)["results"]
    return results


def _ours_encode(serializer: str, value: Any) -> bytes:
    return _OURS[serializer].dict_to_blob({"value": value})


def _ours_decode(serializer: str, blob_hex: str) -> Any:
    return _OURS[serializer].blob_to_dict(bytes.fromhex(blob_hex))["value"]


@pytest.fixture(scope="module")
def pysoa_encoded(pysoa_scripts: PySOAScripts) -> dict[str, dict[str, dict[str, str]]]:
    """What PySOA's serializers produce for every value, by serializer and value name."""
    encoded = {}
    for serializer, values in _VALUES.items():
        names = list(values)
        results = _pysoa_encode(pysoa_scripts, serializer, [values[name] for name in names])
        encoded[serializer] = dict(zip(names, results, strict=True))
    return encoded


@pytest.fixture(scope="module")
def pysoa_decoded(pysoa_scripts: PySOAScripts) -> dict[str, dict[str, dict[str, Any]]]:
    """What PySOA's serializers make of OUR bytes for every value (PySOA compares with the expected value)."""
    decoded = {}
    for serializer, values in _VALUES.items():
        names = list(values)
        spec = {
            "op": "decode",
            "serializer": serializer,
            "hexes": [_ours_encode(serializer, values[name]).hex() for name in names],
            "expected": [tagged.encode(values[name]) for name in names],
        }
        decoded[serializer] = dict(zip(names, pysoa_scripts.run("serializers.py", spec)["results"], strict=True))
    return decoded


_CASES = [(serializer, name) for serializer, values in _VALUES.items() for name in values]


@pytest.mark.parametrize(("serializer", "name"), _CASES)
def test_pysoa_bytes_decode_to_equal_values_in_ours(
    pysoa_encoded: dict[str, dict[str, dict[str, str]]], serializer: str, name: str
) -> None:
    """Bytes that PySOA 1.4.9 encodes decode with our serializer to an equal value of the same types."""
    result = pysoa_encoded[serializer][name]
    assert "hex" in result, f"PySOA could not encode {name}: {result}"
    decoded = _ours_decode(serializer, result["hex"])
    assert tagged.same(decoded, _VALUES[serializer][name]), (decoded, _VALUES[serializer][name])


@pytest.mark.parametrize(("serializer", "name"), _CASES)
def test_our_bytes_decode_to_equal_values_in_pysoa(
    pysoa_decoded: dict[str, dict[str, dict[str, Any]]], serializer: str, name: str
) -> None:
    """Bytes that our serializer encodes decode in PySOA 1.4.9 to an equal value of the same types."""
    result = pysoa_decoded[serializer][name]
    assert "error" not in result, f"PySOA could not decode our {serializer} bytes for {name}: {result['error']}"
    assert result["same"], f"PySOA decoded {name} to {tagged.decode(result['decoded'])!r}"


@pytest.mark.parametrize(("serializer", "name"), _CASES)
def test_our_bytes_are_identical_to_pysoas(
    pysoa_encoded: dict[str, dict[str, dict[str, str]]], serializer: str, name: str
) -> None:
    """Our serializer writes exactly the bytes PySOA 1.4.9 writes for the same value."""
    assert _ours_encode(serializer, _VALUES[serializer][name]).hex() == pysoa_encoded[serializer][name]["hex"]


def test_json_int_keys_become_strings_on_both_sides(pysoa_scripts: PySOAScripts) -> None:
    """Int dict keys come out as strings from either JSON serializer, and the bytes match PySOA's."""
    (result,) = _pysoa_encode(pysoa_scripts, "json", [JSON_INT_KEYS])
    assert _ours_encode("json", JSON_INT_KEYS).hex() == result["hex"]
    assert _ours_decode("json", result["hex"]) == {"1": "a", "2": {"3": "b"}}


def test_pysoa_float_datetime_quirk_is_read_exactly(pysoa_scripts: PySOAScripts) -> None:
    """PySOA writes 2005-04-17T08:29:02.646319 one microsecond low; we decode exactly what it wrote."""
    (result,) = _pysoa_encode(pysoa_scripts, "msgpack", [QUIRK_DATETIME])
    assert _ours_decode("msgpack", result["hex"]) == QUIRK_DATETIME - datetime.timedelta(microseconds=1)
    spec = {
        "op": "decode",
        "serializer": "msgpack",
        "hexes": [_ours_encode("msgpack", QUIRK_DATETIME).hex()],
        "expected": [tagged.encode(QUIRK_DATETIME)],
    }
    (decoded,) = pysoa_scripts.run("serializers.py", spec)["results"]
    assert decoded["same"], f"PySOA read our exact encoding as {tagged.decode(decoded['decoded'])!r}"


def test_stdlib_utc_datetime_encodes_like_pysoas_pytz_utc(pysoa_scripts: PySOAScripts) -> None:
    """Our ext type 10 bytes for a stdlib-UTC datetime equal PySOA's bytes for the same pytz-UTC instant."""
    value = datetime.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    blob = _ours_encode("msgpack", value)
    assert "d70a00059b1f7226f346" in blob.hex()
    # The tagged form rebuilds a pytz UTC datetime in the PySOA venv, which PySOA accepts.
    (result,) = _pysoa_encode(pysoa_scripts, "msgpack", [value])
    assert result["hex"] == blob.hex()
