"""Plain-words descriptions of what a field expects, for settings error messages."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["describe_expected", "expected_at", "field_at", "suggest_keys"]

_SIMPLE = {
    "integer": "an integer",
    "float": "a number",
    "decimal": "a decimal.Decimal",
    "unicode": "a string",
    "bytes": "a byte string",
    "boolean": "a boolean",
    "anything": "any value",
    "hashable": "a hashable value",
    "schemaless_dictionary": "a dict",
}
_BOUNDS = (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="))


def describe_expected(introspection: Mapping[str, Any], depth: int = 0) -> str:
    """Describe a Conformity-style introspection dict in a short phrase ("an integer >= 0").

    Args:
        introspection: The output of a field's ``introspect()`` (ours or Conformity's).
        depth: How deep the description already is; nested structures are summarised.

    Returns:
        The phrase.
    """
    kind = introspection.get("type")
    if kind in ("integer", "float", "decimal"):
        bounds = [f"{sign} {introspection[key]}" for key, sign in _BOUNDS if key in introspection]
        return " and ".join([_SIMPLE[kind] + (" " + bounds[0] if bounds else ""), *bounds[1:]])
    if kind == "constant":
        return "one of: " + ", ".join(repr(v) for v in introspection.get("values", []))
    if kind == "nullable":
        return describe_expected(introspection["nullable"], depth) + " or None"
    if kind == "any":
        return " or ".join(describe_expected(option, depth + 1) for option in introspection.get("options", []))
    if kind in ("list", "set", "sequence"):
        noun = {"list": "a list", "set": "a set", "sequence": "a sequence"}[kind]
        if depth > 1:
            return noun
        return f"{noun} of {_plural(describe_expected(introspection['contents'], depth + 1))}"
    if kind == "dictionary":
        keys = list(introspection.get("contents", {}))
        optional = introspection.get("optional_keys", [])
        text = "a dict with keys " + ", ".join(map(str, keys)) if keys else "an empty dict"
        if optional:
            text += " (optional: " + ", ".join(map(str, optional)) + ")"
        if introspection.get("allow_extra_keys"):
            text += " and any other keys"
        return text
    if kind == "schemaless_dictionary" and "value_type" in introspection and depth <= 1:
        return "a dict of " + _plural(describe_expected(introspection["value_type"], depth + 1))
    if kind == "class_config_dictionary":
        base = introspection.get("base_class", "object")
        return f'a class configuration {{"path": "module:Class", "kwargs": {{...}}}} whose class is a {base}'
    if kind == "object_instance":
        return f"an instance of {introspection.get('valid_type')}"
    return _SIMPLE.get(str(kind), f"a valid {kind}")


def _plural(phrase: str) -> str:
    for article in ("an ", "a "):
        if phrase.startswith(article):
            head, _, rest = phrase[len(article) :].partition(" ")
            return f"{head}s {rest}".strip()
    return phrase


def field_at(field: Any, parts: Sequence[str], value: Any) -> Any:
    """Follow a dotted pointer from ``field`` to the field it designates.

    Args:
        field: The outer field (ours or Conformity's).
        parts: The pointer split on dots.
        value: The value validated by ``field`` (needed to find a class configuration's kwargs schema).

    Returns:
        The field; the text of the expected path for a class configuration's ``path``; or ``None``
        when the pointer cannot be followed.
    """
    for part in parts:
        while getattr(field, "introspect_type", None) == "nullable" and hasattr(field, "field"):
            field = field.field
        kind = getattr(field, "introspect_type", None)
        if kind == "class_config_dictionary":
            if part == "path":
                base = field.introspect().get("base_class", "object")
                return f'an importable "module:Class" path to a {base}'
            if part != "kwargs" or not isinstance(value, Mapping) or not hasattr(field, "kwargs_schema"):
                return None
            try:
                cls = field._resolve(value)[0]
            except Exception:  # best effort: the error itself is reported anyway
                return None
            if cls is None:
                return None
            field, value = field.kwargs_schema(cls), value.get("kwargs", {})
            continue
        contents = getattr(field, "contents", None)
        if isinstance(contents, Mapping):
            field = contents.get(part)
            value = value.get(part) if isinstance(value, Mapping) else None
        elif kind in ("list", "set", "sequence"):
            field = contents
            value = _item(value, part)
        elif kind == "schemaless_dictionary":
            field = field.value_type
            value = value.get(part) if isinstance(value, Mapping) else None
        else:
            return None
        if field is None:
            return None
    return field


def expected_at(field: Any, parts: Sequence[str], value: Any) -> str | None:
    """Describe what the field at a dotted pointer inside ``field`` expects (``None`` if unknown)."""
    target = field_at(field, parts, value)
    if isinstance(target, str):
        return target
    introspect = getattr(target, "introspect", None)
    return describe_expected(introspect()) if callable(introspect) else None


def _item(value: Any, part: str) -> Any:
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    return None


def suggest_keys(unknown: str, allowed: Sequence[str]) -> str:
    """A "did you mean" hint for a misspelt key ("" when nothing is close)."""
    matches = difflib.get_close_matches(str(unknown), [str(key) for key in allowed], n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""
