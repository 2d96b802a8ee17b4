"""Tests of reading ``meta["client_version"]`` (PROTOCOL.md section 6)."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.transport.redis_gateway.protocol import (
    DEFAULT_CLIENT_VERSION,
    parse_client_version,
    parse_client_version_checked,
)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"client_version": [1, 4, 9]}, (1, 4, 9)),
        ({"client_version": (0, 70, 0)}, (0, 70, 0)),
        ({"client_version": [2]}, (2,)),
    ],
)
def test_valid_client_versions(meta: dict[str, Any], expected: tuple[int, ...]) -> None:
    """A list of ints becomes a tuple that compares with ``(0, 70, 0)`` as PySOA does."""
    assert parse_client_version_checked(meta) == (expected, None)
    assert parse_client_version(meta) == expected


@pytest.mark.parametrize("meta", [None, {}, {"client_version": None}, {"reply_to": "x!1"}])
def test_missing_client_version_defaults_without_problem(meta: dict[str, Any] | None) -> None:
    """A missing client version counts as (0, 40, 0) and is not a problem."""
    assert DEFAULT_CLIENT_VERSION == (0, 40, 0)
    assert parse_client_version_checked(meta) == ((0, 40, 0), None)


@pytest.mark.parametrize(
    "value",
    [["1", "4", "9"], "1.4.9", [], [1, None], [True, 2], 149, {"major": 1}, [1.5, 2]],
)
def test_malformed_client_version_defaults_with_problem(value: Any) -> None:
    """A malformed client version counts as (0, 40, 0), with a description for the caller to log."""
    version, problem = parse_client_version_checked({"client_version": value})
    assert version == (0, 40, 0)
    assert problem is not None and "client_version" in problem
    assert parse_client_version({"client_version": value}) == (0, 40, 0)
