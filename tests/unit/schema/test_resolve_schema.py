"""resolve_schema and introspect_schema: Conformity fields, our fields, pydantic models and TypedDicts."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from pysoa_like.common import fields
from pysoa_like.common.schema import PydanticSchema, Schema, introspect_schema, resolve_schema


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
