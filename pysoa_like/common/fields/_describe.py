"""Settings problems in plain words: what a key expects, what it got, and the key's dotted path.

Fields report their errors in Conformity's terse words ("Not a list", "Value not > 0"), which stay as
they are: requests are validated with them and callers may read them. Settings are read by people
starting a service, so :func:`explain_errors` turns each error into one line of plain words, built
from the field's introspection (ours or Conformity's): ``hosts: expected a list of ..., got a string``.
Values given are shown only where they cannot be secrets (numbers, booleans, None, and strings given
where a fixed choice was expected); other values are described by their kind.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN

__all__ = ["describe_expected", "describe_given", "expected_at", "explain_errors", "field_at", "suggest_keys"]

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
    "base": "a value",
}
# The plural of the simple phrases, for "a list of strings".
_PLURALS = {
    "an integer": "integers",
    "a number": "numbers",
    "a string": "strings",
    "a byte string": "byte strings",
    "a boolean": "booleans",
    "any value": "values of any kind",
    "a dict": "dicts",
}
_CONTAINERS = {"list": "a list", "set": "a set", "sequence": "a sequence"}
# Field messages that only restate the type or the limits the "expected" phrase already gives.
_RESTATING = re.compile(
    r"^(Not an? |Value (is )?not |List is |String (must|cannot) |Dict contains |Number of elements "
    r"|Invalid (integer|float))"
)
_EXTRA_KEYS = "Extra keys present: "
_NOT_A_SUBCLASS = re.compile(r"^Type (?P<cls>.+) is not one of or a subclass of one of: (?P<base>.+)$")
_CLASS_REPR = re.compile(r"'([\w.]+)'")


def describe_expected(introspection: Mapping[str, Any], depth: int = 0) -> str:
    """Describe a Conformity-style introspection dict in a short phrase ("an integer of at least 0").

    Args:
        introspection: The output of a field's ``introspect()`` (ours or Conformity's).
        depth: How deep the description already is; nested structures are summarised.

    Returns:
        The phrase, with its article ("a list of strings", "one of 'a', 'b'").
    """
    kind = str(introspection.get("type"))
    if kind in ("integer", "float", "decimal"):
        return _SIMPLE[kind] + _bounds(introspection)
    if kind == "constant":
        values = [repr(value) for value in introspection.get("values", [])]
        return f"exactly {values[0]}" if len(values) == 1 else "one of " + ", ".join(values)
    if kind == "nullable":
        return describe_expected(introspection["nullable"], depth) + " or None"
    if kind == "any":
        return _either([describe_expected(option, depth + 1) for option in introspection.get("options", [])])
    if kind == "all":
        return " and ".join(describe_expected(part, depth + 1) for part in introspection.get("requirements", []))
    if kind in _CONTAINERS:
        return _container(_CONTAINERS[kind], introspection, depth)
    if kind == "tuple":
        items = [_without_article(describe_expected(item, depth + 1)) for item in introspection.get("contents", [])]
        return f"a tuple ({', '.join(items)})"
    if kind == "dictionary":
        return _dictionary(introspection, depth)
    if kind == "schemaless_dictionary" and "value_type" in introspection and depth <= 1:
        return _container("a dict", {"contents": introspection["value_type"]}, depth, items_word="entries")
    if kind == "class_config_dictionary":
        base = introspection.get("base_class")
        subclass = f" naming a subclass of {base}" if base and base != "object" else ""
        return f'a class configuration {{"path": "module:Class", "kwargs": {{...}}}}{subclass}'
    if kind == "object_instance":
        names = [name.rpartition(".")[2] for name in _CLASS_REPR.findall(str(introspection.get("valid_type")))]
        return "an instance of " + (" or ".join(names) if names else str(introspection.get("valid_type")))
    return _SIMPLE.get(kind, "a valid " + kind.replace("_", " "))


def _bounds(introspection: Mapping[str, Any]) -> str:
    low, high = introspection.get("gte"), introspection.get("lte")
    if low is not None and high is not None:
        return f" from {low} to {high}"
    words = {"gt": "greater than", "gte": "of at least", "lt": "less than", "lte": "of at most"}
    parts = [f"{words[key]} {introspection[key]}" for key in ("gt", "gte", "lt", "lte") if key in introspection]
    return (" " + " and ".join(parts)) if parts else ""


def _without_article(phrase: str) -> str:
    for article in ("a ", "an "):
        if phrase.startswith(article):
            return phrase[len(article) :]
    return phrase


def _either(phrases: Sequence[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _container(noun: str, introspection: Mapping[str, Any], depth: int, items_word: str = "items") -> str:
    low, high = introspection.get("min_length"), introspection.get("max_length")
    size = ""
    if low is not None and low == high:
        size = f" of exactly {low} {items_word}"
    elif low is not None and high is not None:
        size = f" of {low} to {high} {items_word}"
    elif low is not None:
        size = f" of at least {low} {items_word}"
    elif high is not None:
        size = f" of at most {high} {items_word}"
    contents = introspection.get("contents")
    if not isinstance(contents, Mapping) or depth > 1 or contents.get("type") == "anything":
        return noun + size
    inner = describe_expected(contents, depth + 1)
    plural = _PLURALS.get(inner)
    if plural is not None and not size:
        return f"{noun} of {plural}"
    either = "either " if contents.get("type") == "any" else ""
    return f"{noun}{size} whose {items_word} are each {either}{inner}"


def _dictionary(introspection: Mapping[str, Any], depth: int) -> str:
    keys = [str(key) for key in introspection.get("contents", {})]
    if not keys:
        return "a dict" if introspection.get("allow_extra_keys") else "an empty dict"
    if depth > 1:
        return "a dict"
    optional = {str(key) for key in introspection.get("optional_keys", [])}
    required = [key for key in keys if key not in optional]
    text = "a dict with the keys " + ", ".join(required) if required else "a dict"
    if optional:
        text += (" and " if required else " with ") + "the optional keys " + ", ".join(k for k in keys if k in optional)
    if introspection.get("allow_extra_keys"):
        text += ", and any other keys"
    return text


def describe_given(value: Any, show_strings: bool = False) -> str:
    """Describe a value given in settings without revealing what may be a secret.

    Args:
        value: The value.
        show_strings: Show a string's text (only where a fixed choice was expected, so it is no secret).

    Returns:
        ``-1``, ``True``, ``None``, ``'redis.standrd'`` (``show_strings``), ``a string``, ``a list of 2 items``...
    """
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        if not value:
            return "an empty string"
        return repr(value) if show_strings and len(value) <= 60 else "a string"
    if isinstance(value, (bytes, bytearray)):
        return "a byte string"
    if isinstance(value, tuple) and 0 < len(value) <= 4:
        return f"a tuple ({', '.join(_without_article(describe_given(item)) for item in value)})"
    for kind, noun in ((dict, "dict"), (list, "list"), (tuple, "tuple"), (set, "set"), (frozenset, "frozenset")):
        if isinstance(value, kind):
            if not value:
                return f"an empty {noun}"
            count = len(value)
            word = ("entry" if count == 1 else "entries") if kind is dict else ("item" if count == 1 else "items")
            return f"a {noun} of {count} {word}"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} object"


def _value_at(value: Any, parts: Sequence[str]) -> tuple[bool, Any]:
    """The value a dotted pointer designates inside ``value`` (``(False, None)`` when it is not there)."""
    for part in parts:
        if isinstance(value, Mapping):
            if part in value:
                value = value[part]
                continue
            matches = [key for key in value if str(key) == part]
            if not matches:
                return False, None
            value = value[matches[0]]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


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
        field, value = _step(field, part, value)
        if field is None or isinstance(field, str):
            return field
    return field


def _step(field: Any, part: str, value: Any) -> tuple[Any, Any]:
    """One step of :func:`field_at`: the field (and value) under ``part`` of ``field``."""
    while getattr(field, "introspect_type", None) == "nullable" and hasattr(field, "field"):
        field = field.field
    kind = getattr(field, "introspect_type", None)
    if kind == "class_config_dictionary":
        if part == "path":
            base = field.introspect().get("base_class", "object")
            target = f"a subclass of {base}" if base != "object" else "a class"
            return f'an importable "module:Class" path to {target}', None
        if part != "kwargs" or not isinstance(value, Mapping) or not hasattr(field, "kwargs_schema"):
            return None, None
        try:
            cls = field._resolve(value)[0]
        except Exception:  # best effort: the error itself is reported anyway
            return None, None
        if cls is None:
            return None, None
        return field.kwargs_schema(cls), value.get("kwargs", {})
    contents = getattr(field, "contents", None)
    if isinstance(contents, Mapping):
        return contents.get(part), (value.get(part) if isinstance(value, Mapping) else None)
    if kind == "tuple" and isinstance(contents, tuple) and part.isdigit() and int(part) < len(contents):
        return contents[int(part)], _value_at(value, [part])[1]
    if kind in ("list", "set", "sequence"):
        return contents, _value_at(value, [part])[1]
    if kind == "schemaless_dictionary":
        return field.value_type, (value.get(part) if isinstance(value, Mapping) else None)
    return None, None


def expected_at(field: Any, parts: Sequence[str], value: Any) -> str | None:
    """Describe what the field at a dotted pointer inside ``field`` expects (``None`` if unknown)."""
    target = field_at(field, parts, value)
    if isinstance(target, str):
        return target
    introspect = getattr(target, "introspect", None)
    return describe_expected(introspect()) if callable(introspect) else None


def _first_choice(field: Any, parts: Sequence[str], value: Any) -> int | None:
    """How many parts lead to the outermost "one of" (``Any``) field on the pointer's way, if any."""
    for index in range(len(parts) + 1):
        if getattr(field, "introspect_type", None) == "any":
            return index
        if index == len(parts):
            return None
        field, value = _step(field, parts[index], value)
        if field is None or isinstance(field, str):
            return None
    return None


