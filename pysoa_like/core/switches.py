"""Switches: the int behind a switch constant, each rule in one place for clients, servers and transports.

A switch is an ``int``, anything with ``__int__``, or anything whose ``value`` has ``__int__``; never a
``bool`` (``True`` is far more likely a mistake than switch 1, and the wire schema refuses booleans) and
never a number with a fraction part (a ``float``, ``Decimal`` or ``Fraction``: ``int()`` would silently
truncate 2.9 to switch 2, and PySOA's server refuses them).
"""

from __future__ import annotations

import decimal
import numbers
from typing import Any

from pysoa_like.common._short_text import short_repr

__all__ = ["get_switch", "is_switch"]


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
