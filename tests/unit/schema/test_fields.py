"""Each of our fields reports Conformity's codes, messages and pointers."""

from __future__ import annotations

import decimal
from typing import Any

import pytest

from pysoa_like.common import fields
from pysoa_like.common.schema import FieldError


def _errors(field: Any, value: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in field.errors(value)]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (fields.Integer(), "1", [("INVALID", "Not an integer", None)]),
        (fields.Integer(), True, [("INVALID", "Not an integer", None)]),
        (fields.Integer(gt=1), 1, [("INVALID", "Value not > 1", None)]),
        (fields.Integer(gte=1), 0, [("INVALID", "Value not >= 1", None)]),
        (fields.Integer(lt=1), 1, [("INVALID", "Value not < 1", None)]),
        (fields.Integer(lte=1), 2, [("INVALID", "Value not <= 1", None)]),
        (fields.Float(), "x", [("INVALID", "Not a float", None)]),
        (fields.Decimal(), 1, [("INVALID", "Not a decimal", None)]),
        (fields.Boolean(), 1, [("INVALID", "Not a boolean", None)]),
        (fields.UnicodeString(), b"x", [("INVALID", "Not a unicode string", None)]),
        (fields.UnicodeString(min_length=2), "a", [("INVALID", "String must have a length of at least 2", None)]),
        (fields.UnicodeString(max_length=1), "ab", [("INVALID", "String must have a length no more than 1", None)]),
        (fields.UnicodeString(allow_blank=False), " ", [("INVALID", "String cannot be blank", None)]),
        (fields.ByteString(), "x", [("INVALID", "Not a byte string", None)]),
        (fields.Hashable(), [], [("INVALID", "Value is not hashable", None)]),
        (fields.Constant("a"), "b", [("UNKNOWN", 'Value is not "a"', None)]),
        (fields.Constant("b", "a", 3), [], [("UNKNOWN", 'Value is not one of: "a", "b", 3', None)]),
        (fields.List(fields.Integer()), (1,), [("INVALID", "Not a list", None)]),
        (fields.List(fields.Integer(), min_length=1), [], [("INVALID", "List is shorter than 1", None)]),
        (fields.List(fields.Integer(), max_length=1), [1, 2], [("INVALID", "List is longer than 1", None)]),
        (fields.List(fields.Integer()), [1, "a"], [("INVALID", "Not an integer", "1")]),
        (fields.Set(fields.Integer()), [1], [("INVALID", "Not a set or frozenset", None)]),
        (fields.Set(fields.Integer()), {"a"}, [("INVALID", "Not an integer", "[a]")]),
        (fields.Tuple(fields.Integer()), [1], [("INVALID", "Not a tuple", None)]),
        (
            fields.Tuple(fields.Integer(), fields.Integer()),
            ("a",),
            [("INVALID", "Number of elements 1 does not match expected 2", None), ("INVALID", "Not an integer", "0")],
        ),
        (fields.Dictionary({"a": fields.Integer()}), [], [("INVALID", "Not a dict", None)]),
        (fields.Dictionary({"a": fields.Integer()}), {}, [("MISSING", "Missing key: a", "a")]),
        (
            fields.Dictionary({"a": fields.Integer()}),
            {"a": 1, "z": 1, "b": 2},
            [("UNKNOWN", "Extra keys present: b, z", None)],
        ),
        (
            fields.Dictionary({"a": fields.Integer()}),
            {"x": 1},
            [("MISSING", "Missing key: a", "a"), ("UNKNOWN", "Extra keys present: x", None)],
        ),
        (
            fields.Dictionary({"a": fields.Dictionary({"b": fields.Integer()})}),
            {"a": {"b": "x"}},
            [("INVALID", "Not an integer", "a.b")],
        ),
        (fields.SchemalessDictionary(), [], [("INVALID", "Not a dict", None)]),
        (
            fields.SchemalessDictionary(key_type=fields.UnicodeString()),
            {1: 1},
            [("INVALID", "Not a unicode string", "1")],
        ),
        (fields.SchemalessDictionary(value_type=fields.Integer()), {"k": "v"}, [("INVALID", "Not an integer", "k")]),
        (
            fields.SchemalessDictionary(max_length=1),
            {1: 1, 2: 2},
            [("INVALID", "Dict contains more than 1 value(s)", None)],
        ),
        (fields.SchemalessDictionary(min_length=1), {}, [("INVALID", "Dict contains fewer than 1 value(s)", None)]),
        (fields.Nullable(fields.Integer()), "x", [("INVALID", "Not an integer", None)]),
        (fields.ObjectInstance(decimal.Decimal), 1, [("INVALID", "Not an instance of Decimal", None)]),
        (
            fields.Any(fields.Integer(), fields.UnicodeString()),
            [],
            [("INVALID", "Not an integer", None), ("INVALID", "Not a unicode string", None)],
        ),
        (fields.All(fields.Integer(), fields.Integer(gt=5)), 3, [("INVALID", "Value not > 5", None)]),
    ],
)
def test_field_reports_conformity_error(field: Any, value: Any, expected: list[tuple[str, str, str | None]]) -> None:
    """An invalid value yields exactly Conformity's code, message and pointer."""
    assert _errors(field, value) == expected


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (fields.Integer(gte=0, lte=3), 3),
        (fields.Float(gt=0), 0.5),
        (fields.Float(), 2),
        (fields.Decimal(), decimal.Decimal("1.5")),
        (fields.Boolean(), False),
        (fields.UnicodeString(), ""),
        (fields.ByteString(), b""),
        (fields.Anything(), object()),
        (fields.Constant(1, "a"), 1),
        (fields.List(fields.Integer()), []),
        (fields.Set(fields.Integer()), frozenset({1})),
        (fields.Tuple(fields.Integer(), fields.Boolean()), (1, True)),
        (fields.Dictionary({"a": fields.Integer()}, optional_keys=("a",)), {}),
        (fields.Dictionary({"a": fields.Integer()}, allow_extra_keys=True), {"a": 1, "b": 2}),
        (fields.SchemalessDictionary(key_type=fields.UnicodeString()), {"a": {1: 2}}),
        (fields.Nullable(fields.Integer()), None),
        (fields.Any(fields.Integer(), fields.UnicodeString()), "s"),
        (fields.ObjectInstance((int, str)), "s"),
    ],
)
def test_field_accepts_valid_value(field: Any, value: Any) -> None:
    """A valid value yields no errors."""
    assert field.errors(value) == []


