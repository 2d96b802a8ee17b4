"""Scalar fields: anything, booleans, numbers, strings and constants (Conformity's messages)."""

from __future__ import annotations

import decimal
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_INVALID, ERROR_CODE_UNKNOWN
from pysoa_like.common.fields._base import Field, check_description, strip_none
from pysoa_like.common.schema import FieldError

__all__ = [
    "Anything",
    "Boolean",
    "ByteString",
    "Constant",
    "Decimal",
    "Float",
    "Hashable",
    "Integer",
    "UnicodeString",
]

Number = int | float | decimal.Decimal


class Anything(Field):
    """Accepts every value.

    Args:
        description: Documentation for introspection.
    """

    introspect_type = "anything"

    def __init__(self, description: str | None = None) -> None:
        check_description(description)
        self.description = description

    def errors(self, value: Any) -> list[FieldError]:
        """Never reports anything."""
        return []

    def introspect(self) -> dict[str, Any]:
        """``{"type": "anything"}`` plus the description."""
        return strip_none({"type": self.introspect_type, "description": self.description})


class Hashable(Anything):
    """Accepts any value that ``hash()`` accepts."""

    introspect_type = "hashable"

    def errors(self, value: Any) -> list[FieldError]:
        """Report ``Value is not hashable`` for lists, dicts and other unhashable values."""
        try:
            hash(value)
        except TypeError:
            return [FieldError(ERROR_CODE_INVALID, "Value is not hashable")]
        return []


class Boolean(Anything):
    """Accepts ``True`` and ``False`` only (not 0 and 1)."""

    introspect_type = "boolean"

    def errors(self, value: Any) -> list[FieldError]:
        """Report ``Not a boolean`` for anything but a bool."""
        if value is True or value is False:
            return []
        return [FieldError(ERROR_CODE_INVALID, "Not a boolean")]


class Integer(Field):
    """Accepts integers (not bools), optionally bounded.

    Args:
        gt: The value must be greater than this.
        gte: The value must be at least this.
        lt: The value must be less than this.
        lte: The value must be at most this.
        description: Documentation for introspection.
    """

    introspect_type = "integer"
    valid_types: tuple[type, ...] = (int,)
    valid_noun = "an integer"

    def __init__(
        self,
        gt: Number | None = None,
        gte: Number | None = None,
        lt: Number | None = None,
        lte: Number | None = None,
        description: str | None = None,
    ) -> None:
        for name, bound in (("gt", gt), ("gte", gte), ("lt", lt), ("lte", lte)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, Number)):
                raise TypeError(f"'{name}' must be a number")
        check_description(description)
        self.gt, self.gte, self.lt, self.lte = gt, gte, lt, lte
        self.description = description
        self._error = FieldError(ERROR_CODE_INVALID, f"Not {self.valid_noun}")

    def errors(self, value: Any) -> list[FieldError]:
        """Report ``Not an integer`` (``Not a float``, ``Not a decimal``) or each bound not met."""
        if not isinstance(value, self.valid_types) or isinstance(value, bool):
            return [self._error]
        number: Any = value  # the class-level type tuple defeats narrowing
        result = []
        if self.gt is not None and number <= self.gt:
            result.append(FieldError(ERROR_CODE_INVALID, f"Value not > {self.gt}"))
        if self.lt is not None and number >= self.lt:
            result.append(FieldError(ERROR_CODE_INVALID, f"Value not < {self.lt}"))
        if self.gte is not None and number < self.gte:
            result.append(FieldError(ERROR_CODE_INVALID, f"Value not >= {self.gte}"))
        if self.lte is not None and number > self.lte:
            result.append(FieldError(ERROR_CODE_INVALID, f"Value not <= {self.lte}"))
        return result

    def introspect(self) -> dict[str, Any]:
        """The type, description and whichever bounds are set."""
        return strip_none(
            {
                "type": self.introspect_type,
                "description": self.description,
                "gt": self.gt,
                "gte": self.gte,
                "lt": self.lt,
                "lte": self.lte,
            }
        )


