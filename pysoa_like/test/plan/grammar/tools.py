"""Paths into nested data, and ``[[…]]`` variable substitution (PySOA's ``pysoa.test.plan.grammar.tools``).

A *path* names a place in nested dicts and lists: elements are separated by dots, an element made
only of digits is a list index, any other element is a dict key, and ``{…}`` makes its contents one
literal key even if it holds dots or only digits (``meta.{isbn.13}``, ``shelves.{3}``).

Importing this module imports nothing of the optional ``test-plans`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pysoa_like.test.plan.errors import StatusError

__all__ = [
    "PathElement",
    "get_all_paths",
    "path_get",
    "path_put",
    "recursive_parse_expr_repr",
    "split_path",
    "substitute_variables",
]

#: One element of a split path: a dict key (str) or a list index (int).
PathElement = str | int

# A whole [[token]]; the path inside may use letters, digits and _ - . { }.
_TOKEN_RE = re.compile(r"\[\[([A-Za-z0-9_.{}-]+)\]\]")
# An action reference with an explicit index: NAME.INDEX[.rest].
_INDEXED_ACTION_RE = re.compile(r"^([A-Za-z0-9_-]+)\.(\d+)(?:\.(.+))?$")
# The first element of a path and the rest.
_FIRST_ELEMENT_RE = re.compile(r"^([A-Za-z0-9_-]+)(?:\.(.+))?$")


def split_path(path: str) -> list[PathElement]:
    """Split a path into its elements (ints for list indices).

    Raises:
        ValueError: A brace does not enclose a whole element, the braces do not balance, or an element is empty.
    """
    elements: list[PathElement] = []
    position = 0
    while True:
        if path.startswith("{", position):
            depth, end = 0, position
            while end < len(path):
                depth += {"{": 1, "}": -1}.get(path[end], 0)
                if depth == 0:
                    break
                end += 1
            if depth:
                raise ValueError(f"unbalanced '{{' in path {path!r}")
            elements.append(path[position + 1 : end])
            position = end + 1
        else:
            end = path.find(".", position)
            text = path[position:] if end < 0 else path[position:end]
            if not text or "{" in text or "}" in text:
                what = "empty element" if not text else f"misplaced brace in element {text!r}"
                raise ValueError(f"{what} in path {path!r} (braces must enclose a whole element)")
            elements.append(int(text) if text.isdigit() else text)
            position = len(path) if end < 0 else end
        if position >= len(path):
            return elements
        if path[position] != ".":
            raise ValueError(f"misplaced brace in path {path!r} (braces must enclose a whole element)")
        position += 1
        if position == len(path):
            raise ValueError(f"empty element in path {path!r}")


class _Vacant:
    """The type of list padding made for expectations: it matches any value and is replaced when written into."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "<any value>"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Vacant:
        return self


#: Padding for expectations: a list entry below the index a line names matches any value.
VACANT = _Vacant()


def _new_container(next_element: PathElement) -> Any:
    return [] if isinstance(next_element, int) else {}


_UNSET: Any = object()


def path_put(out: Any, path: str, value: Any, padding: Callable[[], Any] = dict) -> None:
    """Place ``value`` at ``path`` inside ``out``, creating dicts and lists on the way.

    A missing dict key gets a new list if the next element is an index, else a new dict. A list
    indexed past its end is padded: with containers of the needed type under an intermediate
    element, with ``padding()`` (default: empty dicts) at the last one. Writing a path again
    replaces the earlier value.

    Args:
        out: The dict (or list) to write into.
        path: Where to put the value.
        value: The value.
        padding: Makes the filler entries of lists; when it returns the vacant marker used for
            expectations, intermediate filler entries are vacant too (they match any value).

    Raises:
        ValueError: The path is malformed, or a value is already in the way (a scalar where a
            container is needed, a key into a list).
    """
    elements = split_path(path)
    container = out
    for position, element in enumerate(elements):
        last = position == len(elements) - 1
        following = elements[position + 1] if not last else element
        if isinstance(container, list):
            if not isinstance(element, int):
                raise ValueError(f"cannot use key {element!r} of path {path!r} on a list")
            while len(container) < element:
                filler = padding()
                container.append(filler if last or isinstance(filler, _Vacant) else _new_container(following))
            if len(container) == element:
                container.append(_UNSET)
        elif not isinstance(container, dict):
            raise ValueError(f"cannot place a value at {path!r}: an earlier element holds {container!r}")
        if last:
            container[element] = value
            return
        existing = container.get(element, _UNSET) if isinstance(container, dict) else container[element]
        if existing is _UNSET or isinstance(existing, _Vacant):
            existing = _new_container(following)
            container[element] = existing
        elif not isinstance(existing, (dict, list)):
            raise ValueError(f"cannot place a value at {path!r}: {_path_text(element)!r} already holds {existing!r}")
        container = existing


