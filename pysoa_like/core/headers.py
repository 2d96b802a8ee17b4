"""The rules for reading request header values, each in one place for clients, servers and transports.

* Switches: an ``int``, anything with ``__int__``, or anything whose ``value`` has ``__int__``; never a
  ``bool`` (``True`` is far more likely a mistake than switch 1, and the wire schema refuses booleans) and
  never a number with a fraction part (a ``float``, ``Decimal`` or ``Fraction``: ``int()`` would silently
  truncate 2.9 to switch 2, and PySOA's server refuses them).
* ``control["suppress_response"]``: only the boolean ``True`` asks for no reply. The server's schema
  accepts nothing but booleans there, so any other value gets a reply (with the validation error),
  and clients and transports must then wait for it; clients always write a real boolean.
* ``meta["client_version"]``: a non-empty list of ints; absent or malformed counts as 0.40.0 (what
  PySOA assumes of clients older than the field).
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Mapping
from typing import Any

from pysoa_like.common._short_text import short_repr

__all__ = [
    "CLIENT_VERSION_META_KEY",
    "DEFAULT_CLIENT_VERSION",
    "get_switch",
    "is_switch",
    "parse_client_version",
    "parse_client_version_checked",
    "suppress_response_requested",
]

CLIENT_VERSION_META_KEY = "client_version"
# What PySOA assumes for clients that send no version (they predate 0.70 and the field).
DEFAULT_CLIENT_VERSION: tuple[int, ...] = (0, 40, 0)


def is_switch(value: Any) -> bool:
    """Whether ``value`` can be used as a switch.

    Args:
        value: An int, anything with ``__int__``, or anything whose ``value`` has ``__int__``.

    Returns:
        ``True`` if :func:`get_switch` would accept it (booleans and fractional numbers are refused).
    """
    if isinstance(value, bool) or _fractional(value):
        return False
    if hasattr(value, "__int__"):
        return True
    inner = getattr(value, "value", None)
    return inner is not None and not isinstance(inner, bool) and not _fractional(inner) and hasattr(inner, "__int__")


def _fractional(value: Any) -> bool:
    """Whether ``value`` is a number that may have a fraction part (``int()`` would drop it)."""
    if isinstance(value, float | decimal.Decimal):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)


def get_switch(value: Any) -> int:
    """The int behind a switch constant.

    Args:
        value: An int, anything with ``__int__``, or anything whose ``value`` has ``__int__``.

    Returns:
        The switch as an int.

    Raises:
        TypeError: If ``value`` is not switch-like (a ``bool`` or a ``float`` included).
    """
    if type(value) is int:
        return value
    if not is_switch(value):
        raise TypeError(
            f"{short_repr(value)} is not a switch (an int, an int-like object or an object with an int-like value; "
            "not a bool or a float)"
        )
    if hasattr(value, "__int__"):
        return int(value)
    return int(value.value)


def suppress_response_requested(control: Any) -> bool:
    """Whether a (possibly malformed) control header asks for no reply: ``suppress_response`` is exactly ``True``."""
    return isinstance(control, dict) and control.get("suppress_response") is True


def parse_client_version_checked(meta: Mapping[str, Any] | None) -> tuple[tuple[int, ...], str | None]:
    """Read the client version from request meta, reporting a malformed value instead of failing.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints and None; or ``(0, 40, 0)`` and None when absent; or ``(0, 40, 0)``
        and a sentence describing the problem when the value is not a non-empty list of integers.
    """
    value = meta.get(CLIENT_VERSION_META_KEY) if isinstance(meta, Mapping) else None
    if value is None:
        return DEFAULT_CLIENT_VERSION, None
    if not isinstance(value, (list, tuple)) or not value:
        return DEFAULT_CLIENT_VERSION, f"client_version {short_repr(value)} is not a non-empty list of integers"
    for part in value:
        # bool is an int subclass, but True/False in a version means a broken client.
        if not isinstance(part, int) or isinstance(part, bool):
            problem = f"client_version {short_repr(value)} has a non-integer element {short_repr(part)}"
            return DEFAULT_CLIENT_VERSION, problem
    return tuple(value), None


def parse_client_version(meta: Mapping[str, Any] | None) -> tuple[int, ...]:
    """Read the client version from request meta; never fails.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints, or ``(0, 40, 0)`` when absent or malformed (use
        :func:`parse_client_version_checked` to learn which).
    """
    return parse_client_version_checked(meta)[0]
