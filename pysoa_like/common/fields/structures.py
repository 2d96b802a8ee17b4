"""Container fields: lists, sets, tuples and dictionaries (Conformity's messages and pointers)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN
from pysoa_like.common.fields._base import (
    Field,
    check_description,
    field_normalizes,
    normalize_with,
    prefix_errors,
    strip_none,
)
from pysoa_like.common.fields._collection_validation import (
    AdditionalCollectionValidator,
    additional_validation_name,
    use_additional_validator,
)
from pysoa_like.common.fields.basic import Anything, Hashable
from pysoa_like.common.schema import FieldError

__all__ = ["AdditionalCollectionValidator", "Dictionary", "List", "SchemalessDictionary", "Set", "Tuple"]


def _check_lengths(field: Field, min_length: int | None, max_length: int | None) -> None:
    if min_length is not None and max_length is not None and min_length > max_length:
        raise ValueError(f"min_length cannot be greater than max_length in {type(field).__name__}")


def _sort_keys(keys: Iterable[Any]) -> list[Any]:
    try:
        return sorted(keys)
    except TypeError:  # mixed key types: order by their text instead
        return sorted(keys, key=str)


class List(Field):
    """Accepts a ``list`` whose items all pass ``contents``.

    Args:
        contents: The field every item must pass.
        max_length: The most items allowed.
        min_length: The fewest items allowed.
        description: Documentation for introspection.
        additional_validator: An :class:`AdditionalCollectionValidator` run on a list that passed the other checks.
    """

    introspect_type = "list"
    additional_validator: Any  # the hook given to the constructor, or None
    valid_types: type | tuple[type, ...] = list
    type_error = "Not a list"

    def __init__(
        self,
        contents: Any,
        max_length: int | None = None,
        min_length: int | None = None,
        description: str | None = None,
        additional_validator: Any = None,
    ) -> None:
        _check_lengths(self, min_length, max_length)
        check_description(description)
        self.contents = contents
        self.max_length, self.min_length = max_length, min_length
        self.description = description
        self.normalizes = field_normalizes(contents)
        use_additional_validator(self, additional_validator)

    def _pointer(self, index: int, item: Any) -> object:
        return index

    def subfields(self) -> Iterator[tuple[str, Any]]:
        """The field of the items, at ``.contents``."""
        yield ".contents", self.contents

    def errors(self, value: Any) -> list[FieldError]:
        """Report the type, the length (``List is shorter than 1``), then each item's errors."""
        if not isinstance(value, self.valid_types):
            return [FieldError(ERROR_CODE_INVALID, self.type_error)]
        items: Any = value  # the class-level type defeats narrowing
        result = []
        if self.max_length is not None and len(items) > self.max_length:
            result.append(FieldError(ERROR_CODE_INVALID, f"List is longer than {self.max_length}"))
        elif self.min_length is not None and len(items) < self.min_length:
            result.append(FieldError(ERROR_CODE_INVALID, f"List is shorter than {self.min_length}"))
        check = self.contents.errors
        for index, item in enumerate(items):
            item_errors = check(item)
            if item_errors:
                result.extend(prefix_errors(item_errors, self._pointer(index, item)))
        return result

    def normalize(self, value: Any) -> Any:
        """Normalize each item (a new container; only when an item's field normalizes)."""
        if not self.normalizes:
            return value
        return type(value)(normalize_with(self.contents, item) for item in value)

    def introspect(self) -> dict[str, Any]:
        """The type, the contents' introspection and the limits."""
        return strip_none(
            {
                "type": self.introspect_type,
                "contents": self.contents.introspect(),
                "max_length": self.max_length,
                "min_length": self.min_length,
                "description": self.description,
                "additional_validation": additional_validation_name(self.additional_validator),
            }
        )


class Set(List):
    """Accepts a ``set`` or ``frozenset`` whose items all pass ``contents`` (pointers are ``[item]``)."""

    introspect_type = "set"
    valid_types = AbstractSet
    type_error = "Not a set or frozenset"

    def _pointer(self, index: int, item: Any) -> object:
        return f"[{item}]"


