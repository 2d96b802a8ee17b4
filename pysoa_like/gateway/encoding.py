"""The gateway's JSON encoding of the values JSON cannot carry, and back.

Action bodies travel between services as MessagePack, which carries date-times, dates, times,
Decimals, currint Amounts, bytes, non-finite floats and maps with non-string keys. JSON has none of
these, so the gateway writes each as a one-key object whose key names the type (a *tag*), and reads
the same objects in request bodies back into those values. The encoding is reversible: decoding what
:func:`to_json_value` produced gives back the value it was given (tuples come back as lists, as
they do over MessagePack).

==============  ===============================================  ==========================================
Tag             Python value                                     JSON text
==============  ===============================================  ==========================================
``$datetime``   ``datetime.datetime``, naive or UTC              ``"2026-12-06T01:02:03.000004"``, UTC ones
                                                                 end in ``+00:00``
``$date``       ``datetime.date``                                ``"2026-12-06"``
``$time``       ``datetime.time`` (naive)                        ``"01:02:03.000004"``
``$decimal``    ``decimal.Decimal``                              ``"12.3400"`` (exponent kept; ``NaN``,
                                                                 ``Infinity``, ``-Infinity`` too)
``$amount``     ``currint.Amount``                               ``{"currency": "EUR", "minor": 1250}``
                                                                 (minor units: 12.50 EUR)
``$bytes``      ``bytes``                                        standard base64 with padding
``$float``      a NaN or infinite ``float``                      ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
``$map``        a ``dict`` with a key that is not a string       ``[[key, value], ...]``, keys and values
                                                                 encoded the same way
``$object``     a ``dict`` whose only key is one of these tags   the dict itself, not read as a tag
==============  ===============================================  ==========================================

Any other object with exactly one key that is a tag is read as that tag (a bad value is the caller's
error); objects with other keys, or with several keys, are plain dicts. An aware date-time with an
offset other than zero is read as the same instant in UTC (the wire carries only naive and UTC
date-times), with or without a ``Z``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any

from pysoa_like.common._extras import install_extra

__all__ = ["TAGS", "EncodingError", "from_json_value", "to_json_value"]

#: The tags of the encoding, in the table's order.
TAGS = ("$datetime", "$date", "$time", "$decimal", "$amount", "$bytes", "$float", "$map", "$object")
_TAG_SET = frozenset(TAGS)
_FLOAT_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_PLAIN = (str, int, bool, type(None))


class EncodingError(ValueError):
    """A value cannot be encoded to JSON, or a tagged JSON value cannot be read.

    Args:
        message: What is wrong.
        path: Where, as a dotted path from the top (``items.0.when``), or ``""`` for the top.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.reason = message
        self.path = path


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _amount_class() -> Any:
    try:
        from currint import Amount
    except ImportError:
        return None
    return Amount


def to_json_value(value: Any, path: str = "") -> Any:
    """``value`` with every value JSON cannot carry replaced by its tagged object (see the module docstring).

    Args:
        value: What a service answered (dicts, lists and the types MessagePack carries).
        path: Where ``value`` sits, for messages.

    Returns:
        A value ``json.dumps`` writes without loss (no NaN, no non-string keys).

    Raises:
        EncodingError: A value of a type with no encoding (the message names its path and type).
    """
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, Mapping):
        if all(isinstance(key, str) for key in value):
            encoded = {key: to_json_value(item, _join(path, key)) for key, item in value.items()}
            if len(encoded) == 1 and next(iter(encoded)) in _TAG_SET:
                return {"$object": encoded}
            return encoded
        return {
            "$map": [
                [to_json_value(key, _join(path, key)), to_json_value(item, _join(path, key))]
                for key, item in value.items()
            ]
        }
    if isinstance(value, list | tuple):
        return [to_json_value(item, _join(path, index)) for index, item in enumerate(value)]
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc)
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    amount_class = _amount_class()
    if amount_class is not None and isinstance(value, amount_class):
        if value.currency is None:
            raise EncodingError("an Amount without a currency (currint's zero amount) has no JSON encoding", path)
        return {"$amount": {"currency": str(value.currency.code), "minor": int(value.value)}}
    raise EncodingError(f"a {type(value).__name__} has no JSON encoding", path)


def _text(value: Any, tag: str, path: str) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{tag} takes a string, got {_kind(value)}", path)
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if type(value) in names:
        return names[type(value)]
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _read_datetime(value: Any, path: str) -> datetime.datetime:
    text = _text(value, "$datetime", path)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise EncodingError(f"not an ISO 8601 date-time: {value!r}", path) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc)
    return parsed


