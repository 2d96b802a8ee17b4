"""Comparing expected structures with actual ones, with readable failure reports.

PySOA's ``pysoa.test.plan.grammar.assertions``. Expected values may hold matchers (``AnyValue``,
``RegexValue``, ``mock.ANY``) and list padding that matches anything; leaves compare with ``==``.
"""

from __future__ import annotations

import pprint
from collections.abc import Iterator, Mapping
from typing import Any

from pysoa_like.test.plan.grammar.tools import VACANT, PathElement

__all__ = [
    "assert_actual_list_not_subset",
    "assert_exact_structure",
    "assert_expected_list_subset_of_actual",
    "assert_lists_match_any_order",
    "assert_not_expected",
    "assert_not_present",
    "assert_subset_structure",
]

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True

_ABSENT: Any = object()


def _header(msg: str | None, what: str) -> str:
    return f"{msg}: {what}" if msg else what


def _path(elements: tuple[PathElement, ...]) -> str:
    return ".".join(str(element) for element in elements) or "(the whole body)"


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _compare(
    expected: Any, actual: Any, exact: bool, at: tuple[PathElement, ...], missing: list[str], mismatched: list[str]
) -> None:
    if expected is VACANT:
        return
    if isinstance(expected, dict):
        if not isinstance(actual, Mapping):
            mismatched.append(f"{_path(at)}: expected a dict, got {_describe(actual)}")
        elif not expected and actual:
            mismatched.append(f"{_path(at)}: expected an empty dict, got {_describe(actual)}")
        else:
            for key, value in expected.items():
                if key in actual:
                    _compare(value, actual[key], exact, (*at, key), missing, mismatched)
                elif value is not VACANT:
                    missing.append(_path((*at, key)))
            if exact:
                mismatched.extend(f"{_path((*at, key))}: not expected" for key in actual if key not in expected)
        return
    if isinstance(expected, list):
        if not isinstance(actual, (list, tuple)):
            mismatched.append(f"{_path(at)}: expected a list, got {_describe(actual)}")
        elif not expected and actual:
            mismatched.append(f"{_path(at)}: expected an empty list, got {_describe(actual)}")
        else:
            for index, value in enumerate(expected):
                if index < len(actual):
                    _compare(value, actual[index], exact, (*at, index), missing, mismatched)
                elif value is not VACANT:
                    missing.append(_path((*at, index)))
            if exact and len(actual) > len(expected):
                mismatched.append(f"{_path(at)}: {len(actual) - len(expected)} more item(s) than expected")
        return
    if expected != actual:
        mismatched.append(f"{_path(at)}: expected {_describe(expected)}, got {_describe(actual)}")


def _report(msg: str | None, missing: list[str], mismatched: list[str], expected: Any, actual: Any, what: str) -> str:
    lines = [_header(msg, "DATA ERROR: " + what)]
    lines.extend(f"  missing: {path}" for path in missing)
    lines.extend(f"  mismatch at {text}" for text in mismatched)
    lines.append("Expected:")
    lines.append(pprint.pformat(expected, width=100))
    lines.append("Actual:")
    lines.append(pprint.pformat(actual, width=100))
    return "\n".join(lines)


def assert_subset_structure(expected: Any, actual: Any, subset_lists: bool = False, msg: str | None = None) -> None:
    """Assert that everything in ``expected`` is in ``actual`` (extra dict keys and list items are fine).

    Dicts must hold every expected key with a matching value; lists are compared index by index. An
    expected empty dict or list matches only an empty one.

    Args:
        expected: The expected structure.
        actual: The actual structure.
        subset_lists: Accepted for compatibility (lists are always compared as prefixes).
        msg: A prefix for the failure message.

    Raises:
        AssertionError: Listing every missing path and every mismatch, then both structures.
    """
    missing: list[str] = []
    mismatched: list[str] = []
    _compare(expected, actual, False, (), missing, mismatched)
    if missing or mismatched:
        raise AssertionError(_report(msg, missing, mismatched, expected, actual, "the response does not match"))


def assert_exact_structure(expected: Any, actual: Any, msg: str | None = None) -> None:
    """Assert that ``actual`` matches ``expected`` exactly (no extra keys or items).

    Raises:
        AssertionError: Listing every missing path, mismatch and unexpected entry.
    """
    missing: list[str] = []
    mismatched: list[str] = []
    _compare(expected, actual, True, (), missing, mismatched)
    if missing or mismatched:
        raise AssertionError(_report(msg, missing, mismatched, expected, actual, "the response does not match"))