class Tuple(Field):
    """Accepts a ``tuple`` with exactly one item per given field.

    Args:
        *contents: The field of each position.
        description: Documentation for introspection.
        additional_validator: An :class:`AdditionalCollectionValidator` run on a tuple that passed the other checks.
    """

    introspect_type = "tuple"
    additional_validator: Any  # the hook given to the constructor, or None

    def __init__(self, *contents: Any, description: str | None = None, additional_validator: Any = None) -> None:
        check_description(description)
        self.contents = contents
        self.description = description
        self.normalizes = any(field_normalizes(field) for field in contents)
        use_additional_validator(self, additional_validator)

    def subfields(self) -> Iterator[tuple[str, Any]]:
        """The field of each position, at ``.contents[i]``."""
        for index, field in enumerate(self.contents):
            yield f".contents[{index}]", field

    def errors(self, value: Any) -> list[FieldError]:
        """Report the type, a length mismatch, then each position's errors."""
        if not isinstance(value, tuple):
            return [FieldError(ERROR_CODE_INVALID, "Not a tuple")]
        result = []
        if len(value) != len(self.contents):
            result.append(
                FieldError(
                    ERROR_CODE_INVALID, f"Number of elements {len(value)} does not match expected {len(self.contents)}"
                )
            )
        for index, (field, item) in enumerate(zip(self.contents, value, strict=False)):
            result.extend(prefix_errors(field.errors(item), index))
        return result

    def normalize(self, value: Any) -> Any:
        """Normalize each position (a new tuple; only when a position's field normalizes)."""
        if not self.normalizes:
            return value
        return tuple(normalize_with(field, item) for field, item in zip(self.contents, value, strict=True))

    def introspect(self) -> dict[str, Any]:
        """The type and each position's introspection."""
        return strip_none(
            {
                "type": self.introspect_type,
                "contents": [field.introspect() for field in self.contents],
                "description": self.description,
                "additional_validation": additional_validation_name(self.additional_validator),
            }
        )


