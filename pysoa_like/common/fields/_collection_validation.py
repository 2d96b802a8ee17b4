"""Conformity's ``additional_validator`` hook of the container fields: a check of the whole collection.

The hook costs nothing to a field built without one: the field's own ``errors`` runs unchanged. A field built with
one gets, on the instance, an ``errors`` that runs the class's ``errors`` first and the validator only on a value
that passed it (Conformity's order).
"""

from __future__ import annotations

import abc
from typing import Any, Generic, TypeVar

from pysoa_like.common.schema import FieldError

__all__ = ["AdditionalCollectionValidator", "additional_validation_name", "use_additional_validator"]

CollectionT = TypeVar("CollectionT")


class AdditionalCollectionValidator(abc.ABC, Generic[CollectionT]):
    """A check across a whole collection (a key that must name another key, two fields that must differ...).

    Give an instance as ``additional_validator`` to ``Dictionary``, ``SchemalessDictionary``, ``List``, ``Set`` or
    ``Tuple``. Its ``errors`` is called only on a value that passed the field's own checks, and what it returns is
    the field's result. Conformity's validators (any object with an ``errors(value)`` method) are accepted too.
    """

    @abc.abstractmethod
    def errors(self, value: CollectionT) -> list[FieldError]:
        """Return the failures of ``value``, which has passed the field's own checks (empty when valid)."""


def use_additional_validator(field: Any, validator: Any) -> None:
    """Store ``validator`` as ``field.additional_validator`` and, when there is one, make the field run it.

    Raises:
        TypeError: ``validator`` is neither ``None`` nor an object with an ``errors`` method.
    """
    if validator is not None and not callable(getattr(validator, "errors", None)):
        raise TypeError("'additional_validator' must be an AdditionalCollectionValidator")
    field.additional_validator = validator
    if validator is not None:
        # An instance attribute shadows the class's method for this field only: fields without a validator keep
        # calling the class's errors directly, with no added test.
        field.__dict__["errors"] = _ErrorsThenAdditional(field, validator)


class _ErrorsThenAdditional:
    """A field's ``errors`` followed, on a value without errors, by its additional validator's."""

    __slots__ = ("field", "validator")

    def __init__(self, field: Any, validator: Any) -> None:
        self.field = field
        self.validator = validator

    def __call__(self, value: Any) -> list[FieldError]:
        result: list[FieldError] = type(self.field).errors(self.field, value)
        if result:
            return result
        return list(self.validator.errors(value) or ())


def additional_validation_name(validator: Any) -> str | None:
    """The introspection's ``additional_validation``: the validator's class name (``None`` without one)."""
    return type(validator).__name__ if validator is not None else None
