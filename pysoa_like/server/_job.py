"""The job pipeline of a server: validation, job middleware, action dispatch and error mapping.

Kept apart from :mod:`pysoa_like.server.server` (process concerns: transport, loop, logging) as a
mixin, so :class:`~pysoa_like.server.server.Server` keeps PySOA's single-class public API.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.common.constants import (
    ERROR_CODE_ACTION_TIMEOUT,
    ERROR_CODE_JOB_TIMEOUT,
    ERROR_CODE_SERVER_ERROR,
)
from pysoa_like.common.errors import Error
from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.metrics import MetricsRecorder, records_nothing
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server._harakiri import HarakiriInterrupt
from pysoa_like.server._responses import schema_errors_to_job_errors
from pysoa_like.server.action.introspection import IntrospectionAction
from pysoa_like.server.action.status import BaseStatusAction, make_default_status_action_class
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.internal.types import RequestSwitchSet
from pysoa_like.server.middleware import ServerMiddleware
from pysoa_like.server.schemas import validate_job_request
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest, unknown_action_error

__all__ = ["JobPipelineMixin"]

_R = TypeVar("_R", JobResponse, ActionResponse)
_H = TypeVar("_H")

#: The response context key listing the deprecated actions a job ran (action name -> message).
DEPRECATED_ACTIONS_CONTEXT_KEY = "deprecated_actions"
# Deprecated actions already logged by this process (once each: the metric counts every call).
_logged_deprecations: set[str] = set()

_JOB_TIMEOUT_MESSAGE = "The service job ran for too long and had to be interrupted (probably a middleware issue)."

ActionCallable = Callable[[EnrichedActionRequest], ActionResponse]


class JobPipelineMixin:
    """Validation, middleware and dispatch; see :class:`~pysoa_like.server.server.Server`."""

    service_name: ClassVar[str | None]
    action_class_map: ClassVar[Mapping[str, Any]]
    request_class: ClassVar[type[EnrichedActionRequest]]
    introspection_action: ClassVar[Any]
    settings: Any
    metrics: MetricsRecorder
    logger: logging.Logger
    middleware: list[ServerMiddleware]
    _async_event_loop_thread: AsyncEventLoopThread
    _job_stack: Callable[[EnrichedJobRequest], JobResponse]
    _default_status_action_class: type[BaseStatusAction] | None
    _deprecated: dict[str, str]

    def make_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Build the client for nested calls made while handling one job."""
        raise NotImplementedError

    @staticmethod
    def make_middleware_stack(middleware: Iterable[Callable[[_H], _H]], base: _H) -> _H:
        """Compose wrapper factories around ``base`` so that the first one listed is the outermost.

        Args:
            middleware: Wrapper factories (``m.job`` or ``m.action`` of each middleware), outermost first.
            base: The innermost handler.

        Returns:
            The composed handler.
        """
        return build_middleware_stack(middleware, base)

    def process_job(self, job_request: Any) -> JobResponse:
        """Validate a job request dict and run it through the job middleware and :meth:`execute_job`.

        Validation failures become job-level errors (never caller errors). ``JobError`` gives its
        errors; any other exception a ``SERVER_ERROR``. The request's ``correlation_id`` is copied into
        the response context after the middleware ran.

        Args:
            job_request: The job request as received (a dict, unless the sender is broken).

        Returns:
            The job response.
        """
        try:
            problems = validate_job_request(job_request)
            if problems:
                return JobResponse(errors=schema_errors_to_job_errors(problems))
            context = job_request["context"]
            enriched = EnrichedJobRequest(
                control=job_request["control"],
                context=context,
                actions=job_request["actions"],
                client=self.make_client(context),
                run_coroutine=self._async_event_loop_thread.run_coroutine,
            )
            response = self._job_stack(enriched)
            if "correlation_id" in enriched.context:
                response.context["correlation_id"] = enriched.context["correlation_id"]
            return response
        except JobError as exc:
            self.metrics.counter("server.error.job_error").increment()
            return JobResponse(errors=exc.errors)
        except HarakiriInterrupt:
            # Harakiri fired outside any action (job middleware, validation): answer instead of going silent.
            self.metrics.counter("server.error.harakiri", harakiri_level="job").increment()
            return JobResponse(
                errors=[Error(code=ERROR_CODE_JOB_TIMEOUT, message=_JOB_TIMEOUT_MESSAGE, is_caller_error=False)]
            )
        except Exception as exc:
            return self.handle_unhandled_exception(exc, JobResponse)

    def get_action(self, action_name: str) -> ActionCallable | None:
        """A new instance of the action served under ``action_name``, or ``None`` if there is none.

        The ``action_class_map`` comes first; ``introspect`` and ``status`` fall back to the built-in
        actions (or :attr:`introspection_action`).
        """
        if action_name in self.action_class_map:
            action: ActionCallable = self.action_class_map[action_name](self.settings)
            return action
        if action_name == "introspect":
            factory = type(self).introspection_action or IntrospectionAction
            return factory(self)
        if action_name == "status":
            if self._default_status_action_class is None:
                self._default_status_action_class = make_default_status_action_class(type(self))
            return self._default_status_action_class(self.settings)
        return None

    def execute_job(self, job_request: EnrichedJobRequest) -> JobResponse:
        """Run each action of a validated job through the action middleware.

        Stops after the first action with errors unless ``control.continue_on_error`` is true.
        ``ActionError`` becomes that action's errors; ``JobError`` propagates (failing the job); any
        other exception becomes a ``SERVER_ERROR`` with its traceback; an unknown action an
        ``UNKNOWN`` caller error on field ``action``; harakiri an ``ACTION_TIMEOUT`` (and no
        further action runs).

        Args:
            job_request: The job.

        Returns:
            The job response with one action response per action run.
        """
        response = JobResponse()
        switches = RequestSwitchSet(job_request.context.get("switches"))
        continue_on_error = bool(job_request.control.get("continue_on_error", False))
        action_wrappers = [m.action for m in self.middleware]
        # With no action middleware (and the stock stack builder) the action is its own stack.
        call_directly = not action_wrappers and type(self).make_middleware_stack is _STOCK_MAKE_MIDDLEWARE_STACK
        metrics = self.metrics
        # The default recorder records nothing: no per-action timer or error count is made for it.
        counting = not records_nothing(metrics)
        deprecated = self._deprecated
        for action_request_raw in job_request.actions:
            name = action_request_raw.action
            if deprecated and name in deprecated:
                self._mark_deprecated(response, name)
            request = self.request_class(
                action=name,
                body=action_request_raw.body,
                switches=switches,
                context=job_request.context,
                control=job_request.control,
                client=job_request.client,
                run_coroutine=job_request.run_coroutine,
                server=self,
            )
            PySOALogContextFilter.set_logging_action_name(name)
            action_timer = metrics.timer("server.action", action=name) if counting else None
            if action_timer is not None:
                action_timer.start()
            try:
                action = self.get_action(name)
                if action is None:
                    action_response = ActionResponse(action=name, errors=[unknown_action_error(name, True)])
                elif call_directly:
                    action_response = action(request)
                else:
                    action_response = self.make_middleware_stack(action_wrappers, action)(request)
            except ActionError as exc:
                action_response = ActionResponse(action=name, errors=exc.errors)
            except JobError:
                raise
            except HarakiriInterrupt:
                self.metrics.counter("server.error.harakiri", harakiri_level="action").increment()
                message = f'The action "{name}" ran for too long and had to be interrupted.'
                error = Error(code=ERROR_CODE_ACTION_TIMEOUT, message=message, is_caller_error=False)
                response.actions.append(ActionResponse(action=name, errors=[error]))
                if counting:
                    metrics.counter("server.action.error", action=name, code=ERROR_CODE_ACTION_TIMEOUT).increment()
                # The worker is shutting down: no further action of this job may run.
                break
            except Exception as exc:
                action_response = self.handle_unhandled_exception(exc, ActionResponse, action=name)
            finally:
                PySOALogContextFilter.clear_logging_action_name()
                if action_timer is not None:
                    action_timer.stop()
            if type(action_response.body) is not dict:
                action_response = self._checked_body(action_response)
            if counting and action_response.errors:
                for action_error in action_response.errors:
                    metrics.counter("server.action.error", action=name, code=action_error.code).increment()
            response.actions.append(action_response)
            if action_response.errors and not continue_on_error:
                break
        return response

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
        message = (
            f'Internal server error: the action "{name}" returned a {type(body).__name__} as its response body; '
            "a response body must be a dict"
        )
        self.logger.error("%s", message)
        error = Error(code=ERROR_CODE_SERVER_ERROR, message=message, is_caller_error=False)
        return ActionResponse(action=name, errors=[error])

    def _mark_deprecated(self, response: JobResponse, name: str) -> None:
        """Tell the caller (response context ``deprecated_actions``) and the log that a deprecated action ran."""
        message = self._deprecated[name]
        response.context.setdefault(DEPRECATED_ACTIONS_CONTEXT_KEY, {})[name] = message
        self.metrics.counter("server.action.deprecated_call", action=name).increment()
        if name not in _logged_deprecations:
            _logged_deprecations.add(name)
            self.logger.warning('Deprecated action "%s" was called (%s); callers get a warning', name, message)

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
        try:
            message = f"Internal server error: {exception}"
            formatted = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
        except Exception:
            self.metrics.counter("server.error.error_formatting_failure").increment()
            message = "Internal server error: (the error could not be formatted)"
            formatted = traceback.format_exc()
        reprs: dict[str, Any] | None = None
        if variables is not None:
            try:
                reprs = {str(k): repr(v) for k, v in variables.items()}
            except Exception:
                self.metrics.counter("server.error.variable_formatting_failure").increment()
                reprs = {"ERROR": "Error formatting variables"}
        self.metrics.counter("server.error.unhandled_error").increment()
        self.logger.error("Unhandled exception: %s", exception, exc_info=exception)
        error = Error(
            code=ERROR_CODE_SERVER_ERROR,
            message=message,
            traceback=formatted,
            variables=reprs,
            is_caller_error=False,
        )
        return response_type(errors=[error], **kwargs)


_STOCK_MAKE_MIDDLEWARE_STACK = JobPipelineMixin.make_middleware_stack
