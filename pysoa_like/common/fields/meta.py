"""Fields that combine or wrap other fields: nullable, any-of, all-of, and instance checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any as AnyType

from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.fields._base import Field, check_description, field_normalizes, normalize_with, strip_none
from pysoa_like.common.schema import FieldError

__all__ = ["All", "Any", "Nullable", "ObjectInstance"]


class Nullable(Field):
    """Accepts ``None``, or any value that ``field`` accepts.

    Args:
        field: The field for non-``None`` values.
    """

    introspect_type = "nullable"

    def __init__(self, field: AnyType) -> None:
        self.field = field
        self.normalizes = field_normalizes(field)

    def subfields(self) -> Iterator[tuple[str, AnyType]]:
        """The field of the values other than ``None``, at ``.field``."""
        yield ".field", self.field

    def errors(self, value: AnyType) -> list[FieldError]:
        """Nothing for ``None``; otherwise the inner field's errors."""
        if value is None:
            return []
        return list(self.field.errors(value))

    def normalize(self, value: AnyType) -> AnyType:
        """``None`` stays ``None``; other values are normalized by the inner field."""
        return None if value is None else normalize_with(self.field, value)

    def introspect(self) -> dict[str, AnyType]:
        """``{"type": "nullable", "nullable": <inner introspection>}``."""
        return {"type": self.introspect_type, "nullable": self.field.introspect()}


class Any(Field):
    """Accepts a value that at least one of the options accepts ("one of").

    Args:
        *options: The fields to try, in order.
        description: Documentation for introspection.
    """

    introspect_type = "any"

    def __init__(self, *options: AnyType, description: str | None = None) -> None:
        check_description(description)
        self.options = options
        self.description = description
        self.normalizes = any(field_normalizes(option) for option in options)

    def subfields(self) -> Iterator[tuple[str, AnyType]]:
        """The options, at ``.options[i]``."""
        for index, option in enumerate(self.options):
            yield f".options[{index}]", option

    def errors(self, value: AnyType) -> list[FieldError]:
        """Nothing if one option passes; otherwise every option's errors, in order."""
        result: list[FieldError] = []
        for option in self.options:
            option_errors = option.errors(value)
            if not option_errors:
                return []
            result.extend(FieldError(e.code, e.message, e.pointer) for e in option_errors)
        return result

    def normalize(self, value: AnyType) -> AnyType:
        """Normalize with the first option that accepts the value."""
        for option in self.options:
            if not option.errors(value):
                return normalize_with(option, value)
        return value

    def introspect(self) -> dict[str, AnyType]:
        """``{"type": "any", "options": [...]}``."""
        return strip_none(
            {
                "type": self.introspect_type,
                "description": self.description,
                "options": [option.introspect() for option in self.options],
            }
        )


class All(Field):
    """Accepts a value that every requirement accepts.

    Args:
        *requirements: The fields that must all pass.
        description: Documentation for introspection.
    """

    introspect_type = "all"

    def __init__(self, *requirements: AnyType, description: str | None = None) -> None:
        check_description(description)
        self.requirements = requirements
        self.description = description

    def subfields(self) -> Iterator[tuple[str, AnyType]]:
        """The requirements, at ``.requirements[i]``."""
        for index, requirement in enumerate(self.requirements):
            yield f".requirements[{index}]", requirement

    def errors(self, value: AnyType) -> list[FieldError]:
        """Every requirement's errors, in order."""
        return [FieldError(e.code, e.message, e.pointer) for r in self.requirements for e in r.errors(value)]

    def introspect(self) -> dict[str, AnyType]:
        """``{"type": "all", "requirements": [...]}``."""
        return strip_none(
            {
                "type": self.introspect_type,
                "description": self.description,
                "requirements": [requirement.introspect() for requirement in self.requirements],
            }
        )


class ObjectInstance(Field):
    """Accepts instances of ``valid_type`` (a class or a tuple of classes).

    Args:
        valid_type: The accepted type(s).
        description: Documentation for introspection.
    """

    introspect_type = "object_instance"

    def __init__(self, valid_type: type | tuple[type, ...], description: str | None = None) -> None:
        check_description(description)
        self.valid_type = valid_type
        self.description = description
        name = getattr(valid_type, "__name__", repr(valid_type))
        self._error = FieldError(ERROR_CODE_INVALID, f"Not an instance of {name}")

    def errors(self, value: AnyType) -> list[FieldError]:
        """Report ``Not an instance of <name>`` for other values."""
        return [] if isinstance(value, self.valid_type) else [self._error]

    def introspect(self) -> dict[str, AnyType]:
        """The type and the repr of the accepted type(s)."""
        return strip_none(
            {"type": self.introspect_type, "description": self.description, "valid_type": repr(self.valid_type)}
        )
