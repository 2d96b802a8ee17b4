"""pytest-style context managers asserting that a call raises ``CallActionError`` with given errors.

Example::

    from pysoa_like.test.assertions import raises_error_codes, raises_field_errors

    def test_square_needs_a_number(service_client):
        with raises_field_errors({"number": "MISSING"}):
            service_client.call_action("square", {})

    def test_unknown_user(service_client):
        with raises_error_codes("NOT_FOUND") as exc_info:
            service_client.call_action("get_user", {"id": 0})
        assert exc_info.soa_errors[0].message == "No such user"

Every manager yields pytest's ``ExceptionInfo``; after the block its ``soa_errors`` attribute holds
the errors of the first failed action. A mismatch fails the test as ``pytest.fail`` does (the
exception is both ``pytest.fail.Exception`` and an ``AssertionError``), naming the expected and the
returned errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pytest

from pysoa_like.client.errors import CallActionError
from pysoa_like.test._error_matching import error_codes_mismatch, fail, field_errors_mismatch

__all__ = [
    "raises_call_action_error",
    "raises_error_codes",
    "raises_field_errors",
    "raises_only_error_codes",
    "raises_only_field_errors",
]


@contextlib.contextmanager
def raises_call_action_error(**kwargs: Any) -> Iterator[pytest.ExceptionInfo[CallActionError]]:
    """Assert that the block raises :class:`CallActionError`.

    Args:
        **kwargs: More ``pytest.raises`` arguments (``match=``).

    Yields:
        The ``ExceptionInfo``; after the block, ``exc_info.soa_errors`` is the first failed action's errors.

    Raises:
        ErrorsMismatch: The block raised no ``CallActionError``.
    """
    completed = False
    try:
        with pytest.raises(CallActionError, **kwargs) as exc_info:
            yield exc_info
            completed = True
    except pytest.fail.Exception:
        if not completed:  # the block itself failed the test
            raise
        fail("Expected the block to raise CallActionError (an action returning errors), but it raised nothing")
    exc_info.soa_errors = exc_info.value.actions[0].errors if exc_info.value.actions else []


def _subject(exc_info: pytest.ExceptionInfo[CallActionError]) -> str:
    actions = exc_info.value.actions
    return f"Action {actions[0].action!r}" if actions else "The call"


@contextlib.contextmanager
def raises_error_codes(
    error_codes: str | Iterable[str], only: bool = False, **kwargs: Any
) -> Iterator[pytest.ExceptionInfo[CallActionError]]:
    """Assert that the block raises :class:`CallActionError` with these codes (on errors without a field).

    Args:
        error_codes: One code or several; each must be returned.
        only: Fail also on any other returned error.
        **kwargs: More ``pytest.raises`` arguments.

    Raises:
        ErrorsMismatch: No ``CallActionError``, or the codes differ (the message lists both sides).
    """
    with raises_call_action_error(**kwargs) as exc_info:
        yield exc_info
    problem = error_codes_mismatch(exc_info.soa_errors, error_codes, only, _subject(exc_info))  # type: ignore[attr-defined]
    if problem:
        fail(problem)


@contextlib.contextmanager
def raises_only_error_codes(error_codes: str | Iterable[str], **kwargs: Any) -> Iterator[pytest.ExceptionInfo[Any]]:
    """:func:`raises_error_codes` with ``only=True``."""
    with raises_error_codes(error_codes, only=True, **kwargs) as exc_info:
        yield exc_info


@contextlib.contextmanager
def raises_field_errors(
    field_errors: Mapping[str, str | Iterable[str]], only: bool = False, **kwargs: Any
) -> Iterator[pytest.ExceptionInfo[CallActionError]]:
    """Assert that the block raises :class:`CallActionError` with these ``{field: code(s)}`` errors.

    Args:
        field_errors: Field name -> one code or several; each must be returned on that field.
        only: Fail also on any other returned error.
        **kwargs: More ``pytest.raises`` arguments.

    Raises:
        ErrorsMismatch: No ``CallActionError``, or the errors differ (the message lists both sides).
    """
    with raises_call_action_error(**kwargs) as exc_info:
        yield exc_info
    problem = field_errors_mismatch(exc_info.soa_errors, field_errors, only, _subject(exc_info))  # type: ignore[attr-defined]
    if problem:
        fail(problem)


@contextlib.contextmanager
def raises_only_field_errors(
    field_errors: Mapping[str, str | Iterable[str]], **kwargs: Any
) -> Iterator[pytest.ExceptionInfo[Any]]:
    """:func:`raises_field_errors` with ``only=True``."""
    with raises_field_errors(field_errors, only=True, **kwargs) as exc_info:
        yield exc_info
