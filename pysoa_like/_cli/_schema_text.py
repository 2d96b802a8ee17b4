"""Readable text for the schema descriptions the ``introspect`` action returns (Conformity's format)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_lines", "type_text"]

# Bounds as they read after the type name.
_BOUNDS = (
    ("gt", ">"),
    ("gte", ">="),
    ("lt", "<"),
    ("lte", "<="),
    ("min_length", "min length"),
    ("max_length", "max length"),
)


def _plain(schema: Any) -> Mapping[str, Any]:
    return schema if isinstance(schema, Mapping) else {}


def type_text(schema: Any) -> str:
    """One line naming the type of ``schema`` with its bounds, e.g. ``integer >= 0`` or ``list of unicode``."""
    schema = _plain(schema)
    kind = str(schema.get("type", "?"))
    if kind == "nullable":
        return f"{type_text(schema.get('nullable'))} or null"
    if kind in ("list", "set"):
        text = f"{kind} of {type_text(schema.get('contents'))}"
    elif kind == "tuple":
        text = "tuple (" + ", ".join(type_text(item) for item in schema.get("contents") or ()) + ")"
    elif kind == "schemaless_dictionary":
        key, value = schema.get("key_type"), schema.get("value_type")
        text = "dictionary" if key is None and value is None else f"dictionary {type_text(key)} -> {type_text(value)}"
    elif kind == "constant":
        text = "one of " + ", ".join(json.dumps(v, default=str) for v in schema.get("values") or ())
    elif kind == "any_of":
        text = " | ".join(type_text(option) for option in schema.get("options") or ())
    else:
        text = kind
    for key, label in _BOUNDS:
        if key in schema and schema[key] is not None:
            text += f" {label} {schema[key]}"
    return text


def _described(text: str, schema: Mapping[str, Any]) -> str:
    description = schema.get("description")
    return f"{text}  - {description}" if description else text


def _nested(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The dictionary schema to expand under a field, looking through nullable, list and set."""
    while True:
        kind = schema.get("type")
        if kind == "dictionary":
            return schema
        if kind == "nullable":
            schema = _plain(schema.get("nullable"))
        elif kind in ("list", "set"):
            schema = _plain(schema.get("contents"))
        elif kind == "schemaless_dictionary":
            schema = _plain(schema.get("value_type"))
        else:
            return None


def schema_lines(schema: Any) -> list[str]:
    """The lines describing ``schema``: one per field of a dictionary (nested fields indented)."""
    schema = _plain(schema)
    if schema.get("type") == "nullable" and _plain(schema.get("nullable")).get("type") == "dictionary":
        return ["(may be null)", *schema_lines(schema.get("nullable"))]
    if schema.get("type") != "dictionary":
        return [_described(type_text(schema), schema)]
    lines: list[str] = []
    optional = set(schema.get("optional_keys") or ())
    contents = _plain(schema.get("contents"))
    if not contents:
        lines.append("(no fields)")
    for name, field in contents.items():
        field = _plain(field)
        marker = " (optional)" if name in optional else ""
        lines.append(_described(f"{name}{marker}: {type_text(field)}", field))
        nested = _nested(field)
        if nested is not None:
            lines.extend("  " + line for line in schema_lines(nested))
    if schema.get("allow_extra_keys"):
        lines.append("(other keys allowed)")
    return lines