def explain_errors(field: Any, value: Any, errors: Sequence[Any], prefix: Sequence[str] = ()) -> list[str]:
    """Turn a field's errors about ``value`` into plain-words lines, one per problem, each naming its key path.

    The errors of the options of a "one of" field are merged into one line about that field. A field with a
    ``describe_error(value, error)`` method words its own errors where that returns a string.

    Args:
        field: The field that validated ``value`` (ours or Conformity's).
        value: The value given.
        errors: ``field.errors(value)``.
        prefix: The key path of ``value`` itself (``["transport"]``).

    Returns:
        Lines such as ``transport.kwargs.receive_timeout_in_seconds: expected a number greater than 0, got -1``.
    """
    lines: list[str] = []
    for error in errors:
        parts = [part for part in (error.pointer or "").split(".") if part]
        choice = _first_choice(field, parts, value)
        own = _own_words(field, parts, value, error)
        key_words = _key_words(field, parts, value, error)
        if key_words is not None:
            line = _line(prefix, parts[:-1], key_words)
        elif own is not None:
            line = _line(prefix, parts, own)
        elif choice is not None:
            parts = parts[:choice]
            line = _line(prefix, parts, _expected_given(field, parts, value))
        else:
            line = _line(prefix, parts, _explain(field, parts, value, error))
        if line not in lines:
            lines.append(line)
    return lines