def _read_date(value: Any, path: str) -> datetime.date:
    text = _text(value, "$date", path)
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise EncodingError(f"not an ISO 8601 date (YYYY-MM-DD): {value!r}", path) from None


def _read_time(value: Any, path: str) -> datetime.time:
    text = _text(value, "$time", path)
    try:
        parsed = datetime.time.fromisoformat(text)
    except ValueError:
        raise EncodingError(f"not an ISO 8601 time (HH:MM[:SS[.ffffff]]): {value!r}", path) from None
    if parsed.tzinfo is not None:
        raise EncodingError("a time with an offset cannot be sent: give a naive time", path)
    return parsed


def _read_decimal(value: Any, path: str) -> decimal.Decimal:
    text = _text(value, "$decimal", path)
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise EncodingError(f"not a decimal number: {value!r}", path) from None


def _read_bytes(value: Any, path: str) -> bytes:
    text = _text(value, "$bytes", path)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise EncodingError("not standard base64 (A-Z, a-z, 0-9, +, /, with = padding)", path) from None


def _read_float(value: Any, path: str) -> float:
    text = _text(value, "$float", path)
    if text not in _FLOAT_TEXT:
        raise EncodingError(f"$float is one of NaN, Infinity, -Infinity, got {value!r}", path)
    return _FLOAT_TEXT[text]


def _read_amount(value: Any, path: str) -> Any:
    if not isinstance(value, dict) or set(value) != {"currency", "minor"}:
        raise EncodingError('$amount takes {"currency": "EUR", "minor": <integer>}', path)
    currency, minor = value["currency"], value["minor"]
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise EncodingError(f"$amount's currency must be a 3-letter code, got {currency!r}", path)
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise EncodingError(f"$amount's minor units must be an integer, got {_kind(minor)}", path)
    amount_class = _amount_class()
    if amount_class is None:
        raise EncodingError(f"amounts need currint on the gateway: {install_extra('currint')}", path)
    try:
        return amount_class.from_code_and_minor(currency.upper(), minor)
    except Exception as exc:  # currint refuses unknown currencies with its own exception types
        raise EncodingError(f"$amount refused by currint: {exc}", path) from None


def _read_map(value: Any, path: str) -> dict[Any, Any]:
    if not isinstance(value, list):
        raise EncodingError(f"$map takes an array of [key, value] pairs, got {_kind(value)}", path)
    result: dict[Any, Any] = {}
    for index, pair in enumerate(value):
        where = _join(path, index)
        if not isinstance(pair, list) or len(pair) != 2:
            raise EncodingError("each $map entry is a [key, value] pair", where)
        key = from_json_value(pair[0], where)
        try:
            result[key] = from_json_value(pair[1], _join(path, key))
        except TypeError:
            raise EncodingError(f"a $map key must be hashable, got {_kind(key)}", where) from None
    return result


def _read_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EncodingError(f"$object takes an object, got {_kind(value)}", path)
    return {key: from_json_value(item, _join(path, key)) for key, item in value.items()}


_READERS: dict[str, Callable[[Any, str], Any]] = {
    "$datetime": _read_datetime,
    "$date": _read_date,
    "$time": _read_time,
    "$decimal": _read_decimal,
    "$amount": _read_amount,
    "$bytes": _read_bytes,
    "$float": _read_float,
    "$map": _read_map,
    "$object": _read_object,
}


def from_json_value(value: Any, path: str = "") -> Any:
    """``value`` (as ``json.loads`` gave it) with every tagged object read back into its Python value.

    Args:
        value: A parsed JSON value.
        path: Where ``value`` sits, for messages.

    Raises:
        EncodingError: A tagged object whose value is malformed (the message names its path).
    """
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            reader = _READERS.get(key)
            if reader is not None:
                return reader(value[key], path)
        return {key: from_json_value(item, _join(path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json_value(item, _join(path, index)) for index, item in enumerate(value)]
    if type(value) is float and not math.isfinite(value):
        # A number beyond the float range (1e400) that json.loads read as an infinity (the NaN and Infinity
        # literals are refused while parsing): refused as they are, with where it is.
        name = "Infinity" if value > 0 else "-Infinity"
        raise EncodingError(f'a number out of the range of a float: send {{"$float": "{name}"}} for {name}', path)
    return value
