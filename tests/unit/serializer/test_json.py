"""JSONSerializer writes what PySOA's JSON serializer writes and refuses what it cannot handle."""

from __future__ import annotations

import datetime
import decimal
import math
from typing import Any

import pytest

from pysoa_like.common.serializer import JSONSerializer
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage


def test_encodes_with_json_dumps_defaults() -> None:
    """Output uses the default separators, ASCII escapes and stringified non-str keys, encoded UTF-8."""
    message = {"request_id": 1, "body": {"é": ["x", (1, 2)], 3: None, True: 1.5}}
    assert JSONSerializer().dict_to_blob(message) == (
        b'{"request_id": 1, "body": {"\\u00e9": ["x", [1, 2]], "3": null, "true": 1.5}}'
    )


def test_nan_and_infinity_travel_as_bare_literals() -> None:
    """NaN and Infinity are written as bare literals and read back, as Python's json module does."""
    serializer = JSONSerializer()
    blob = serializer.dict_to_blob({"a": float("nan"), "b": float("-inf")})
    assert blob == b'{"a": NaN, "b": -Infinity}'
    decoded = serializer.blob_to_dict(blob)
    assert math.isnan(decoded["a"])
    assert decoded["b"] == float("-inf")


def test_round_trip_of_a_job_body() -> None:
    """A nested job body with unicode, lone surrogates and big ints comes back equal."""
    job = {
        "control": {"continue_on_error": False},
        "context": {"correlation_id": "cid", "switches": []},
        "actions": [{"action": "a", "body": {"text": "caf\u00e9 \U0001f600 \ud800", "big": 2**80, "n": [None, -1.25]}}],
    }
    serializer = JSONSerializer()
    assert serializer.blob_to_dict(serializer.dict_to_blob(job)) == job


def test_accepts_bytearray_and_memoryview() -> None:
    """blob_to_dict accepts bytearray and memoryview as well as bytes."""
    serializer = JSONSerializer()
    assert serializer.blob_to_dict(bytearray(b'{"a": 1}')) == {"a": 1}
    assert serializer.blob_to_dict(memoryview(b'{"a": 1}')) == {"a": 1}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"raw", "Cannot encode values of type bytes to JSON"),
        (datetime.datetime(2020, 1, 1), "Cannot encode values of type datetime to JSON"),
        (datetime.date(2020, 1, 1), "Cannot encode values of type date to JSON"),
        (datetime.time(1), "Cannot encode values of type time to JSON"),
        (decimal.Decimal("1.5"), "Cannot encode values of type Decimal to JSON"),
        ({1}, "Cannot encode sets to JSON; convert the set to a list"),
        (object(), "Cannot encode values of type object to JSON"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_unsupported_values_raise_invalid_field_with_path(value: Any, reason: str) -> None:
    """Values JSON cannot hold raise InvalidField naming the path and the type."""
    with pytest.raises(InvalidField) as info:
        JSONSerializer().dict_to_blob({"body": {"actions": [{"body": {"v": value}}]}})
    assert str(info.value) == f"body.actions.0.body.v: {reason}"
    assert info.value.__cause__ is not None


def test_unsupported_key_raises_invalid_field() -> None:
    """A tuple key, valid in msgpack, is refused by JSON with the path of its dict."""
    with pytest.raises(InvalidField) as info:
        JSONSerializer().dict_to_blob({"a": {"b": {(1, 2): 3}}})
    assert str(info.value) == (
        "a.b: Cannot encode dict key (1, 2): JSON object keys must be str, int, float, bool or None, not tuple"
    )


def test_circular_reference_raises_invalid_field() -> None:
    """A self-containing dict raises InvalidField rather than ValueError."""
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(InvalidField, match=r"^x\.self: Circular reference"):
        JSONSerializer().dict_to_blob({"x": looped})


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (b"", "Could not decode JSON message"),
        (b'{"a": ', "Could not decode JSON message"),
        (b'{"a": 1} x', "Could not decode JSON message"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "Could not decode JSON message"),
    ],
    ids=["empty", "truncated", "trailing garbage", "invalid UTF-8", "array", "string", "too deep"],
)
def test_undecodable_bytes_raise_invalid_message(blob: bytes, reason: str) -> None:
    """Parse errors, bad UTF-8 and non-object documents raise InvalidMessage."""
    with pytest.raises(InvalidMessage, match=reason):
        JSONSerializer().blob_to_dict(blob)


def test_str_input_is_decoded_as_pysoa_does() -> None:
    """JSON text given as a str decodes like its UTF-8 bytes; a str that is not an object is refused."""
    assert JSONSerializer().blob_to_dict('{"a": "\u00e9", "b": "é"}') == {"a": "é", "b": "é"}
    with pytest.raises(InvalidMessage, match="not an object"):
        JSONSerializer().blob_to_dict("[1]")


def test_neither_bytes_nor_str_input_raises_invalid_message() -> None:
    """Anything else passed as the blob raises InvalidMessage, not AttributeError."""
    with pytest.raises(InvalidMessage, match="expected bytes or str"):
        JSONSerializer().blob_to_dict(12)  # type: ignore[arg-type]
