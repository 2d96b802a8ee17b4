"""A tagged JSON form of message values, to pass them between the PySOA venv and the test process.

Plain JSON loses what the interop tests check: int dict keys, bytes, datetimes (naive or UTC), dates,
times, Decimals and currint Amounts. Here every dict becomes ``{"$dict": [[key, value], ...]}`` and
every special value a one-key object (``{"$datetime": iso}``, ``{"$bytes": hex}``, ...), so decoding
gives back equal values of the same types. Lists stay JSON lists (tuples become lists, as on the
wire). Only the standard library is required; UTC datetimes are rebuilt with ``pytz.UTC`` when pytz
is importable (PySOA needs exactly that tzinfo), else ``datetime.timezone.utc``.

This module runs both inside the PySOA 1.4.9 venv and in the pysoa_like test process.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

__all__ = ["UTC", "decode", "encode", "same"]

try:
    import pytz  # type: ignore[import-untyped,unused-ignore]

    UTC: datetime.tzinfo = pytz.UTC
except ImportError:
    UTC = datetime.timezone.utc

try:
    from currint import Amount
except ImportError:
    Amount = None  # type: ignore[assignment,misc,unused-ignore]


def encode(value: Any) -> Any:
    """Turn ``value`` into JSON-compatible data that :func:`decode` turns back into an equal value.

    Args:
        value: None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, time, Decimal
            or currint Amount, nested freely.

    Returns:
        Data that ``json.dumps`` accepts.

    Raises:
        TypeError: For any other type, and for datetimes with a non-zero UTC offset.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"$dict": [[encode(key), encode(item)] for key, item in value.items()]}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, datetime.datetime):
        offset = value.utcoffset()
        if offset is None:
            return {"$datetime": value.isoformat()}
        if offset != datetime.timedelta(0):
            raise TypeError(f"only naive and UTC datetimes are tagged, not {value!r}")
        return {"$datetime_utc": value.replace(tzinfo=None).isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if Amount is not None and isinstance(value, Amount):
        return {"$amount": [value.currency.code, value.value]}
    raise TypeError(f"cannot tag a value of type {type(value).__name__}: {value!r}")


def decode(data: Any) -> Any:
    """Rebuild the value that :func:`encode` turned into ``data``.

    Args:
        data: What ``json.loads`` returned for encoded data.

    Returns:
        The value.

    Raises:
        ValueError: For an unknown tag, or an Amount when currint is not installed.
    """
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    ((tag, payload),) = data.items()
    if tag == "$dict":
        return {decode(key): decode(item) for key, item in payload}
    if tag == "$bytes":
        return bytes.fromhex(payload)
    if tag == "$datetime":
        return datetime.datetime.fromisoformat(payload)
    if tag == "$datetime_utc":
        naive = datetime.datetime.fromisoformat(payload)
        return UTC.localize(naive) if hasattr(UTC, "localize") else naive.replace(tzinfo=UTC)
    if tag == "$date":
        return datetime.date.fromisoformat(payload)
    if tag == "$time":
        return datetime.time.fromisoformat(payload)
    if tag == "$decimal":
        return decimal.Decimal(payload)
    if tag == "$amount":
        if Amount is None:
            raise ValueError("cannot decode a tagged Amount: currint is not installed")
        code, minor = payload
        return Amount.from_code_and_minor(code, minor)
    raise ValueError(f"unknown tag {tag!r}")


def _typed(data: Any) -> Any:
    if isinstance(data, list):
        return [_typed(item) for item in data]
    if isinstance(data, dict):
        return {key: _typed(item) for key, item in data.items()}
    return (type(data).__name__, data)


def same(left: Any, right: Any) -> bool:
    """Whether two values are equal AND of the same types all the way down (``1 != 1.0``, ``True != 1``).

    Args:
        left: A value :func:`encode` accepts.
        right: Another one.

    Returns:
        ``True`` if their tagged forms match, leaf types included.
    """
    return bool(_typed(encode(left)) == _typed(encode(right)))
