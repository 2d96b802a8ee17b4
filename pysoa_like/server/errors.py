"""Server exceptions raised by actions and middleware.

Tree::

    PySOAServerError
    ├── JobError                 job-level errors (not caller errors by default)
    │   └── PushBackError        the service is overloaded: come back after ``retry_after`` seconds
    ├── ActionError              action-level errors (caller errors by default)
    └── ResponseValidationError  an action returned a body its response schema rejects
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attr

from pysoa_like.common.errors import Error, PySOAError

__all__ = [
    "RETRY_AFTER_CONTEXT_KEY",
    "ActionError",
    "JobError",
    "PushBackError",
    "PySOAServerError",
    "ResponseValidationError",
]

#: The response context key of a pushback: milliseconds before the client may send again (an int).
RETRY_AFTER_CONTEXT_KEY = "retry_after_ms"


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
        retry_after: Seconds before the caller should try again.
        message: The error message.
    """

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        from pysoa_like.common.constants import ERROR_CODE_OVERLOADED

        self.retry_after = max(float(retry_after), 0.0)
        text = message or f"The service is overloaded; try again in {self.retry_after:.3f} s"
        super().__init__([Error(code=ERROR_CODE_OVERLOADED, message=text, is_caller_error=False)])


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

    Args:
        action: The action's name.
        errors: The schema's errors (objects with ``code``, ``message`` and ``pointer``).
    """

    def __init__(self, action: str, errors: Iterable[Any]) -> None:
        self.action = action
        self.errors: list[Any] = list(errors)
        super().__init__(action, self.errors)

    def __str__(self) -> str:
        details = "; ".join(
            f"{getattr(e, 'pointer', None) or '(root)'}: {getattr(e, 'message', e)}" for e in self.errors
        )
        return f"{self.action}: response validation failed: {details}"