class Float(Integer):
    """Accepts floats and integers (not bools), optionally bounded."""

    introspect_type = "float"
    valid_types = (int, float)
    valid_noun = "a float"


class Decimal(Integer):
    """Accepts ``decimal.Decimal`` values, optionally bounded."""

    introspect_type = "decimal"
    valid_types = (decimal.Decimal,)
    valid_noun = "a decimal"


class UnicodeString(Field):
    """Accepts ``str`` values, optionally with length limits.

    Args:
        min_length: The shortest length allowed.
        max_length: The longest length allowed.
        description: Documentation for introspection.
        allow_blank: Whether an empty or whitespace-only string is allowed.

    Raises:
        ValueError: ``min_length`` is greater than ``max_length``.
    """

    introspect_type = "unicode"
    valid_type: type = str
    valid_noun = "unicode string"

    def __init__(
        self,
        min_length: int | None = None,
        max_length: int | None = None,
        description: str | None = None,
        allow_blank: bool = True,
    ) -> None:
        if min_length is not None and max_length is not None and min_length > max_length:
            raise ValueError(f"min_length cannot be greater than max_length in {type(self).__name__}")
        check_description(description)
        self.min_length, self.max_length = min_length, max_length
        self.description = description
        self.allow_blank = allow_blank
        self._error = FieldError(ERROR_CODE_INVALID, f"Not a {self.valid_noun}")

    def errors(self, value: Any) -> list[FieldError]:
        """Report the first problem: wrong type, too short, too long, or blank."""
        if not isinstance(value, self.valid_type):
            return [self._error]
        text: Any = value  # the class-level type defeats narrowing
        if self.min_length is not None and len(text) < self.min_length:
            return [FieldError(ERROR_CODE_INVALID, f"String must have a length of at least {self.min_length}")]
        if self.max_length is not None and len(text) > self.max_length:
            return [FieldError(ERROR_CODE_INVALID, f"String must have a length no more than {self.max_length}")]
        if not self.allow_blank and not text.strip():
            return [FieldError(ERROR_CODE_INVALID, "String cannot be blank")]
        return []

    def introspect(self) -> dict[str, Any]:
        """The type and whichever limits are set (``allow_blank`` only when it is false)."""
        return strip_none(
            {
                "type": self.introspect_type,
                "description": self.description,
                "min_length": self.min_length,
                "max_length": self.max_length,
                "allow_blank": False if not self.allow_blank else None,
            }
        )


class ByteString(UnicodeString):
    """Accepts ``bytes`` values, optionally with length limits."""

    introspect_type = "bytes"
    valid_type = bytes
    valid_noun = "byte string"


def _constant_repr(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else f"{value}"


class Constant(Field):
    """Accepts exactly one of the given values (code ``UNKNOWN`` otherwise).

    Args:
        *values: The allowed values (hashable).
        description: Documentation for introspection.

    Raises:
        ValueError: No value was given.
    """

    introspect_type = "constant"

    def __init__(self, *values: Any, description: str | None = None) -> None:
        if not values:
            raise ValueError("You must provide at least one constant value")
        check_description(description)
        self.values = frozenset(values)
        self.description = description
        if len(self.values) == 1:
            message = f"Value is not {_constant_repr(next(iter(self.values)))}"
        else:
            message = "Value is not one of: " + ", ".join(sorted(_constant_repr(v) for v in self.values))
        self._error = FieldError(ERROR_CODE_UNKNOWN, message)

    def errors(self, value: Any) -> list[FieldError]:
        """Report ``Value is not one of: ...`` for any other (or unhashable) value."""
        try:
            valid = value in self.values
        except TypeError:
            valid = False
        return [] if valid else [self._error]

    def introspect(self) -> dict[str, Any]:
        """``{"type": "constant", "values": [...]}`` with the values sorted by their text."""
        return strip_none(
            {
                "type": self.introspect_type,
                "values": [
                    v if v is None or isinstance(v, (str, bool, int, float)) else str(v)
                    for v in sorted(self.values, key=str)
                ],
                "description": self.description,
            }
        )
