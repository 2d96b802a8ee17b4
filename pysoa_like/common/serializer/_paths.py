"""Locate the value that made an encoder fail, and name its path.

Encoders run the fast C path first and only call :func:`locate_unencodable` after a failure, so
well-formed messages pay nothing for the precise error messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pysoa_like.common.serializer.errors import InvalidField

__all__ = ["encoding_error", "format_path", "locate_unencodable"]

# Returns why a leaf (a value that is neither a dict nor a list/tuple) cannot be encoded, or None.
LeafCheck = Callable[[Any], "str | None"]

_MAX_PATH_SEGMENTS_SHOWN = 12


def format_path(segments: list[str]) -> str:
    """Join path segments with dots, eliding the middle of absurdly deep paths.

    Args:
        segments: Keys and list indexes from the root, as strings.

    Returns:
        The dotted path, e.g. ``"body.actions.0.body.when"``.
    """
    if len(segments) > _MAX_PATH_SEGMENTS_SHOWN:
        half = _MAX_PATH_SEGMENTS_SHOWN // 2
        segments = [*segments[:half], "...", *segments[-half:]]
    return ".".join(segments)


def locate_unencodable(
    root: Any,
    check_leaf: LeafCheck,
    check_key: LeafCheck,
    max_depth: int,
) -> tuple[str, str] | None:
    """Find the first value in a structure that an encoder cannot handle.

    Dicts (and subclasses) are walked through their keys and values, lists and tuples through their
    items, in encoding order.

    Args:
        root: The structure that failed to encode.
        check_leaf: Returns the reason a non-container value cannot be encoded, or None.
        check_key: Returns the reason a dict key cannot be encoded, or None.
        max_depth: The deepest nesting of containers the encoder accepts.

    Returns:
        ``(dotted path, reason)`` for the first offending value, or None if nothing was found.
    """
    path: list[str] = []
    active: set[int] = set()
    return _visit(root, path, active, check_leaf, check_key, max_depth)


def _children(value: Any) -> Iterator[tuple[str, Any]] | None:
    if isinstance(value, dict):
        return ((str(key), item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return ((str(index), item) for index, item in enumerate(value))
    return None


def _visit(
    value: Any,
    path: list[str],
    active: set[int],
    check_leaf: LeafCheck,
    check_key: LeafCheck,
    depth_left: int,
) -> tuple[str, str] | None:
    children = _children(value)
    if children is None:
        reason = check_leaf(value)
        return None if reason is None else (format_path(path), reason)
    if depth_left <= 0:
        return format_path(path), "Structure is nested too deeply to encode"
    marker = id(value)
    if marker in active:
        return format_path(path), "Circular reference: a container includes itself"
    active.add(marker)
    if isinstance(value, dict):
        for key in value:
            reason = check_key(key)
            if reason is not None:
                return format_path(path), f"Cannot encode dict key {key!r}: {reason}"
    for segment, child in children:
        path.append(segment)
        found = _visit(child, path, active, check_leaf, check_key, depth_left - 1)
        path.pop()
        if found is not None:
            return found
    active.discard(marker)
    return None


def encoding_error(
    message: Any,
    exc: Exception,
    leaf_problem: LeafCheck,
    key_problem: LeafCheck,
    nesting_limit: int,
    format_name: str,
) -> InvalidField:
    """The ``InvalidField`` for a failed encode, naming the offending value's path when it can be found.

    Only called after an encode failed, so valid messages never pay for the walk.
    """
    try:
        found = locate_unencodable(message, leaf_problem, key_problem, nesting_limit)
    except RecursionError:
        found = None
    if found is None:
        return InvalidField(f"Could not encode message to {format_name}: {exc}")
    path, reason = found
    return InvalidField(f"{path}: {reason}" if path else reason)
