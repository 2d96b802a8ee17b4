"""Reading ``meta["client_version"]``, which decides whether errors carry ``is_caller_error`` (section 6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CLIENT_VERSION_META_KEY", "DEFAULT_CLIENT_VERSION", "parse_client_version", "parse_client_version_checked"]

CLIENT_VERSION_META_KEY = "client_version"
# What PySOA assumes for clients that send no version (they predate 0.70 and the field).
DEFAULT_CLIENT_VERSION: tuple[int, ...] = (0, 40, 0)


def parse_client_version_checked(meta: Mapping[str, Any] | None) -> tuple[tuple[int, ...], str | None]:
    """Read the client version from request meta, reporting a malformed value instead of failing.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints and None; or ``(0, 40, 0)`` and None when absent; or ``(0, 40, 0)``
        and a sentence describing the problem when the value is not a non-empty list of integers.
    """
    value = meta.get(CLIENT_VERSION_META_KEY) if meta else None
    if value is None:
        return DEFAULT_CLIENT_VERSION, None
    if not isinstance(value, (list, tuple)) or not value:
        return DEFAULT_CLIENT_VERSION, f"client_version {value!r} is not a non-empty list of integers"
    for part in value:
        # bool is an int subclass, but True/False in a version means a broken client.
        if not isinstance(part, int) or isinstance(part, bool):
            return DEFAULT_CLIENT_VERSION, f"client_version {value!r} has a non-integer element {part!r}"
    return tuple(value), None


def parse_client_version(meta: Mapping[str, Any] | None) -> tuple[int, ...]:
    """Read the client version from request meta; never fails.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints, or ``(0, 40, 0)`` when absent or malformed (use
        :func:`parse_client_version_checked` to learn which).
    """
    return parse_client_version_checked(meta)[0]