def _key_words(field: Any, parts: Sequence[str], value: Any, error: Any) -> str | None:
    """Words for an error about a key of a schemaless dict, which points at the key as a value's error would."""
    if not parts:
        return None
    parent = field_at(field, parts[:-1], value)
    key_type = getattr(parent, "key_type", None)
    found, mapping = _value_at(value, parts[:-1])
    if getattr(parent, "introspect_type", None) != "schemaless_dictionary" or key_type is None or not found:
        return None
    for key in mapping if isinstance(mapping, Mapping) else ():
        if str(key) == parts[-1] and any(e.message == error.message for e in key_type.errors(key) or ()):
            expected = describe_expected(key_type.introspect())
            return f"each key must be {expected}, got the key {describe_given(key, show_strings=True)}"
    return None


def _own_words(field: Any, parts: Sequence[str], value: Any, error: Any) -> str | None:
    """The words a field gives for its own error (``describe_error(value, error)``, ``None`` for the default)."""
    describe = getattr(field_at(field, parts, value), "describe_error", None)
    if not callable(describe):
        return None
    found, given = _value_at(value, parts)
    words = describe(given, error) if found else None
    return words if isinstance(words, str) else None


def _line(prefix: Sequence[str], parts: Sequence[str], text: str) -> str:
    path = ".".join([*prefix, *parts])
    return f"{path}: {text}" if path else text


