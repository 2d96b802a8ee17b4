"""How the request cycle answers what went wrong, so that a failure is always answered and never fails the worker.

:class:`JobFailuresMixin` is a base of :class:`~pysoa_like.server._request_cycle.RequestCycleMixin`: an unhandled
exception (``SERVER_ERROR``, logged with its traceback), a job error, a response that could not be converted or sent
(too large, not serializable), an action stopped by harakiri or its job's deadline, an action that returned no
dict, a deprecated action. The errors themselves are built in :mod:`pysoa_like.server._error_responses`; here they
are logged, counted and put in the response. None of this runs for a job that goes well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common.constants import (
    ERROR_CODE_DEADLINE_EXCEEDED,
    ERROR_CODE_RESPONSE_NOT_SERIALIZABLE,
    ERROR_CODE_RESPONSE_TOO_LARGE,
)
from pysoa_like.common.errors import Error
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.serializer.errors import InvalidField
from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.common.transport.errors import MessageTooLarge, TransientPySOATransportError
from pysoa_like.common.types import ActionResponse, JobResponse, job_response_to_dict
from pysoa_like.server._error_responses import (
    deadline_exceeded_error,
    invalid_body_error,
    job_timeout_error,
    server_error,
)
from pysoa_like.server._harakiri import HarakiriInterrupt
from pysoa_like.server.errors import RETRY_AFTER_CONTEXT_KEY, JobError, PushBackError

if TYPE_CHECKING:
    from pysoa_like.server._request_logging import RequestLogger

__all__ = ["DEPRECATED_ACTIONS_CONTEXT_KEY", "JobFailuresMixin"]

_R = TypeVar("_R", JobResponse, ActionResponse)
# A job's response as _respond had it: (job request, response dict, client version, context).
ResponseToSend = tuple[Any, dict[str, Any], tuple[int, ...], dict[str, Any]]

#: The response context key listing the deprecated actions a job ran (action name -> message).
DEPRECATED_ACTIONS_CONTEXT_KEY = "deprecated_actions"
# Deprecated actions already logged by this process (once each: the metric counts every call).
_logged_deprecations: set[str] = set()


class JobFailuresMixin:
    """The request cycle's answers to failures; see :class:`~pysoa_like.server.server.Server`."""

    metrics: MetricsRecorder
    logger: logging.Logger
    job_logger: logging.Logger
    transport: ServerTransport
    _metrics: MetricsRecorder
    _counting: bool
    _log_throttle: LogThrottle
    _request_logger: RequestLogger
    _deprecated: dict[str, str]

    def handle_unhandled_exception(
        self,
        exception: BaseException,
        response_type: type[_R],
        variables: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> _R:
        """Log an unexpected exception and build a response carrying a ``SERVER_ERROR``.

        Args:
            exception: The exception.
            response_type: ``JobResponse`` or ``ActionResponse``.
            variables: Values to attach (as reprs) to the error for diagnosis.
            kwargs: More arguments for ``response_type`` (``action=`` for an action response).

        Returns:
            The response, with message ``Internal server error: <exception>`` and the traceback.
        """
        error, failures = server_error(exception, variables)
        for failure in failures:
            self.metrics.counter(f"server.error.{failure}_formatting_failure").increment()
        self.metrics.counter("server.error.unhandled_error").increment()
        self.logger.error("Unhandled exception: %s", exception, exc_info=exception)
        return response_type(errors=[error], **kwargs)

    def handle_job_error_code(
        self,
        code: str,
        message: str,
        request_for_logging: Any,
        response_for_logging: Any,
        extra: Mapping[str, Any] | None = None,
    ) -> JobResponse:
        """Log a job-level failure and build a response with one job error.

        Args:
            code: The error code (``RESPONSE_TOO_LARGE``, ``RESPONSE_NOT_SERIALIZABLE``, ...).
            message: The error message.
            request_for_logging: The request, wrapped for censored logging.
            response_for_logging: The response that failed, wrapped for censored logging.
            extra: More keyword arguments for the log call (``exc_info``, ``extra``, ...).

        Returns:
            A job response holding one non-caller error.
        """
        self.job_logger.error(
            "%s. Request: %s Response: %s", message, request_for_logging, response_for_logging, **dict(extra or {})
        )
        return JobResponse(errors=[Error(code=code, message=message, is_caller_error=False)])

    def _job_failed(self, exc: Exception | HarakiriInterrupt) -> JobResponse:
        """The response of a job whose middleware (or validation) raised ``exc``."""
        if isinstance(exc, JobError):
            self.metrics.counter("server.error.job_error").increment()
            if isinstance(exc, PushBackError):
                self.metrics.counter("server.error.pushback").increment()
                return JobResponse(errors=exc.errors, context={RETRY_AFTER_CONTEXT_KEY: round(exc.retry_after * 1000)})
            return JobResponse(errors=exc.errors)
        if isinstance(exc, HarakiriInterrupt):
            # Harakiri fired outside any action (job middleware, validation): answer instead of going silent.
            self.metrics.counter("server.error.harakiri", harakiri_level="job").increment()
            return JobResponse(errors=[job_timeout_error()])
        return self.handle_unhandled_exception(exc, JobResponse)

    def _unconvertible(
        self, exc: Exception, context: dict[str, Any], client_version: tuple[int, ...]
    ) -> dict[str, Any]:
        """Hooks, logging or response conversion failed: still answer, with a job-level ``SERVER_ERROR``."""
        self.metrics.counter("server.error.response_conversion_failure").increment()
        job_response = self.handle_unhandled_exception(exc, JobResponse)
        job_response.context.update(context)
        return job_response_to_dict(job_response, client_version)

    def _send_error_instead(
        self, cause: MessageTooLarge | InvalidField, request_id: Any, meta: dict[str, Any], response: ResponseToSend
    ) -> dict[str, Any]:
        """The response was too large or could not be serialized: log it, send a job error instead, return that.

        ``response`` is ``(job_request, response_dict, client_version, context)`` of the job whose response failed.
        """
        job_request, response_dict, client_version, context = response
        if isinstance(cause, MessageTooLarge):
            self.metrics.counter("server.error.response_too_large").increment()
            code, message = ERROR_CODE_RESPONSE_TOO_LARGE, "Could not send the response because it was too large"
        else:
            self.metrics.counter("server.error.response_not_serializable").increment()
            code = ERROR_CODE_RESPONSE_NOT_SERIALIZABLE
            message = "Could not send the response because it failed to serialize"
        wrap = self._request_logger.wrap
        error_response = self.handle_job_error_code(
            code, message, wrap(job_request), wrap(response_dict), extra={"exc_info": cause}
        )
        error_response.context.update(context)
        error_dict = job_response_to_dict(error_response, client_version)
        try:
            self.transport.send_response_message(request_id, meta, error_dict)
        except TransientPySOATransportError:
            raise
        except Exception as exc:
            self.logger.error("Could not send the %s error response either: %s", code, exc, exc_info=exc)
        return error_dict

    def _interrupted(self, response: JobResponse, name: str, error: Error) -> None:
        """Answer an action stopped by harakiri or by its job's deadline with ``error`` (and count it)."""
        response.actions.append(ActionResponse(action=name, errors=[error]))
        if error.code == ERROR_CODE_DEADLINE_EXCEEDED:
            self.metrics.counter("server.error.deadline_exceeded").increment()
        if self._counting:
            self._metrics.counter("server.action.error", action=name, code=error.code).increment()

    def _deadline_passed(self, response: JobResponse, name: str, deadline: float) -> None:
        """Answer ``DEADLINE_EXCEEDED`` for an action not started because its job's deadline had passed."""
        late = time.time() - deadline
        response.actions.append(ActionResponse(action=name, errors=[deadline_exceeded_error(name, late)]))
        self.metrics.counter("server.error.deadline_exceeded").increment()
        if self._counting:
            self._metrics.counter("server.action.error", action=name, code=ERROR_CODE_DEADLINE_EXCEEDED).increment()
        log_bounded(
            self.logger,
            logging.WARNING,
            self._log_throttle,
            "deadline exceeded",
            'Not running action "%s": its job\'s deadline passed %.3f s ago (the caller no longer waits)',
            name,
            late,
        )

    def _checked_body(self, action_response: ActionResponse) -> ActionResponse:
        """The action's response with a dict body, or a ``SERVER_ERROR`` naming the action and what it returned.

        PySOA sent whatever an action returned as the body; a list, a string or a number then reached the
        client as a body no caller expects. A mapping that is not a dict is copied into one.
        """
        body: Any = action_response.body
        if isinstance(body, dict):
            return action_response
        if body is None:
            action_response.body = {}
            return action_response
        if isinstance(body, Mapping):
            action_response.body = dict(body)
            return action_response
        name = action_response.action
        self.metrics.counter("server.error.invalid_action_response").increment()
        error = invalid_body_error(name, body)
        self.logger.error("%s", error.message)
        return ActionResponse(action=name, errors=[error])

    def _mark_deprecated(self, response: JobResponse, name: str) -> None:
        """Tell the caller (response context ``deprecated_actions``) and the log that a deprecated action ran."""
        message = self._deprecated[name]
        response.context.setdefault(DEPRECATED_ACTIONS_CONTEXT_KEY, {})[name] = message
        self.metrics.counter("server.action.deprecated_call", action=name).increment()
        if name not in _logged_deprecations:
            _logged_deprecations.add(name)
            self.logger.warning('Deprecated action "%s" was called (%s); callers get a warning', name, message)
