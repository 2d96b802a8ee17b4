"""The field base class and the small helpers every field module shares."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pysoa_like.common.schema import FieldError

__all__ = ["Field", "normalize_with", "prefix_errors", "strip_none"]


class Field:
    """The base of every field: ``errors`` reports, ``introspect`` describes, ``normalize`` cleans.

    ``normalize`` is only meaningful on a value without errors. It returns the value unchanged
    unless a field inside needs to add something (a class configuration adds ``object``), in which
    case the containers on the way are rebuilt, never mutated.
    """

    __slots__ = ()

    introspect_type = "base"
    # Whether normalize() may return something other than its argument (decided at construction).
    normalizes = False

    def errors(self, value: Any) -> list[FieldError]:
        """Return the validation failures of ``value`` (empty when valid)."""
        raise NotImplementedError

    def introspect(self) -> dict[str, Any]:
        """Return a JSON-serializable description in Conformity's introspection format."""
        raise NotImplementedError

    def normalize(self, value: Any) -> Any:
        """Return the validated value in its normal form (the value itself for most fields)."""
        return value

    def subfields(self) -> Iterator[tuple[str, Any]]:
        """The fields this one was given to hold, each with where it was given (``['key']``, ``.contents``).

        A startup check walks them to find what is not a field (a class given for its instance, a plain type or
        dict): a field that holds no other field yields nothing. The check walks only the fields of pysoa_like
        whose ``errors`` and ``subfields`` are its own: a subclass overriding either is not looked into.
        """
        return iter(())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.introspect()!r})"


def prefix_errors(errors: Iterable[Any], prefix: object) -> list[FieldError]:
    """Copy ``errors`` (ours or Conformity's) with ``prefix`` put in front of each pointer."""
    return [
        FieldError(error.code, error.message, f"{prefix}.{error.pointer}" if error.pointer else str(prefix))
        for error in errors
    ]


def strip_none(value: dict[str, Any]) -> dict[str, Any]:
    """Drop the ``None`` entries, as Conformity's introspection does."""
    return {key: item for key, item in value.items() if item is not None}


def normalize_with(field: Any, value: Any) -> Any:
    """Normalize with ``field`` if it knows how (foreign fields, such as Conformity's, do not)."""
    if getattr(field, "normalizes", False):
        return field.normalize(value)
    return value


def field_normalizes(field: Any) -> bool:
    """Whether ``field`` (ours or foreign) may change values when normalizing."""
    return bool(getattr(field, "normalizes", False))


def check_description(description: object) -> None:
    """Reject a description that is not text, as Conformity does."""
    if description is not None and not isinstance(description, str):
        raise TypeError("'description' must be a unicode string")
