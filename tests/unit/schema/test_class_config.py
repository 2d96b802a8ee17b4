"""ClassConfigurationSchema: path forms, base classes, kwargs schemas and normalisation."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common import fields
from tests.unit.schema import plugins

PREFIX = "tests.unit.schema.plugins"


def _as_tuples(errors: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


@pytest.mark.parametrize("path", [f"{PREFIX}:OurProvided", f"{PREFIX}.OurProvided"])
def test_both_path_forms_resolve(path: str) -> None:
    """Both "module:Class" and dotted paths name the class."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base)
    value = {"path": path, "kwargs": {"size": 2}}
    assert schema.errors(value) == []
    assert schema.normalize(value) == {"path": path, "kwargs": {"size": 2}, "object": plugins.OurProvided}


def test_nested_class_needs_colon_form() -> None:
    """An attribute path after the colon reaches nested classes."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base)
    assert schema.errors({"path": f"{PREFIX}:Outer.Inner"}) == []


def test_normalize_adds_object_and_empty_kwargs_without_mutating() -> None:
    """The normalised value has "object" and kwargs {} while the input dict stays as it was."""
    value = {"path": f"{PREFIX}:Undeclared"}
    normalized = fields.ClassConfigurationSchema().normalize(value)
    assert normalized == {"path": f"{PREFIX}:Undeclared", "kwargs": {}, "object": plugins.Undeclared}
    assert value == {"path": f"{PREFIX}:Undeclared"}


def test_default_path_is_used_when_path_is_absent() -> None:
    """A configuration without a path uses the schema's default_path."""
    schema = fields.ClassConfigurationSchema(default_path=f"{PREFIX}:Undeclared")
    assert schema.errors({}) == []
    assert schema.normalize({})["object"] is plugins.Undeclared


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], [("INVALID", "Not a mapping (dictionary)", None)]),
        ({"path": "x:Y", "extra": 1}, [("UNKNOWN", "Extra keys present: extra", None)]),
        ({}, [("MISSING", "Missing key (and no default specified): path", "path")]),
        ({"path": 3}, [("INVALID", "Not a unicode string", "path")]),
        ({"path": "nodots"}, [("INVALID", 'Value "nodots" is not a valid Python import path', "path")]),
        ({"path": "no_such_module_xyz:Y"}, [("INVALID", "ImportError: No module named 'no_such_module_xyz'", "path")]),
        (
            {"path": f"{PREFIX}:Missing"},
            [("INVALID", f"AttributeError: module '{PREFIX}' has no attribute 'Missing'", "path")],
        ),
        ({"path": f"{PREFIX}:NOT_A_CLASS"}, [("INVALID", "Not a type", "path")]),
        (
            {"path": f"{PREFIX}:Unrelated"},
            [
                (
                    "INVALID",
                    f"Type <class '{PREFIX}.Unrelated'> is not one of or a subclass of one of: <class '{PREFIX}.Base'>",
                    "path",
                )
            ],
        ),
        ({"path": f"{PREFIX}:OurProvided", "kwargs": {}}, [("MISSING", "Missing key: size", "kwargs.size")]),
        ({"path": f"{PREFIX}:OurProvided", "kwargs": {"size": 0}}, [("INVALID", "Value not >= 1", "kwargs.size")]),
        ({"path": f"{PREFIX}:Undeclared", "kwargs": {1: 2}}, [("INVALID", "Not a unicode string", "kwargs.1")]),
        ({"path": f"{PREFIX}:Undeclared", "kwargs": []}, [("INVALID", "Not a dict", "kwargs")]),
    ],
)
def test_invalid_class_configurations(value: Any, expected: list[tuple[str, str, str | None]]) -> None:
    """Each kind of bad configuration is reported with a code, a message and a pointer."""
    assert _as_tuples(fields.ClassConfigurationSchema(base_class=plugins.Base).errors(value)) == expected


def test_lazy_string_base_class() -> None:
    """A "module:Class" base class is imported only when a value is checked."""
    schema = fields.ClassConfigurationSchema(base_class=f"{PREFIX}:Base")
    assert schema.introspect()["base_class"] == "Base"
    assert schema.errors({"path": f"{PREFIX}:Undeclared"}) == []
    assert schema.errors({"path": f"{PREFIX}:Unrelated"})[0].pointer == "path"