class Dictionary(Field):
    """Accepts a ``dict`` with known keys, each validated by its own field.

    As in Conformity, a subclass may set ``contents``, ``optional_keys``, ``allow_extra_keys`` and ``description``
    as class attributes: they are the defaults of its constructor's arguments (``class Point(Dictionary):
    contents = {...}``, then ``Point()``).

    Args:
        contents: Key to field. Every key is required unless listed in ``optional_keys``.
        optional_keys: Keys that may be absent.
        allow_extra_keys: Whether keys outside ``contents`` are allowed (rejected with ``UNKNOWN``
            otherwise; ``False`` when neither given nor set on the class).
        description: Documentation for introspection.
        additional_validator: An :class:`AdditionalCollectionValidator` run on a dict that passed the other checks.

    Raises:
        ValueError: No ``contents``, given or set on the class.
        TypeError: An argument of the wrong type.
    """

    introspect_type = "dictionary"
    additional_validator: Any  # the hook given to the constructor, or None

    contents: Mapping[Any, Any]
    optional_keys: frozenset[Any]
    allow_extra_keys: bool

    def __init__(
        self,
        contents: Mapping[Any, Any] | None = None,
        optional_keys: Iterable[Any] | None = None,
        allow_extra_keys: bool | None = None,
        description: str | None = None,
        additional_validator: Any = None,
    ) -> None:
        contents, optional_keys, allow_extra_keys, description = _class_defaults(
            type(self), contents, optional_keys, allow_extra_keys, description
        )
        if not isinstance(contents, Mapping):
            raise TypeError("'contents' must be a dict")
        if not isinstance(allow_extra_keys, bool):
            raise TypeError("'allow_extra_keys' must be a boolean")
        check_description(description)
        self.contents = contents
        self.optional_keys = frozenset(optional_keys)
        self.allow_extra_keys = allow_extra_keys
        self.description = description
        use_additional_validator(self, additional_validator)
        self._items = tuple(contents.items())
        self._missing = {
            key: FieldError(ERROR_CODE_MISSING, f"Missing key: {key}", str(key))
            for key in contents
            if key not in self.optional_keys
        }
        self.normalizes = any(field_normalizes(field) for field in contents.values())

    def subfields(self) -> Iterator[tuple[str, Any]]:
        """The field of each key, at ``['key']``."""
        for key, field in self._items:
            yield f"[{key!r}]", field

    def errors(self, value: Any) -> list[FieldError]:
        """Report missing keys (``MISSING``), each value's errors, then extra keys (``UNKNOWN``)."""
        if not isinstance(value, dict):
            return [FieldError(ERROR_CODE_INVALID, "Not a dict")]
        result: list[FieldError] = []
        found = 0
        for key, field in self._items:
            if key in value:
                found += 1
                item_errors = field.errors(value[key])
                if item_errors:
                    result.extend(prefix_errors(item_errors, key))
            elif key in self._missing:
                result.append(self._missing[key])
        if found < len(value) and not self.allow_extra_keys:
            extra = [key for key in value if key not in self.contents]
            if extra:
                names = ", ".join(str(key) for key in _sort_keys(extra))
                result.append(FieldError(ERROR_CODE_UNKNOWN, f"Extra keys present: {names}"))
        return result

    def normalize(self, value: Any) -> Any:
        """Normalize each known key's value (a new dict; only when one of the fields normalizes)."""
        if not self.normalizes:
            return value
        contents = self.contents
        return {key: normalize_with(contents[key], item) if key in contents else item for key, item in value.items()}

    def extend(
        self,
        contents: Mapping[Any, Any] | None = None,
        optional_keys: Iterable[Any] | None = None,
        allow_extra_keys: bool | None = None,
        description: str | None = None,
        replace_optional_keys: bool = False,
        additional_validator: Any = None,
    ) -> Dictionary:
        """A new Dictionary with more contents/optional keys and, if given, a new flag or description.

        Args:
            contents: Keys to add (or replace).
            optional_keys: Optional keys to add (or, with ``replace_optional_keys``, the new set).
            allow_extra_keys: Replaces the flag when not ``None``.
            description: Replaces the description when not ``None``.
            replace_optional_keys: Replace the optional keys rather than adding to them.
            additional_validator: Replaces the additional validator when not ``None``.

        Returns:
            The extended Dictionary; this one is unchanged.
        """
        added = frozenset(optional_keys or ())
        pairs = list(self.contents.items()) + list((contents or {}).items())
        merged: Mapping[Any, Any] = OrderedDict(pairs) if isinstance(self.contents, OrderedDict) else dict(pairs)
        return Dictionary(
            merged,
            optional_keys=added if replace_optional_keys else self.optional_keys | added,
            allow_extra_keys=self.allow_extra_keys if allow_extra_keys is None else allow_extra_keys,
            description=self.description if description is None else description,
            additional_validator=self.additional_validator if additional_validator is None else additional_validator,
        )

    def introspect(self) -> dict[str, Any]:
        """Contents, sorted optional keys, the extra-keys flag, and ``display_order`` for an OrderedDict."""
        return strip_none(
            {
                "type": self.introspect_type,
                "contents": {key: field.introspect() for key, field in self.contents.items()},
                "optional_keys": _sort_keys(self.optional_keys),
                "allow_extra_keys": self.allow_extra_keys,
                "description": self.description,
                "display_order": list(self.contents) if isinstance(self.contents, OrderedDict) else None,
                "additional_validation": additional_validation_name(self.additional_validator),
            }
        )


