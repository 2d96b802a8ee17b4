"""Our fields behave exactly like the installed Conformity's: same errors and same introspection."""

from __future__ import annotations

import collections
import decimal
from typing import Any

import pytest
from conformity import fields as C
from conformity.types import Error

from pysoa_like.common import fields as F

# (our field, Conformity's equivalent, values to compare errors on)
CASES: list[tuple[Any, Any, list[Any]]] = [
    (F.Integer(gte=0, description="A"), C.Integer(gte=0, description="A"), [1, -1, "x", True, 1.5]),
    (F.Float(gt=1, lt=5), C.Float(gt=1, lt=5), [1, 5, 3.0, "x"]),
    (F.Decimal(lte=2), C.Decimal(lte=2), [decimal.Decimal(3), 1]),
    (F.Boolean(description="B"), C.Boolean(description="B"), [1, True, None]),
    (
        F.UnicodeString(min_length=2, max_length=3, allow_blank=False),
        C.UnicodeString(min_length=2, max_length=3, allow_blank=False),
        ["a", "abcd", "  ", b"x", "ab"],
    ),
    (F.ByteString(max_length=1), C.ByteString(max_length=1), ["a", b"x", b"xy"]),
    (F.Constant("A", "B", 1, description="C"), C.Constant("A", "B", 1, description="C"), ["A", 2, []]),
    (F.Constant("A"), C.Constant("A"), ["B"]),
    (F.Anything(), C.Anything(), [1]),
    (F.Hashable(), C.Hashable(), [[1], 1]),
    (
        F.List(F.Integer(), min_length=1, max_length=2),
        C.List(C.Integer(), min_length=1, max_length=2),
        [[], [1, 2, 3], ["a", 1, "b"], (1,)],
    ),
    (F.Set(F.Integer()), C.Set(C.Integer()), [{1, "a"}, [1]]),
    (F.Tuple(F.Integer(), F.UnicodeString()), C.Tuple(C.Integer(), C.UnicodeString()), [(1, 2), (1,), [1]]),
    (
        F.Dictionary({"a": F.Integer(), "b": F.List(F.UnicodeString())}, optional_keys=["b"], description="D"),
        C.Dictionary({"a": C.Integer(), "b": C.List(C.UnicodeString())}, optional_keys=["b"], description="D"),
        [{}, {"a": 1, "x": 2, "y": 3}, {"a": "x", "b": [1]}, [], {"b": [], 1: 2}],
    ),
    (
        F.Dictionary(collections.OrderedDict([("z", F.Integer()), ("a", F.Boolean())]), allow_extra_keys=True),
        C.Dictionary(collections.OrderedDict([("z", C.Integer()), ("a", C.Boolean())]), allow_extra_keys=True),
        [{"q": 1}, {"z": "1", "a": 1}],
    ),
    (
        F.SchemalessDictionary(key_type=F.UnicodeString(), value_type=F.Integer(), min_length=1, max_length=2),
        C.SchemalessDictionary(key_type=C.UnicodeString(), value_type=C.Integer(), min_length=1, max_length=2),
        [{}, {1: "a", "b": 2, "c": 3}, []],
    ),
    (F.SchemalessDictionary(), C.SchemalessDictionary(), [{}, {1: 2}]),
    (F.Nullable(F.Integer()), C.Nullable(C.Integer()), [None, "x"]),
    (
        F.Any(F.Integer(), F.UnicodeString(), description="d"),
        C.Any(C.Integer(), C.UnicodeString(), description="d"),
        [1, [], "s"],
    ),
    (F.All(F.Integer(), F.Integer(gt=5)), C.All(C.Integer(), C.Integer(gt=5)), [3, 6]),
    (F.ObjectInstance(decimal.Decimal), C.ObjectInstance(decimal.Decimal), [1, decimal.Decimal(1)]),
]


def _as_tuples(errors: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


@pytest.mark.parametrize(("ours", "theirs", "values"), CASES, ids=lambda x: type(x).__name__)
def test_errors_match_conformity(ours: Any, theirs: Any, values: list[Any]) -> None:
    """For every sample value our field returns the same (code, message, pointer) list as Conformity's."""
    for value in values:
        assert _as_tuples(ours.errors(value)) == _as_tuples(theirs.errors(value)), value


@pytest.mark.parametrize(("ours", "theirs", "values"), CASES, ids=lambda x: type(x).__name__)
def test_introspection_matches_conformity(ours: Any, theirs: Any, values: list[Any]) -> None:
    """Our introspection dict equals Conformity's for the same field definition."""
    assert ours.introspect() == theirs.introspect()


def test_introspection_of_documented_action_schema() -> None:
    """The introspection example from PySOA's introspect action is reproduced exactly."""
    schema = F.Dictionary(
        {"a": F.Integer(gte=0, description="A"), "b": F.List(F.UnicodeString())},
        optional_keys=["b"],
        description="D",
    )
    assert schema.introspect() == {
        "type": "dictionary",
        "contents": {
            "a": {"type": "integer", "description": "A", "gte": 0},
            "b": {"type": "list", "contents": {"type": "unicode"}},
        },
        "optional_keys": ["b"],
        "allow_extra_keys": False,
        "description": "D",
    }


class _LowNotAboveHigh(C.AdditionalCollectionValidator):  # type: ignore[misc]
    """A Conformity validator, usable by both libraries' fields."""

    def errors(self, value: Any) -> list[Any]:
        return [Error("low is above high", pointer="low")] if value["low"] > value["high"] else []


class _OurRange(F.Dictionary):
    contents = {"low": F.Integer(), "high": F.Integer(), "label": F.UnicodeString()}
    optional_keys = ("label",)
    allow_extra_keys = True
    description = "A range"


class _TheirRange(C.Dictionary):  # type: ignore[misc]
    contents = {"low": C.Integer(), "high": C.Integer(), "label": C.UnicodeString()}
    optional_keys = ("label",)
    allow_extra_keys = True
    description = "A range"


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"optional_keys": ()}, {"allow_extra_keys": False, "description": "Other"}],
    ids=["class-level", "optional_keys-given", "flag-and-description-given"],
)
def test_dictionary_subclasses_with_class_level_schemas_match_conformity(kwargs: dict[str, Any]) -> None:
    """A Dictionary subclass setting its schema on the class builds, checks and introspects as Conformity's."""
    validator = _LowNotAboveHigh()
    ours, theirs = (
        _OurRange(additional_validator=validator, **kwargs),
        _TheirRange(additional_validator=validator, **kwargs),
    )
    assert ours.introspect() == theirs.introspect()
    for value in [{"low": 2, "high": 1}, {"low": 1, "high": 2, "x": 0}, {"low": "1"}, {"low": 1, "high": 2}]:
        assert _as_tuples(ours.errors(value)) == _as_tuples(theirs.errors(value)), value


def test_the_other_containers_introspect_an_additional_validator_as_conformity() -> None:
    """List, Set, Tuple and SchemalessDictionary name the validator's class as Conformity's do."""
    validator = _LowNotAboveHigh()
    for ours, theirs in [
        (F.List(F.Integer(), additional_validator=validator), C.List(C.Integer(), additional_validator=validator)),
        (F.Set(F.Integer(), additional_validator=validator), C.Set(C.Integer(), additional_validator=validator)),
        (F.Tuple(F.Integer(), additional_validator=validator), C.Tuple(C.Integer(), additional_validator=validator)),
        (
            F.SchemalessDictionary(additional_validator=validator),
            C.SchemalessDictionary(additional_validator=validator),
        ),
    ]:
        assert ours.introspect() == theirs.introspect()
