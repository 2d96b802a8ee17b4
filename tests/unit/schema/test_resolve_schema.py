"""resolve_schema and introspect_schema: Conformity fields, our fields, pydantic models and TypedDicts."""

from __future__ import annotations

import sys
from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from pysoa_like.common import fields
from pysoa_like.common.schema import PydanticSchema, Schema, introspect_schema, resolve_schema, schema_mistake


class Item(pydantic.BaseModel):
    """An item."""

    model_config = pydantic.ConfigDict(extra="forbid")

    name: str
    tags: list[int] = []


class Order(pydantic.BaseModel):
    items: list[Item]


class Point(TypedDict):
    x: int
    y: int


def _as_tuples(errors: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


def test_none_resolves_to_none() -> None:
    """No schema stays no schema."""
    assert resolve_schema(None) is None
    assert introspect_schema(None) is None


def test_objects_with_errors_are_returned_unchanged() -> None:
    """Our fields already follow the protocol and are used as they are."""
    ours = fields.Dictionary({"a": fields.Integer()})
    assert resolve_schema(ours) is ours
    assert isinstance(ours, Schema)


def test_pydantic_model_errors_map_to_conformity_codes() -> None:
    """Missing becomes MISSING, extra_forbidden UNKNOWN, others INVALID, with dotted pointers and pydantic's msg."""
    schema = resolve_schema(Item)
    assert isinstance(schema, PydanticSchema)
    assert _as_tuples(schema.errors({"tags": [1, "x"], "extra": 1})) == [
        ("MISSING", "Field required", "name"),
        ("INVALID", "Input should be a valid integer, unable to parse string as an integer", "tags.1"),
        ("UNKNOWN", "Extra inputs are not permitted", "extra"),
    ]
    assert schema.errors({"name": "n"}) == []


def test_nested_pydantic_model_pointer_is_dotted() -> None:
    """A failure deep inside nested models points at it with a dotted path."""
    errors = resolve_schema(Order).errors({"items": [{"name": "a"}, {"name": 3}]})
    assert _as_tuples(errors) == [("INVALID", "Input should be a valid string", "items.1.name")]


def test_typed_dict_is_validated_through_pydantic() -> None:
    """A TypedDict works as a schema, with the same error mapping."""
    errors = resolve_schema(Point).errors({"x": "a"})
    assert _as_tuples(errors) == [
        ("INVALID", "Input should be a valid integer, unable to parse string as an integer", "x"),
        ("MISSING", "Field required", "y"),
    ]


def test_pydantic_validation_does_not_change_the_value() -> None:
    """Validation only: the body dict is not replaced or converted."""
    body = {"name": "n", "tags": [1]}
    resolve_schema(Item).errors(body)
    assert body == {"name": "n", "tags": [1]}


def test_adapter_is_cached_per_class() -> None:
    """Resolving the same type twice returns the same compiled adapter."""
    assert resolve_schema(Item) is resolve_schema(Item)


def test_pydantic_introspection_carries_json_schema() -> None:
    """A pydantic schema introspects as type "pydantic" with its JSON schema and docstring."""
    result = introspect_schema(Item)
    assert result is not None
    assert result["type"] == "pydantic"
    assert result["name"] == "Item"
    assert result["description"] == "An item."
    assert result["json_schema"]["required"] == ["name"]


def test_introspect_schema_uses_field_introspection() -> None:
    """Our fields introspect to their own dicts."""
    assert introspect_schema(fields.Integer(gte=0)) == {"type": "integer", "gte": 0}


def test_schema_without_introspection_gets_a_placeholder() -> None:
    """A custom schema without introspect() is described by its class name."""

    class Custom:
        def errors(self, value: Any) -> list[Any]:
            return []

    assert introspect_schema(Custom()) == {"type": "unknown", "class": "Custom"}


def test_non_schema_is_rejected() -> None:
    """A value that is neither a schema nor a type pydantic understands raises TypeError."""
    with pytest.raises(TypeError, match="errors"):
        resolve_schema(42)


def test_pydantic_refusal_reason_is_reported() -> None:
    """When pydantic cannot adapt a type, the TypeError carries pydantic's explanation."""

    class Opaque:
        pass

    with pytest.raises(TypeError, match="pydantic can validate: "):
        resolve_schema(Opaque)


@pytest.mark.parametrize("pydantic_installed", [True, False])
def test_a_plain_dict_is_refused_with_what_to_write_not_the_pydantic_extra(
    pydantic_installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dict of fields given as a schema is not a type, so pydantic cannot help: the error says to wrap it in
    fields.Dictionary (it said a type needs the pydantic extra, or that pydantic could not validate it)."""
    if not pydantic_installed:
        monkeypatch.setitem(sys.modules, "pydantic", None)  # import pydantic then raises ImportError
    with pytest.raises(TypeError) as raised:
        resolve_schema({"number": fields.Integer()})
    assert "is a dict, not a field: wrap it in fields.Dictionary({...})" in str(raised.value)
    assert "pydantic" not in str(raised.value)


@pytest.mark.parametrize(
    ("schema", "mistake"),
    [
        (None, None),
        (fields.Dictionary({"number": fields.Integer()}), None),
        (Item, None),
        (Point, None),
        (
            fields.Dictionary({"number": fields.Integer}),
            "['number'] is the class Integer, not a field: write Integer() (an instance of it)",
        ),
        (fields.Dictionary({"number": int}), "['number'] is the type int, not a field: write fields.Integer()"),
        (
            {"number": fields.Integer()},
            " is a dict, not a field: wrap it in fields.Dictionary({...}), with a field for each key",
        ),
        (fields.Integer, " is the class Integer, not a field: write Integer() (an instance of it)"),
        (
            fields.Dictionary({"a": fields.List(fields.Nullable(fields.Any(fields.Integer(), str)))}),
            "['a'].contents.field.options[1] is the type str, not a field: write fields.UnicodeString()",
        ),
        (
            fields.Tuple(fields.Integer(), fields.Set(fields.All(fields.Integer(), fields.Float))),
            ".contents[1].contents.requirements[1] is the class Float, not a field: write Float() (an instance of it)",
        ),
        (
            fields.SchemalessDictionary(value_type={"x": fields.Integer()}),
            ".value_type is a dict, not a field: wrap it in fields.Dictionary({...}), with a field for each key",
        ),
        (
            fields.SchemalessDictionary(key_type=str),
            ".key_type is the type str, not a field: write fields.UnicodeString()",
        ),
    ],
)
def test_schema_mistake_names_where_a_schema_holds_something_that_is_not_a_field(schema: Any, mistake: str) -> None:
    """Every field inside a field must be a field instance, found by walking each field's subfields(); a sound
    schema (a field, a pydantic model, a TypedDict, none) has no mistake."""
    assert schema_mistake(schema) == mistake


def test_a_type_no_installed_pydantic_adapts_is_a_mistake_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TypedDict without the pydantic extra cannot check a body: said in one line, with the extra to install."""
    monkeypatch.setitem(sys.modules, "pydantic", None)

    class Unseen(TypedDict):
        x: int

    mistake = schema_mistake(Unseen)
    assert mistake is not None and mistake.startswith(" cannot check a body: ")
    assert "needs the pydantic extra" in mistake and "\n" not in mistake


def test_a_type_pydantic_refuses_is_a_mistake_in_one_line() -> None:
    """pydantic's reason for refusing a type spans lines; the startup mistake keeps it on one line."""

    class Opaque:
        pass

    mistake = schema_mistake(list[Opaque])
    assert mistake is not None and mistake.startswith(" cannot check a body: ")
    assert "pydantic can validate: " in mistake and "\n" not in mistake


class ModelWithAnErrorsMethod(pydantic.BaseModel):
    """A pydantic model that has a method named errors (it is not a field class)."""

    number: int

    def errors(self) -> list[str]:
        return []


class CheckedByItsClass:
    """A validator used as a class: its errors is a classmethod, so the class itself checks a value."""

    @classmethod
    def errors(cls, value: Any) -> list[Any]:
        return []


def test_a_pydantic_model_with_an_errors_method_is_a_schema_not_a_field_class() -> None:
    """Only a class of our fields given for its instance is a field class: a pydantic model with an errors method
    was adapted by pydantic and still is (it was refused as 'the class ..., not a field', at runtime too)."""
    assert schema_mistake(ModelWithAnErrorsMethod) is None
    schema = resolve_schema(ModelWithAnErrorsMethod)
    assert isinstance(schema, PydanticSchema)
    assert _as_tuples(schema.errors({"number": "x"})) == [
        ("INVALID", "Input should be a valid integer, unable to parse string as an integer", "number")
    ]
    assert schema.errors({"number": 1}) == []


def test_a_forward_reference_pydantic_resolves_is_a_schema() -> None:
    """A string pydantic resolves as a type ("int") was a schema through pydantic and still is (it was refused as
    'a str, not a field', at runtime too)."""
    assert schema_mistake("int") is None
    schema = resolve_schema("int")
    assert isinstance(schema, PydanticSchema)
    assert schema.errors(1) == [] and len(schema.errors("x")) == 1


class _SubfieldsOfItsOwn:
    """A duck-typed field whose subfields() means something else (names, not fields)."""

    def errors(self, value: Any) -> list[Any]:
        return []

    def subfields(self) -> list[str]:
        return ["a", "b"]


class _ListWithoutSuperInit(fields.List):
    """A List subclass that never calls List.__init__ (it has no contents) and checks values its own way."""

    def __init__(self) -> None:
        pass

    def errors(self, value: Any) -> list[Any]:
        return []


class _ListOfModels(fields.List):
    """A List subclass holding a pydantic model in contents, which its own errors() validates each item with."""

    def __init__(self, model: type[pydantic.BaseModel]) -> None:
        super().__init__(fields.Anything())
        self.contents = model

    def errors(self, value: Any) -> list[Any]:
        schema = resolve_schema(self.contents)
        return [error for item in value for error in schema.errors(item)]


@pytest.mark.parametrize(
    "schema",
    [
        _SubfieldsOfItsOwn(),
        fields.Dictionary({"a": _SubfieldsOfItsOwn()}),
        _ListWithoutSuperInit(),
        fields.Dictionary({"a": _ListWithoutSuperInit()}),
        _ListOfModels(Item),
        fields.Dictionary({"items": _ListOfModels(Item)}),
        fields.Dictionary({"a": CheckedByItsClass}),
    ],
    ids=[
        "duck-typed subfields",
        "duck-typed subfields inside",
        "List subclass without contents",
        "List subclass without contents inside",
        "List subclass holding a model",
        "List subclass holding a model inside",
        "class with its own errors inside",
    ],
)
def test_a_field_of_the_users_making_is_not_looked_into(schema: Any) -> None:
    """The check looks only inside our fields that check values with our errors(): a field of the user's making
    (duck-typed, or a subclass of ours with its own errors) may hold anything, and works (it raised or refused)."""
    assert schema_mistake(schema) is None
    resolve_schema(schema).errors({"a": 1, "items": [{"name": "n"}]} if isinstance(schema, fields.Dictionary) else [])