def test_unimportable_lazy_base_class_is_reported() -> None:
    """A base class string that cannot be imported yields an error naming it, not a crash."""
    schema = fields.ClassConfigurationSchema(base_class="no_such_module_xyz:Base")
    errors = schema.errors({"path": f"{PREFIX}:Undeclared"})
    assert "Cannot import the required base class 'no_such_module_xyz:Base'" in errors[0].message


def test_nested_class_configurations_are_normalised() -> None:
    """A class configuration inside another class's kwargs also gets its "object"."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base)
    value = {"path": f"{PREFIX}:Parent", "kwargs": {"child": {"path": f"{PREFIX}:Undeclared"}}}
    assert schema.errors(value) == []
    normalized = schema.normalize(value)
    assert normalized["kwargs"]["child"]["object"] is plugins.Undeclared
    assert "object" not in value["kwargs"]["child"]


def test_instantiate_from_builds_the_object() -> None:
    """instantiate_from validates, then calls the class with its kwargs."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base)
    thing = schema.instantiate_from({"path": f"{PREFIX}:OurProvided", "kwargs": {"size": 3}})
    assert isinstance(thing, plugins.OurProvided)
    assert thing.kwargs == {"size": 3}
    with pytest.raises(fields.ValidationError, match=r"kwargs\.size: Missing key: size"):
        schema.instantiate_from({"path": f"{PREFIX}:OurProvided"})


def test_provider_rejects_non_schemas_and_non_classes() -> None:
    """The provider decorator accepts only schemas, and decorates only classes."""
    with pytest.raises(TypeError, match="errors"):
        fields.ClassConfigurationSchema.provider(42)
    decorate = fields.ClassConfigurationSchema.provider(fields.Dictionary({}))
    with pytest.raises(TypeError, match="only decorate classes"):
        decorate(len)  # type: ignore[type-var]


def test_class_config_introspection() -> None:
    """Introspection follows Conformity's class_config_dictionary shape."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base, default_path="a:B", description="D")
    assert schema.introspect() == {
        "type": "class_config_dictionary",
        "description": "D",
        "base_class": "Base",
        "default_path": "a:B",
        "switch_field": "path",
        "switch_field_schema": {
            "type": "python_path",
            "value_schema": {"type": "type_reference", "base_classes": [f"<class '{PREFIX}.Base'>"]},
        },
        "kwargs_field": "kwargs",
    }


def test_resolve_python_path_caches() -> None:
    """Resolving the same path twice returns the cached object."""
    first = fields.resolve_python_path(f"{PREFIX}:Base")
    assert first is plugins.Base
    assert fields.resolve_python_path(f"{PREFIX}:Base") is first


def test_a_class_given_as_object_is_used_and_its_path_derived() -> None:
    """``{"object": cls}`` configures cls itself (settings written in Python), checked against the base class."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base, default_path=f"{PREFIX}:Undeclared")
    value = {"object": plugins.OurProvided, "kwargs": {"size": 3}}
    assert schema.errors(value) == []
    assert schema.normalize(value) == {
        "path": f"{PREFIX}:OurProvided",
        "kwargs": {"size": 3},
        "object": plugins.OurProvided,
    }
    # A normalised value validates again unchanged (path and object agree).
    assert schema.normalize(schema.normalize(value)) == schema.normalize(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"object": plugins.Unrelated}, "is not one of or a subclass of one of"),
        ({"object": plugins.OurProvided(size=1)}, "Not a class"),
        ({"object": plugins.OurProvided, "path": f"{PREFIX}:Undeclared"}, "give one of them"),
    ],
)
def test_a_wrong_object_is_reported_not_replaced(value: dict[str, Any], message: str) -> None:
    """An object of the wrong base, an instance, or one contradicting the path is an error at "object"."""
    errors = fields.ClassConfigurationSchema(base_class=plugins.Base).errors(value)
    assert [(e.pointer, message in e.message) for e in errors] == [("object", True)]
