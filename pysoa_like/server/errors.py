"""Server exceptions raised by actions and middleware.

Tree::

    PySOAServerError
    ├── JobError                 job-level errors (not caller errors by default)
    │   └── PushBackError        the service is overloaded: come back after ``retry_after`` seconds
    ├── ActionError              action-level errors (caller errors by default)
    └── ResponseValidationError  an action returned a body its response schema rejects
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attr

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.errors import Error, PySOAError

__all__ = [
    "MAXIMUM_RETRY_AFTER_SECONDS",
    "RETRY_AFTER_CONTEXT_KEY",
    "ActionError",
    "JobError",
    "PushBackError",
    "PySOAServerError",
    "ResponseValidationError",
]

#: The response context key of a pushback: milliseconds before the client may send again (an int).
RETRY_AFTER_CONTEXT_KEY = "retry_after_ms"
#: The longest pushback a :class:`PushBackError` asks for (one day); a longer ``retry_after`` is cut to it.
MAXIMUM_RETRY_AFTER_SECONDS = 86400.0


def _with_caller_flag(errors: Iterable[Error], flag: bool | None) -> list[Error]:
    if flag is None:
        return list(errors)
    return [e if e.is_caller_error == flag else attr.evolve(e, is_caller_error=flag) for e in errors]


class PySOAServerError(PySOAError):
    """The base of server errors."""


class JobError(PySOAServerError):
    """Raise from job middleware (or an action) to fail the whole job.

    Args:
        errors: The job-level errors.
        set_is_caller_error_to: Overrides ``is_caller_error`` on every error; ``None`` keeps them.
    """

    def __init__(self, errors: Iterable[Error], set_is_caller_error_to: bool | None = False) -> None:
        self.errors: list[Error] = _with_caller_flag(errors, set_is_caller_error_to)
        super().__init__(self.errors)


class PushBackError(JobError):
    """Raise (from job middleware or an action) when the service is too busy to take the job now.

    The job fails with one ``OVERLOADED`` job error (not a caller error) and the response context carries
    ``retry_after_ms``; a pysoa_like client with a ``retry`` policy retries the call after that long (the job
    did not run, so any action may be retried), within its deadline and retry budget.

    Args:
        retry_after: Seconds before the caller should try again: a finite number; below zero counts as zero,
            above :data:`MAXIMUM_RETRY_AFTER_SECONDS` (one day) as one day.
        message: The error message.

    Raises:
        ValueError: ``retry_after`` is not a number, or is NaN or infinite (no delay a caller could wait).
    """

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        from pysoa_like.common.constants import ERROR_CODE_OVERLOADED

        self.retry_after = _retry_after_seconds(retry_after)
        text = message or f"The service is overloaded; try again in {self.retry_after:.3f} s"
        super().__init__([Error(code=ERROR_CODE_OVERLOADED, message=text, is_caller_error=False)])


def _retry_after_seconds(retry_after: Any) -> float:
    """``retry_after`` as seconds within ``[0, MAXIMUM_RETRY_AFTER_SECONDS]`` (see :class:`PushBackError`)."""
    try:
        seconds = float(retry_after)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(
            f"PushBackError(retry_after={short_repr(retry_after)}): retry_after must be a finite number of seconds "
            f"(0 to {MAXIMUM_RETRY_AFTER_SECONDS:g})"
        )
    return min(max(seconds, 0.0), MAXIMUM_RETRY_AFTER_SECONDS)


class ActionError(PySOAServerError):
    """Raise from an action to return errors for that action.

    Args:
        errors: The action's errors.
        set_is_caller_error_to: Overrides ``is_caller_error`` on every error; ``None`` keeps them.
    """

    def __init__(self, errors: Iterable[Error], set_is_caller_error_to: bool | None = True) -> None:
        self.errors: list[Error] = _with_caller_flag(errors, set_is_caller_error_to)
        super().__init__(self.errors)


class ResponseValidationError(PySOAServerError):
    """An action returned a body that its ``response_schema`` rejects; reported as ``SERVER_ERROR``.

    Its text is PySOA 1.4.9's: ``<action> had an invalid response:`` then, per problem, a line starting
    with a tab: ``<pointer> <code>: <message>``.

    Args:
        action: The action's name.
        errors: The schema's errors (objects with ``code``, ``message`` and ``pointer``).
    """

    def __init__(self, action: str, errors: Iterable[Any]) -> None:
        self.action = action
        self.errors: list[Any] = list(errors)
        super().__init__(action, self.errors)

    def __str__(self) -> str:
        # PySOA 1.4.9's text, line for line: tests that match it keep passing after a migration.
        details = "\n\t".join(_describe_schema_error(e) for e in self.errors)
        return f"{self.action} had an invalid response:\n\t{details}"


def _describe_schema_error(error: Any) -> str:
    """``<pointer> <code>: <message>`` for one schema error (missing attributes read as ``None``)."""
    return f"{getattr(error, 'pointer', None)} {getattr(error, 'code', None)}: {getattr(error, 'message', error)}"
