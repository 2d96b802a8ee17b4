"""Comparing the errors an action returned with the errors a test expected, and saying how they differ.

Shared by the ``assertActionRunsWith*`` methods of :mod:`pysoa_like.test.server` and the context
managers of :mod:`pysoa_like.test.assertions`, so both report mismatches in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

from pysoa_like.common.errors import Error

try:
    from pytest import fail as _pytest_fail
except ImportError:  # pragma: no cover - unittest users without pytest
    _FailureBase: type[BaseException] = AssertionError
else:
    _FailureBase = _pytest_fail.Exception

__all__ = [
    "ErrorsMismatch",
    "describe_errors",
    "describe_success",
    "error_codes_mismatch",
    "fail",
    "field_errors_mismatch",
    "to_code_set",
]


class ErrorsMismatch(_FailureBase, AssertionError):  # type: ignore[valid-type,misc]
    """An error assertion failed: pytest's ``pytest.fail.Exception`` (as PySOA raised) and an ``AssertionError``.

    So ``pytest.raises(pytest.fail.Exception)``, ``pytest.raises(AssertionError)`` and unittest's
    failure reporting all recognise it.
    """


def fail(message: str) -> NoReturn:
    """Fail the test with ``message`` (an :class:`ErrorsMismatch`)."""
    raise ErrorsMismatch(message)


def to_code_set(codes: str | Iterable[str]) -> set[str]:
    """One code, or a list/set/tuple of codes, as a set."""
    if isinstance(codes, str):
        return {codes}
    return set(codes)


def _describe(error: Error) -> str:
    where = f"{error.field}: " if error.field else ""
    return f"{where}{error.code} ({error.message!r})"


def describe_errors(errors: Sequence[Error]) -> str:
    """The errors as one line each, for failure messages."""
    return "\n".join(f"    {_describe(e)}" for e in errors) if errors else "    (none)"


def _report(title: str, missing: list[str], unexpected: list[Error], only: bool, errors: Sequence[Error]) -> str | None:
    lines = []
    if missing:
        lines.append("  expected but not returned: " + ", ".join(missing))
    if only and unexpected:
        lines.append("  returned but not expected: " + ", ".join(_describe(e) for e in unexpected))
    if not lines:
        return None
    return "\n".join([title, *lines, "  all errors returned:", describe_errors(errors)])


def field_errors_mismatch(
    errors: Sequence[Error], field_errors: Mapping[str, str | Iterable[str]], only: bool = False, subject: str = ""
) -> str | None:
    """Check that ``errors`` contain every expected ``{field: code(s)}``; with ``only``, nothing else.

    Args:
        errors: The errors returned.
        field_errors: Field name -> one code or several codes expected on that field.
        only: Also fail on returned errors that were not expected (including errors with no field).
        subject: Names what returned the errors (e.g. ``"Action 'square'"``), to start the message.

    Returns:
        ``None`` if the errors match, else a message listing the missing and unexpected errors.
    """
    expected = {field: to_code_set(codes) for field, codes in field_errors.items()}
    matched: set[tuple[str, str]] = set()
    unexpected = []
    for error in errors:
        if error.field and error.code in expected.get(error.field, ()):
            matched.add((error.field, error.code))
        else:
            unexpected.append(error)
    missing = [
        f"{field}: {code}"
        for field, codes in expected.items()
        for code in sorted(codes)
        if (field, code) not in matched
    ]
    kind = "only these field errors" if only else "these field errors"
    title = f"{subject or 'The call'} did not return {kind}: {_expected_fields(expected)}"
    return _report(title, missing, unexpected, only, errors)


def error_codes_mismatch(
    errors: Sequence[Error], codes: str | Iterable[str], only: bool = False, subject: str = ""
) -> str | None:
    """Check that ``errors`` contain every expected code (on errors without a field); with ``only``, nothing else.

    Errors with a field never match a code expectation (use :func:`field_errors_mismatch` for them).

    Args:
        errors: The errors returned.
        codes: One code or several.
        only: Also fail on returned errors that were not expected.
        subject: Names what returned the errors, to start the message.

    Returns:
        ``None`` if the errors match, else a message listing the missing and unexpected errors.
    """
    expected = to_code_set(codes)
    matched: set[str] = set()
    unexpected = []
    for error in errors:
        if not error.field and error.code in expected:
            matched.add(error.code)
        else:
            unexpected.append(error)
    missing = [code for code in sorted(expected) if code not in matched]
    missing_text = [
        code + (" (returned, but on a field: use the field-error assertion)" if _on_field(errors, code) else "")
        for code in missing
    ]
    kind = "only the error codes" if only else "the error codes"
    title = f"{subject or 'The call'} did not return {kind} {sorted(expected)}"
    return _report(title, missing_text, unexpected, only, errors)


def _on_field(errors: Sequence[Error], code: str) -> bool:
    return any(e.code == code and e.field for e in errors)


def _expected_fields(expected: Mapping[str, set[str]]) -> str:
    return "{" + ", ".join(f"{field}: {sorted(codes)}" for field, codes in expected.items()) + "}"


def describe_success(subject: str, body: Any) -> str:
    """The message for an action that succeeded although errors were expected."""
    return f"{subject} ran without errors, but errors were expected (response body: {body!r})"