def path_get(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data``.

    Dict keys must exist; list and tuple indices must be in range (sets are sorted first).

    Raises:
        LookupError: The path does not resolve (``KeyError`` or ``IndexError``).
        ValueError: The path is malformed.
    """
    value = data
    for element in split_path(path):
        value = _step(value, element, path)
    return value


def _step(value: Any, element: PathElement, path: str) -> Any:
    if isinstance(value, Mapping):
        if element in value:
            return value[element]
        if isinstance(element, int) and str(element) in value:
            return value[str(element)]
        raise KeyError(f"{element!r} (in path {path!r})")
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    if isinstance(value, (list, tuple)):
        if isinstance(element, int) and element < len(value):
            return value[element]
        raise IndexError(f"{element!r} (in path {path!r})")
    raise KeyError(f"{element!r} (in path {path!r}): {type(value).__name__} has no elements")


def _path_text(element: PathElement) -> str:
    if isinstance(element, int):
        return str(element)
    return f"{{{element}}}" if ("." in element or element.isdigit() or not element) else element


def get_all_paths(data: Any, current_path: str = "", allow_blank: bool = False) -> list[str]:
    """Every leaf path of ``data`` (empty dicts and lists count as leaves), in order.

    Args:
        data: Nested dicts and lists.
        current_path: A prefix for every path.
        allow_blank: Also return ``current_path`` itself when ``data`` is an empty container.
    """
    return list(_iter_paths(data, current_path, allow_blank or bool(current_path)))


def _iter_paths(data: Any, prefix: str, include_empty: bool) -> Iterator[str]:
    items: list[tuple[PathElement, Any]]
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = list(enumerate(data))
    else:
        yield prefix
        return
    if not items:
        if include_empty:
            yield prefix
        return
    for key, value in items:
        text = _path_text(key) if isinstance(key, (str, int)) else str(key)
        yield from _iter_paths(value, f"{prefix}.{text}" if prefix else text, True)


def recursive_parse_expr_repr(parse_expression: Any) -> str:
    """A readable form of a pyparsing grammar (used to document directives)."""
    return str(parse_expression)


def _candidates(path: str) -> Iterator[str]:
    indexed = _INDEXED_ACTION_RE.match(path)
    if indexed:
        name, index, rest = indexed.groups()
        for key in dict.fromkeys((f"{name.lower()}.{index}", f"{name}.{index}")):
            yield f"{{{key}}}" + (f".{rest}" if rest else "")
    yield path
    first = _FIRST_ELEMENT_RE.match(path)
    if first:
        name, rest = first.groups()
        suffix = f".{rest}" if rest else ""
        yield name.lower() + suffix
        yield path.lower()
        for key in dict.fromkeys((f"{name.lower()}.0", f"{name}.0")):
            yield f"{{{key}}}" + suffix


def _resolve(path: str, token: str, sources: tuple[Any, ...]) -> Any:
    for candidate in dict.fromkeys(_candidates(path)):
        for source in sources:
            if candidate.startswith("{") and isinstance(source, Mapping):
                action = candidate[1 : candidate.index("}")]
                if action in source and source[action] is None and candidate != f"{{{action}}}":
                    raise StatusError(
                        f"Cannot substitute {token}: action {action} returned no action response "
                        "(it probably failed with a job error)"
                    )
            try:
                return path_get(source, candidate)
            except (LookupError, ValueError):
                continue
    raise StatusError(
        f"Cannot substitute {token}: {path!r} is neither an earlier action response of this test case "
        f"(keys: {_keys(sources[:1])}) nor a model constant (keys: {_keys(sources[1:])})"
    )


def _keys(sources: tuple[Any, ...]) -> str:
    keys = sorted({str(key) for source in sources if isinstance(source, Mapping) for key in source})
    return ", ".join(keys) or "none"


def _substitute_text(text: str, sources: tuple[Any, ...]) -> Any:
    whole = _TOKEN_RE.fullmatch(text)
    if whole:
        return _resolve(whole.group(1), whole.group(0), sources)
    return _TOKEN_RE.sub(lambda match: str(_resolve(match.group(1), match.group(0), sources)), text)


def substitute_variables(data: Any, *sources: Any) -> Any:
    """Replace ``[[path]]`` tokens in every text leaf of ``data``, in place; return the new ``data``.

    A token is looked up in each source in turn: first as an action reference
    (``[[GET_BOOK.1.book.title]]`` is ``book.title`` in the source key ``get_book.1``; without an
    index, ``.0``), then as a plain path (``[[members.1.id]]``), also with its first element or
    the whole path in lower case. A text that is exactly one token becomes the object found (its
    type is kept); otherwise each token becomes the text of its object. Dict keys are never
    rewritten.

    Args:
        data: A dict, list or text.
        *sources: Mappings to look tokens up in, in order (responses by action path, then model
            constants).

    Returns:
        ``data`` with its tokens replaced (the same object for dicts and lists).

    Raises:
        StatusError: A token resolves in no source.
    """
    if isinstance(data, str):
        return _substitute_text(data, sources) if "[[" in data else data
    if isinstance(data, dict):
        for key, value in data.items():
            data[key] = substitute_variables(value, *sources)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            data[index] = substitute_variables(value, *sources)
    return data


def has_substitution(value: str) -> bool:
    """Whether ``value`` holds a ``[[path]]`` token."""
    return _TOKEN_RE.search(value) is not None
