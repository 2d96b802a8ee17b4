"""Conformity's two ways of extending container fields: class-level Dictionary schemas and additional validators."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from pysoa_like.common import fields
from pysoa_like.common.fields.structures import AdditionalCollectionValidator as FromStructures
from pysoa_like.common.schema import FieldError


def _errors(field: Any, value: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in field.errors(value)]


class Range(fields.Dictionary):
    """A schema written the Conformity way: everything on the class."""

    contents = {"low": fields.Integer(), "high": fields.Integer(), "label": fields.UnicodeString()}
    optional_keys = ("label",)
    allow_extra_keys = True
    description = "A range of integers"


class LowNotAboveHigh(fields.AdditionalCollectionValidator[dict[str, Any]]):
    """Fails a range whose ``low`` is above its ``high``."""

    def __init__(self) -> None:
        self.calls = 0

    def errors(self, value: dict[str, Any]) -> list[FieldError]:
        self.calls += 1
        if value["low"] > value["high"]:
            return [FieldError("INVALID", "low is above high", "low")]
        return []


class NoDuplicates(fields.AdditionalCollectionValidator[Any]):
    """Fails a collection holding the same item twice."""

    def errors(self, value: Any) -> list[FieldError]:
        items = list(value.values()) if isinstance(value, dict) else list(value)
        return [FieldError("INVALID", "duplicate items")] if len(set(items)) < len(items) else []


def test_a_dictionary_subclass_takes_its_schema_from_the_class() -> None:
    """A subclass with class-level contents, optional keys, extra-keys flag and description builds without arguments."""
    field = Range()
    assert _errors(field, {"low": 1}) == [("MISSING", "Missing key: high", "high")]
    assert field.errors({"low": 1, "high": 2, "other": 3}) == []
    assert field.introspect() == {
        "type": "dictionary",
        "contents": {"low": {"type": "integer"}, "high": {"type": "integer"}, "label": {"type": "unicode"}},
        "optional_keys": ["label"],
        "allow_extra_keys": True,
        "description": "A range of integers",
    }


def test_arguments_given_to_a_dictionary_subclass_win_over_its_class_attributes() -> None:
    """Each argument given replaces the class attribute of the same name; the others still apply."""
    field = Range(optional_keys=(), allow_extra_keys=False, description="Strict")
    assert _errors(field, {"low": 1, "high": 2, "x": 0}) == [
        ("MISSING", "Missing key: label", "label"),
        ("UNKNOWN", "Extra keys present: x", None),
    ]
    assert field.description == "Strict"
    assert Range({"only": fields.Boolean()}).errors({"only": True, "extra": 1}) == []


def test_a_dictionary_without_contents_is_refused() -> None:
    """Neither given nor on the class, contents are a ValueError, as in Conformity."""
    with pytest.raises(ValueError, match="'contents' is a required argument"):
        fields.Dictionary()


def test_the_additional_validator_runs_only_on_a_dict_that_passed_the_field_checks() -> None:
    """Its errors are the field's on an otherwise valid dict; it is not called on an invalid one."""
    validator = LowNotAboveHigh()
    field = fields.Dictionary({"low": fields.Integer(), "high": fields.Integer()}, additional_validator=validator)
    assert _errors(field, {"low": 3, "high": 1}) == [("INVALID", "low is above high", "low")]
    assert field.errors({"low": 1, "high": 3}) == []
    assert validator.calls == 2
    assert _errors(field, {"low": "3", "high": 1}) == [("INVALID", "Not an integer", "low")]
    assert _errors(field, {"low": 3}) == [("MISSING", "Missing key: high", "high")]
    assert validator.calls == 2
    assert field.introspect()["additional_validation"] == "LowNotAboveHigh"


def test_a_nested_additional_validator_error_is_prefixed_with_the_key() -> None:
    """Inside another field, the validator's errors get the outer pointer like any other error."""
    inner = fields.Dictionary(
        {"low": fields.Integer(), "high": fields.Integer()}, additional_validator=LowNotAboveHigh()
    )
    outer = fields.Dictionary({"range": inner})
    assert _errors(outer, {"range": {"low": 3, "high": 1}}) == [("INVALID", "low is above high", "range.low")]


def test_a_dictionary_subclass_takes_an_additional_validator() -> None:
    """Class-level contents and an additional validator combine."""
    field = Range(additional_validator=LowNotAboveHigh())
    assert _errors(field, {"low": 3, "high": 1}) == [("INVALID", "low is above high", "low")]


@pytest.mark.parametrize(
    ("field", "bad", "good"),
    [
        (fields.List(fields.Integer(), additional_validator=NoDuplicates()), [1, 1], [1, 2]),
        (fields.Set(fields.Integer(), additional_validator=NoDuplicates()), None, {1, 2}),
        (fields.Tuple(fields.Integer(), fields.Integer(), additional_validator=NoDuplicates()), (1, 1), (1, 2)),
        (fields.SchemalessDictionary(additional_validator=NoDuplicates()), {"a": 1, "b": 1}, {"a": 1, "b": 2}),
    ],
    ids=["List", "Set", "Tuple", "SchemalessDictionary"],
)
def test_the_other_containers_take_an_additional_validator(field: Any, bad: Any, good: Any) -> None:
    """List, Set, Tuple and SchemalessDictionary run it too, after their own checks, and introspect it."""
    if bad is not None:
        assert _errors(field, bad) == [("INVALID", "duplicate items", None)]
    assert field.errors(good) == []
    assert field.errors("not a collection")[0].code == "INVALID"
    assert field.introspect()["additional_validation"] == "NoDuplicates"


def test_extend_keeps_or_replaces_the_additional_validator() -> None:
    """Dictionary.extend keeps the validator unless given another."""
    base = fields.Dictionary(
        {"low": fields.Integer(), "high": fields.Integer()}, additional_validator=LowNotAboveHigh()
    )
    kept = base.extend({"step": fields.Integer()}, optional_keys=("step",))
    assert _errors(kept, {"low": 3, "high": 1}) == [("INVALID", "low is above high", "low")]
    replaced = base.extend(additional_validator=NoDuplicates())
    assert _errors(replaced, {"low": 3, "high": 3}) == [("INVALID", "duplicate items", None)]


def test_a_field_with_an_additional_validator_copies_and_pickles() -> None:
    """A copy checks with its own validator, as the original does."""
    field = fields.Dictionary(
        {"low": fields.Integer(), "high": fields.Integer()}, additional_validator=LowNotAboveHigh()
    )
    for twin in (copy.deepcopy(field), pickle.loads(pickle.dumps(field))):
        assert _errors(twin, {"low": 3, "high": 1}) == [("INVALID", "low is above high", "low")]
        assert twin.additional_validator is not field.additional_validator


def test_an_additional_validator_without_errors_is_refused() -> None:
    """Something that cannot validate fails when the field is built."""
    with pytest.raises(TypeError, match="'additional_validator' must be an AdditionalCollectionValidator"):
        fields.Dictionary({}, additional_validator=object())
    with pytest.raises(TypeError, match="Can't instantiate abstract class"):
        fields.AdditionalCollectionValidator()  # type: ignore[abstract]
    assert FromStructures is fields.AdditionalCollectionValidator
