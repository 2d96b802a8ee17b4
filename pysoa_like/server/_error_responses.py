"""The errors a server answers with when a job or an action fails (PROTOCOL.md section 12).

Each builder returns the :class:`~pysoa_like.common.errors.Error` (or response) that goes on the wire;
logging and counting stay with the request cycle that calls them.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.common.constants import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_DEADLINE_EXCEEDED,
    ERROR_CODE_JOB_TIMEOUT,
    ERROR_CODE_SERVER_ERROR,
    ERROR_CODE_UNKNOWN,
)
from pysoa_like.common.errors import Error

__all__ = [
    "action_timeout_error",
    "deadline_exceeded_error",
    "deadline_interrupted_error",
    "invalid_body_error",
    "job_time_limit_error",
    "job_timeout_error",
    "schema_errors_to_job_errors",
    "server_error",
    "unknown_action_error",
]

_JOB_TIMEOUT_MESSAGE = "The service job ran for too long and had to be interrupted (probably a middleware issue)."


def schema_errors_to_job_errors(problems: Iterable[Any]) -> list[Error]:
    """Job-level errors for job request validation failures (never caller errors, as in PySOA)."""
    return [
        p if isinstance(p, Error) else Error(code=p.code, message=p.message, field=p.pointer, is_caller_error=False)
        for p in problems
    ]


def job_timeout_error() -> Error:
    """``JOB_TIMEOUT``: harakiri fired outside any action (job middleware, validation)."""
    return Error(code=ERROR_CODE_JOB_TIMEOUT, message=_JOB_TIMEOUT_MESSAGE, is_caller_error=False)


def job_time_limit_error(seconds: float) -> Error:
    """``JOB_TIMEOUT``: a concurrent worker's job outlived ``harakiri.timeout`` with no action known to be running."""
    message = (
        f"The service job ran for more than {seconds:g} seconds (harakiri.timeout) and was answered at that limit."
    )
    return Error(code=ERROR_CODE_JOB_TIMEOUT, message=message, is_caller_error=False)


def action_timeout_error(action: str) -> Error:
    """``ACTION_TIMEOUT``: harakiri fired while ``action`` ran."""
    message = f'The action "{action}" ran for too long and had to be interrupted.'
    return Error(code=ERROR_CODE_ACTION_TIMEOUT, message=message, is_caller_error=False)


def deadline_exceeded_error(action: str, late: float) -> Error:
    """``DEADLINE_EXCEEDED``: ``action`` was not started because its job's deadline passed ``late`` seconds ago."""
    message = (
        f"The action \"{action}\" was not run: the job's deadline (the request's expiry) passed {late:.3f} s "
        "before it could start"
    )
    return Error(code=ERROR_CODE_DEADLINE_EXCEEDED, message=message, is_caller_error=False)


def deadline_interrupted_error(action: str | None) -> Error:
    """``DEADLINE_EXCEEDED``: the job was still running (``action``, when one was) when its deadline passed."""
    where = f'the action "{action}"' if action else "the job"
    message = f"{where[0].upper()}{where[1:]} was still running when the job's deadline (the request's expiry) passed"
    return Error(code=ERROR_CODE_DEADLINE_EXCEEDED, message=message, is_caller_error=False)


def invalid_body_error(action: str, body: Any) -> Error:
    """``SERVER_ERROR``: ``action`` returned something else than a dict as its response body."""
    message = (
        f'Internal server error: the action "{action}" returned a {type(body).__name__} as its response body; '
        "a response body must be a dict"
    )
    return Error(code=ERROR_CODE_SERVER_ERROR, message=message, is_caller_error=False)


def server_error(exception: BaseException, variables: Mapping[str, Any] | None) -> tuple[Error, list[str]]:
    """``SERVER_ERROR`` for an unexpected exception: ``Internal server error: <exception>`` and its traceback.

    Args:
        exception: The exception.
        variables: Values to attach (as reprs) for diagnosis.

    Returns:
        The error, and what could not be formatted (``"error"``, ``"variable"``; usually nothing).
    """
    failures: list[str] = []
    try:
        message = f"Internal server error: {exception}"
        formatted = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    except Exception:
        failures.append("error")
        message = "Internal server error: (the error could not be formatted)"
        formatted = traceback.format_exc()
    reprs: dict[str, Any] | None = None
    if variables is not None:
        try:
            reprs = {str(k): repr(v) for k, v in variables.items()}
        except Exception:
            failures.append("variable")
            reprs = {"ERROR": "Error formatting variables"}
    error = Error(
        code=ERROR_CODE_SERVER_ERROR, message=message, traceback=formatted, variables=reprs, is_caller_error=False
    )
    return error, failures


def unknown_action_error(action: str, is_caller_error: bool) -> Error:
    """The ``UNKNOWN`` error PySOA gives for an action name the server does not serve."""
    return Error(
        code=ERROR_CODE_UNKNOWN,
        message=f'The action "{action}" was not found on this server.',
        field="action",
        is_caller_error=is_caller_error,
    )