def _expected_given(field: Any, parts: Sequence[str], value: Any, expected: str | None = None) -> str:
    target = field_at(field, parts, value)
    if expected is None:
        expected = expected_at(field, parts, value) or "something else"
    found, given = _value_at(value, parts)
    if not found:
        return f"missing (expected {expected})"
    choice = getattr(target, "introspect_type", None) == "constant"
    text = f"expected {expected}, got {describe_given(given, show_strings=choice)}"
    if choice and isinstance(given, str):
        values = [str(v) for v in target.introspect().get("values", [])]
        text += suggest_keys(given, values)
    return text


def _explain(field: Any, parts: Sequence[str], value: Any, error: Any) -> str:
    message = str(error.message)
    if error.code == ERROR_CODE_UNKNOWN and message.startswith(_EXTRA_KEYS):
        return _unknown_keys(field, parts, value, message[len(_EXTRA_KEYS) :].split(", "))
    if error.code == ERROR_CODE_MISSING:
        return _expected_given(field, parts, value)
    if message.startswith("cannot import "):  # a string of the expected kind that names nothing installed
        return message
    try:
        expected = expected_at(field, parts, value)
    except Exception:  # the description is best effort; never hide the error itself
        expected = None
    not_a_subclass = _NOT_A_SUBCLASS.match(message)
    if not_a_subclass and expected:
        names = _CLASS_REPR.findall(not_a_subclass.group("cls"))
        named = names[0].rpartition(".")[2] if names else "a class"
        return f"expected {expected.replace('an importable ', 'a ')}, got the path of {named}, which is not one"
    if parts and parts[-1] == "path" and isinstance(field_at(field, parts, value), str):
        for prefix in ("ImportError: ", "AttributeError: "):
            if message.startswith(prefix):
                found, given = _value_at(value, parts)
                named = f" {given!r}" if found and isinstance(given, str) else ""
                message = f"cannot import{named}: {message[len(prefix) :]}"
        return f"{message} (expected {expected})"
    if error.code != ERROR_CODE_UNKNOWN and _RESTATING.match(message) and expected:
        return _expected_given(field, parts, value, expected)
    if error.code == ERROR_CODE_UNKNOWN and message.startswith("Value is not") and expected:
        return _expected_given(field, parts, value, expected)
    return message + (f" (expected {expected})" if expected else "")


def _unknown_keys(field: Any, parts: Sequence[str], value: Any, unknown: Sequence[str]) -> str:
    container = field_at(field, parts, value)
    contents = getattr(container, "contents", None)
    noun = "unknown key" if len(unknown) == 1 else "unknown keys"
    text = f"{noun} {', '.join(unknown)}"
    if not isinstance(contents, Mapping):
        return text
    names = [str(name) for name in contents]
    return f"{text} (allowed keys: {', '.join(names)}){suggest_keys(unknown[0], names)}"


def suggest_keys(unknown: str, allowed: Sequence[str]) -> str:
    """A "did you mean" hint for a misspelt key or choice ("" when nothing is close)."""
    same_but_case = [str(key) for key in allowed if str(key).lower() == str(unknown).lower()]
    matches = same_but_case or difflib.get_close_matches(str(unknown), [str(key) for key in allowed], n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""
