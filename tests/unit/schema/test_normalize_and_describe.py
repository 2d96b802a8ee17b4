"""Normalisation through containers, and the plain-words descriptions used in settings errors."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common import fields
from pysoa_like.common.fields._describe import describe_expected, expected_at, suggest_keys
from tests.unit.schema import plugins

CONFIG = {"path": "tests.unit.schema.plugins:Undeclared"}


@pytest.mark.parametrize(
    ("field", "value", "get"),
    [
        (fields.List(fields.ClassConfigurationSchema()), [CONFIG], lambda v: v[0]),
        (fields.Dictionary({"c": fields.ClassConfigurationSchema()}), {"c": CONFIG}, lambda v: v["c"]),
        (fields.SchemalessDictionary(value_type=fields.ClassConfigurationSchema()), {"k": CONFIG}, lambda v: v["k"]),
        (fields.Nullable(fields.ClassConfigurationSchema()), CONFIG, lambda v: v),
        (fields.Any(fields.Integer(), fields.ClassConfigurationSchema()), CONFIG, lambda v: v),
        (fields.Tuple(fields.ClassConfigurationSchema()), (CONFIG,), lambda v: v[0]),
    ],
)
def test_class_configs_are_normalised_inside_containers(field: Any, value: Any, get: Any) -> None:
    """Containers rebuild themselves around a normalised class configuration, leaving the input alone."""
    assert field.errors(value) == []
    assert get(field.normalize(value))["object"] is plugins.Undeclared
    assert "object" not in CONFIG


def test_containers_without_class_configs_return_the_value_itself() -> None:
    """Normalising a plain structure costs nothing: the same object comes back."""
    value = {"a": [1, 2]}
    field = fields.Dictionary({"a": fields.List(fields.Integer())})
    assert field.normalizes is False
    assert field.normalize(value) is value
    assert fields.Nullable(fields.Integer()).normalize(None) is None


@pytest.mark.parametrize(
    ("field", "text"),
    [
        (fields.Integer(gte=0, lt=10), "an integer of at least 0 and less than 10"),
        (fields.Float(), "a number"),
        (fields.UnicodeString(), "a string"),
        (fields.Boolean(), "a boolean"),
        (fields.Constant("A", "B"), "one of 'A', 'B'"),
        (fields.Nullable(fields.UnicodeString()), "a string or None"),
        (fields.Any(fields.Integer(), fields.Boolean()), "an integer or a boolean"),
        (fields.List(fields.UnicodeString()), "a list of strings"),
        (fields.Set(fields.Integer()), "a set of integers"),
        (
            fields.Dictionary({"a": fields.Integer(), "b": fields.Integer()}, optional_keys=("b",)),
            "a dict with the keys a and the optional keys b",
        ),
        (fields.Dictionary({}, allow_extra_keys=True), "a dict"),
        (fields.SchemalessDictionary(), "a dict"),
        (fields.SchemalessDictionary(value_type=fields.Integer()), "a dict of integers"),
        (
            fields.ClassConfigurationSchema(base_class=plugins.Base),
            'a class configuration {"path": "module:Class", "kwargs": {...}} naming a subclass of Base',
        ),
        (fields.Tuple(fields.UnicodeString(), fields.Integer()), "a tuple (string, integer)"),
        (fields.List(fields.Anything(), min_length=2, max_length=2), "a list of exactly 2 items"),
        (
            fields.List(fields.Any(fields.Tuple(fields.UnicodeString(), fields.Integer()), fields.UnicodeString())),
            "a list whose items are each either a tuple (string, integer) or a string",
        ),
        (fields.Integer(gte=1, lte=65535), "an integer from 1 to 65535"),
        (fields.Constant("only"), "exactly 'only'"),
        (fields.ObjectInstance(int), "an instance of int"),
        (fields.Anything(), "any value"),
    ],
)
def test_describe_expected(field: Any, text: str) -> None:
    """Each kind of field is described in a short phrase."""
    assert describe_expected(field.introspect()) == text


def test_expected_at_follows_pointers_through_class_config_kwargs() -> None:
    """The expectation for a nested pointer is found through lists, dicts and a class's kwargs schema."""
    field = fields.List(fields.ClassConfigurationSchema(base_class=plugins.Base))
    value = [{"path": "tests.unit.schema.plugins:OurProvided", "kwargs": {}}]
    assert expected_at(field, ["0", "kwargs", "size"], value) == "an integer of at least 1"
    assert expected_at(field, ["0", "path"], value) == 'an importable "module:Class" path to a subclass of Base'
    assert expected_at(fields.Integer(), ["x"], 1) is None


def test_suggest_keys() -> None:
    """A close key is suggested; nothing is suggested for an unrelated one."""
    assert suggest_keys("transprot", ["transport", "metrics"]) == "; did you mean 'transport'?"
    assert suggest_keys("zzz", ["transport"]) == ""