def test_field_errors_are_frozen_field_errors() -> None:
    """Errors are immutable FieldError records, so a cached error can be shared safely."""
    error = fields.Integer().errors("x")[0]
    assert isinstance(error, FieldError)
    with pytest.raises(AttributeError):
        error.message = "changed"  # type: ignore[misc]


def test_dictionary_extend_adds_contents_and_optional_keys() -> None:
    """Dictionary.extend returns a new Dictionary with the extra keys; the original is unchanged."""
    base = fields.Dictionary({"a": fields.Integer()})
    extended = base.extend({"b": fields.Boolean()}, optional_keys=("b",), allow_extra_keys=True, description="E")
    assert extended.errors({"a": 1, "c": 3}) == []
    assert set(extended.contents) == {"a", "b"}
    assert extended.description == "E"
    assert base.errors({"a": 1, "c": 3})[0].code == "UNKNOWN"


def test_invalid_field_construction_is_rejected() -> None:
    """Contradictory or mistyped field arguments fail when the field is built."""
    with pytest.raises(ValueError, match="min_length cannot be greater than max_length"):
        fields.UnicodeString(min_length=3, max_length=1)
    with pytest.raises(ValueError, match="min_length cannot be greater than max_length"):
        fields.List(fields.Integer(), min_length=3, max_length=1)
    with pytest.raises(ValueError, match="at least one constant"):
        fields.Constant()
    with pytest.raises(TypeError, match="'contents' must be a dict"):
        fields.Dictionary([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="description"):
        fields.Boolean(description=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'gt' must be a number"):
        fields.Integer(gt="1")  # type: ignore[arg-type]