def _class_defaults(
    cls: type,
    contents: Mapping[Any, Any] | None,
    optional_keys: Iterable[Any] | None,
    allow_extra_keys: bool | None,
    description: str | None,
) -> tuple[Mapping[Any, Any], Iterable[Any], bool, str | None]:
    """A Dictionary's arguments, each not given (``None``) replaced by the class attribute of the same name."""
    if contents is None:
        contents = getattr(cls, "contents", None)
        if contents is None:
            raise ValueError("'contents' is a required argument")
    if optional_keys is None:
        optional_keys = getattr(cls, "optional_keys", None) or ()
    if allow_extra_keys is None:
        allow_extra_keys = getattr(cls, "allow_extra_keys", None)
        allow_extra_keys = False if allow_extra_keys is None else allow_extra_keys
    if description is None:
        description = getattr(cls, "description", None)
    return contents, optional_keys, allow_extra_keys, description


class SchemalessDictionary(Field):
    """Accepts any ``dict``, optionally checking every key and value and the number of entries.

    Args:
        key_type: The field every key must pass (any hashable by default).
        value_type: The field every value must pass (anything by default).
        max_length: The most entries allowed.
        min_length: The fewest entries allowed.
        description: Documentation for introspection.
        additional_validator: An :class:`AdditionalCollectionValidator` run on a dict that passed the other checks.
    """

    introspect_type = "schemaless_dictionary"
    additional_validator: Any  # the hook given to the constructor, or None

    def __init__(
        self,
        key_type: Any = None,
        value_type: Any = None,
        max_length: int | None = None,
        min_length: int | None = None,
        description: str | None = None,
        additional_validator: Any = None,
    ) -> None:
        _check_lengths(self, min_length, max_length)
        check_description(description)
        self.key_type = key_type if key_type is not None else Hashable()
        self.value_type = value_type if value_type is not None else Anything()
        self.max_length, self.min_length = max_length, min_length
        self.description = description
        # Keys of a dict are always hashable and Anything accepts all: skip the default checks.
        self._check_keys = type(self.key_type) is not Hashable
        self._check_values = type(self.value_type) is not Anything
        self.normalizes = field_normalizes(self.value_type)
        use_additional_validator(self, additional_validator)

    def subfields(self) -> Iterator[tuple[str, Any]]:
        """The fields of the keys and of the values, at ``.key_type`` and ``.value_type``."""
        yield ".key_type", self.key_type
        yield ".value_type", self.value_type

    def errors(self, value: Any) -> list[FieldError]:
        """Report the type, the size, then each key's and value's errors (pointer: the key)."""
        if not isinstance(value, dict):
            return [FieldError(ERROR_CODE_INVALID, "Not a dict")]
        result = []
        if self.max_length is not None and len(value) > self.max_length:
            result.append(FieldError(ERROR_CODE_INVALID, f"Dict contains more than {self.max_length} value(s)"))
        elif self.min_length is not None and len(value) < self.min_length:
            result.append(FieldError(ERROR_CODE_INVALID, f"Dict contains fewer than {self.min_length} value(s)"))
        if self._check_keys or self._check_values:
            check_key, check_value = self.key_type.errors, self.value_type.errors
            for key, item in value.items():
                if self._check_keys:
                    key_errors = check_key(key)
                    if key_errors:
                        result.extend(prefix_errors(key_errors, key))
                if self._check_values:
                    item_errors = check_value(item)
                    if item_errors:
                        result.extend(prefix_errors(item_errors, key))
        return result

    def normalize(self, value: Any) -> Any:
        """Normalize each value (a new dict; only when the value field normalizes)."""
        if not self.normalizes:
            return value
        return {key: normalize_with(self.value_type, item) for key, item in value.items()}

    def introspect(self) -> dict[str, Any]:
        """The limits plus ``key_type``/``value_type`` when they are not the defaults."""
        result = strip_none(
            {
                "type": self.introspect_type,
                "max_length": self.max_length,
                "min_length": self.min_length,
                "description": self.description,
                "additional_validation": additional_validation_name(self.additional_validator),
            }
        )
        if self._check_keys:
            result["key_type"] = self.key_type.introspect()
        if self._check_values:
            result["value_type"] = self.value_type.introspect()
        return result
