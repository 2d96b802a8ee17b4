"""Which HTTP status a call's outcome gets: pure functions of the job response or the exception.

``docs/gateway.rst`` has the table; the rules, in order:

* a job response without errors is 200;
* its job errors decide first, else the first action with errors; among several errors the first
  that is not the caller's fault (a server-side failure is never hidden behind a 4xx), else the first;
* one error's status comes from its code (``_CODE_STATUS``), else from whose fault it is: a caller
  error is 400 (validation and every error an action raises for its caller), anything else 500;
* an exception raised by the client before any response (``_exception_status``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attr

from pysoa_like.client.errors import BulkheadFullError, CircuitOpenError, ImproperlyConfigured
from pysoa_like.common.constants import (
    ERROR_CODE_ACCESS_DENIED,
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_AUTH_INVALID,
    ERROR_CODE_AUTH_REQUIRED,
    ERROR_CODE_DEADLINE_EXCEEDED,
    ERROR_CODE_JOB_TIMEOUT,
    ERROR_CODE_NOT_AUTHORIZED,
    ERROR_CODE_NOT_FOUND,
    ERROR_CODE_OVERLOADED,
    ERROR_CODE_UNKNOWN,
    ERROR_CODE_WORKER_DIED,
)
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageTooLarge,
    PySOATransportError,
    QueueFullSendError,
)
from pysoa_like.common.types import JobResponse

__all__ = ["Outcome", "error_status", "exception_outcome", "job_outcome"]

# The codes whose status does not depend on whose fault the error is.
_CODE_STATUS = {
    ERROR_CODE_AUTH_REQUIRED: 401,
    ERROR_CODE_AUTH_INVALID: 401,
    ERROR_CODE_ACCESS_DENIED: 403,
    ERROR_CODE_NOT_AUTHORIZED: 403,
    ERROR_CODE_NOT_FOUND: 404,
    ERROR_CODE_OVERLOADED: 503,
    ERROR_CODE_ACTION_TIMEOUT: 504,
    ERROR_CODE_JOB_TIMEOUT: 504,
    ERROR_CODE_DEADLINE_EXCEEDED: 504,
    ERROR_CODE_WORKER_DIED: 502,
}
# The response context key of a server's pushback (pysoa_like.server.errors.RETRY_AFTER_CONTEXT_KEY).
_RETRY_AFTER_MS = "retry_after_ms"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Outcome:
    """The HTTP answer to a call: its status, and the ``Retry-After`` seconds of a 503 (when known).

    ``code`` and ``message`` describe an exception raised before any response (``None`` otherwise).
    """

    status: int
    retry_after: int | None = None
    code: str | None = None
    message: str | None = None


def error_status(error: Error) -> int:
    """The HTTP status of one error record."""
    status = _CODE_STATUS.get(error.code)
    if status is not None:
        return status
    if error.code == ERROR_CODE_UNKNOWN and error.field == "action":
        return 404
    return 400 if error.is_caller_error else 500


def _errors_status(errors: Sequence[Error]) -> int:
    statuses = [error_status(error) for error in errors]
    return next((status for status in statuses if status >= 500), statuses[0])


def _seconds(milliseconds: Any) -> int | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float) or not math.isfinite(milliseconds):
        return None
    return max(1, math.ceil(milliseconds / 1000))


def job_outcome(response: JobResponse) -> Outcome:
    """The status of a job response (200 when it has no error at all)."""
    errors = response.errors or next((action.errors for action in response.actions if action.errors), [])
    if not errors:
        return Outcome(200)
    status = _errors_status(errors)
    retry_after = None
    if status == 503:
        context = response.context if isinstance(response.context, Mapping) else {}
        retry_after = _seconds(context.get(_RETRY_AFTER_MS)) or 1
    return Outcome(status, retry_after)


def exception_outcome(exc: BaseException) -> Outcome:
    """The status of an exception the client raised instead of returning a response."""
    if isinstance(exc, CircuitOpenError):
        return Outcome(503, max(1, math.ceil(exc.retry_after)), "CIRCUIT_OPEN", str(exc))
    if isinstance(exc, BulkheadFullError):
        return Outcome(503, 1, "BULKHEAD_FULL", str(exc))
    if isinstance(exc, QueueFullSendError):
        return Outcome(503, max(1, math.ceil(exc.retry_after)), "QUEUE_FULL", str(exc))
    if isinstance(exc, MessageReceiveTimeout):
        return Outcome(504, None, "TIMEOUT", str(exc) or "The service did not answer in time")
    if isinstance(exc, MessageTooLarge):
        return Outcome(413, None, "REQUEST_TOO_LARGE", str(exc))
    if isinstance(exc, PySOATransportError):
        return Outcome(502, None, "TRANSPORT_ERROR", f"The gateway could not reach the service: {exc}")
    from pysoa_like.fleet.errors import ServiceVersionError

    if isinstance(exc, ServiceVersionError):
        return Outcome(503, None, "NO_SUITABLE_INSTANCE", str(exc))
    if isinstance(exc, ImproperlyConfigured):
        return Outcome(500, None, "GATEWAY_MISCONFIGURED", str(exc))
    return Outcome(500, None, "GATEWAY_ERROR", f"The gateway failed to make the call ({type(exc).__name__})")