def iter_leaves(data: Any, at: tuple[PathElement, ...] = ()) -> Iterator[tuple[tuple[PathElement, ...], Any]]:
    """Every leaf of nested dicts and lists with its path elements (empty containers are leaves; padding is not)."""
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from iter_leaves(value, (*at, key))
    elif isinstance(data, list) and data:
        for index, value in enumerate(data):
            yield from iter_leaves(value, (*at, index))
    elif data is not VACANT:
        yield at, data


def get_at(data: Any, elements: tuple[PathElement, ...]) -> Any:
    """The value at ``elements`` in ``data``, or a private marker if it does not resolve."""
    for element in elements:
        if isinstance(data, Mapping):
            if element not in data:
                return _ABSENT
            data = data[element]
        elif isinstance(data, (list, tuple)) and isinstance(element, int) and element < len(data):
            data = data[element]
        else:
            return _ABSENT
    return data


def assert_not_expected(not_expected: Any, actual: Any, msg: str | None = None) -> None:
    """Assert that no leaf of ``not_expected`` holds the same value in ``actual`` (absent or different is fine).

    Raises:
        AssertionError: Listing each leaf found with the value it must not have.
    """
    found = [
        f"{_path(at)}: must not be {_describe(value)}"
        for at, value in iter_leaves(not_expected)
        if (current := get_at(actual, at)) is not _ABSENT and value == current
    ]
    if found:
        raise AssertionError(_report(msg, [], found, not_expected, actual, "values that must not be there are there"))


def assert_not_present(not_present: Any, actual: Any, msg: str | None = None) -> None:
    """Assert that no leaf path of ``not_present`` resolves in ``actual``.

    Raises:
        AssertionError: Listing each path that is present, with its value.
    """
    present = [
        f"{_path(at)}: must not be present, but holds {_describe(current)}"
        for at, _ in iter_leaves(not_present)
        if (current := get_at(actual, at)) is not _ABSENT
    ]
    if present:
        raise AssertionError(_report(msg, [], present, not_present, actual, "fields that must be absent are present"))


def _unmatched(expected: list[Any], actual: list[Any]) -> list[Any]:
    """The expected items left over by the best one-to-one matching with ``actual`` items."""
    owner: dict[int, int] = {}

    def assign(index: int, visited: set[int]) -> bool:
        for candidate, item in enumerate(actual):
            if candidate in visited or expected[index] != item:
                continue
            visited.add(candidate)
            if candidate not in owner or assign(owner[candidate], visited):
                owner[candidate] = index
                return True
        return False

    matched = {index for index in range(len(expected)) if assign(index, set())}
    return [item for index, item in enumerate(expected) if index not in matched]


def _list_report(msg: str | None, what: str, items: list[Any], expected: list[Any], actual: list[Any]) -> str:
    lines = [_header(msg, what)]
    lines.extend(f"  {item!r}" for item in items)
    lines.append("Expected:")
    lines.append(pprint.pformat(expected, width=100))
    lines.append("Actual:")
    lines.append(pprint.pformat(actual, width=100))
    return "\n".join(lines)


def assert_expected_list_subset_of_actual(expected: list[Any], actual: list[Any], msg: str | None = None) -> None:
    """Assert that every expected item equals some actual item.

    Raises:
        AssertionError: Listing the expected items not found.
    """
    missing = [item for item in expected if not any(item == candidate for candidate in actual)]
    if missing:
        raise AssertionError(_list_report(msg, "expected items not found:", missing, expected, actual))


def assert_lists_match_any_order(expected: list[Any], actual: list[Any], msg: str | None = None) -> None:
    """Assert that the items pair off one to one, in any order (same number of items).

    Raises:
        AssertionError: Listing the expected items left unpaired, or saying the counts differ.
    """
    missing = _unmatched(list(expected), list(actual))
    if missing:
        raise AssertionError(_list_report(msg, "expected items not found:", missing, expected, actual))
    if len(expected) != len(actual):
        raise AssertionError(
            _list_report(msg, f"expected exactly {len(expected)} item(s), got {len(actual)}", [], expected, actual)
        )


def assert_actual_list_not_subset(not_expected: list[Any], actual: list[Any], msg: str | None = None) -> None:
    """Assert that no item of ``not_expected`` equals any actual item.

    Raises:
        AssertionError: Listing the items that are there.
    """
    found = [item for item in not_expected if any(item == candidate for candidate in actual)]
    if found:
        raise AssertionError(_list_report(msg, "items that must not be there are there:", found, not_expected, actual))
