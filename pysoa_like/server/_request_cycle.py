"""The request cycle of a server: receive one request, run its job, send the response.

One cycle (:meth:`RequestCycleMixin.handle_next_request`) is: receive a request from the transport
(or notice idleness), validate the job, run it through the job middleware and each action through
the action middleware, turn failures into error responses (answered by
:mod:`pysoa_like.server._job_failures`, with the errors of :mod:`pysoa_like.server._error_responses`),
and send the response in the request's protocol version. Nothing here knows about signals, harakiri's
alarm, heartbeat files or the supervisor: those process concerns are the worker loop's
(:mod:`pysoa_like.server._worker_loop`, which also cuts each receive into short slices), which calls
this cycle once per request. The class users subclass, :class:`~pysoa_like.server.server.Server`,
combines both and keeps PySOA's public methods.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.common.logging import REQUEST_LOG_CONTEXT, RUNNING_ACTION_NAME
from pysoa_like.common.metrics import MetricsRecorder, Timer
from pysoa_like.common.serializer.errors import InvalidField, SerializationError
from pysoa_like.common.transport.base import ReceivedMessage, ReceivedMeta, ServerTransport
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageTooLarge,
    PySOATransportError,
    TransientPySOATransportError,
)
from pysoa_like.common.types import ActionResponse, JobResponse, empty_job_response, job_response_to_dict
from pysoa_like.core.message import deadline_of, parse_client_version_checked, suppress_response_requested
from pysoa_like.server._coroutine_actions import (
    JOB_DEADLINE,
    CoroutineFunctionAction,
    CoroutineRunner,
    DeadlineInterrupt,
    is_coroutine_action,
    is_coroutine_function,
    wait_for_action,
)
from pysoa_like.server._error_responses import (
    action_timeout_error,
    deadline_interrupted_error,
    schema_errors_to_job_errors,
)
from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server._harakiri import HarakiriInterrupt
from pysoa_like.server._job_failures import DEPRECATED_ACTIONS_CONTEXT_KEY, JobFailuresMixin
from pysoa_like.server._request_logging import RequestLogger, has_errors
from pysoa_like.server.action.introspection import IntrospectionAction
from pysoa_like.server.action.status import BaseStatusAction, make_default_status_action_class
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.internal.types import RequestSwitchSet
from pysoa_like.server.middleware import ServerMiddleware
from pysoa_like.server.schemas import validate_job_request
from pysoa_like.server.types import (
    EnrichedActionRequest,
    EnrichedJobRequest,
    JobClients,
    job_switches,
    looks_valid_job_request,
    unknown_action_error,
)

__all__ = ["DEPRECATED_ACTIONS_CONTEXT_KEY", "RequestCycleMixin"]

_H = TypeVar("_H")
_T = TypeVar("_T")

ActionCallable = Callable[[EnrichedActionRequest], ActionResponse]


def _correlation_context(job_request: Any) -> dict[str, Any]:
    """``{"correlation_id": ...}`` from a (possibly malformed) job request, or ``{}``."""
    if isinstance(job_request, dict):
        context = job_request.get("context")
        if isinstance(context, dict) and "correlation_id" in context:
            return {"correlation_id": context["correlation_id"]}
    return {}


class RequestCycleMixin(JobFailuresMixin):
    """One request, from the transport back to it; see :class:`~pysoa_like.server.server.Server`."""

    service_name: ClassVar[str | None]
    action_class_map: ClassVar[Mapping[str, Any]]
    request_class: ClassVar[type[EnrichedActionRequest]]
    introspection_action: ClassVar[Any]
    client_class: ClassVar[Any]
    settings: Any
    metrics: MetricsRecorder
    logger: logging.Logger
    job_logger: logging.Logger
    transport: ServerTransport
    middleware: list[ServerMiddleware]
    _metrics: MetricsRecorder
    _counting: bool
    _receive_kwargs: dict[str, Any]
    _log_throttle: LogThrottle
    _request_logger: RequestLogger
    _async_event_loop_thread: AsyncEventLoopThread
    _job_stack: Callable[[EnrichedJobRequest], JobResponse]
    _default_status_action_class: type[BaseStatusAction] | None
    _deprecated: dict[str, str]
    _in_flight: int
    _jobs_handled: int
    _fleet_runtime: Any
    #: Runs a coroutine action met by the sync pipeline: on the event loop thread (one job at a time), or on the
    #: concurrent worker's loop (a job in its thread pool); see :meth:`_await_action`.
    _coroutine_runner: CoroutineRunner
    #: ``action_class_map`` value -> whether it is a coroutine function (the action itself, not a factory).
    _coroutine_factories: dict[Any, bool]
    #: How much earlier than its job's deadline the job's client (``request.client``) must have its answers:
    #: nested calls get the job's time left minus this, so their caller still has time to use what they return.
    nested_call_margin_seconds: ClassVar[float] = 0.1

    if TYPE_CHECKING:

        def note_failed_job(
            self, request_id: Any, context: Mapping[str, Any], job_request: Any, response: Mapping[str, Any]
        ) -> None: ...

    # Hooks the class users subclass defines (see Server).

    def perform_pre_request_actions(self) -> None:
        """Run before each job."""

    def perform_post_request_actions(self) -> None:
        """Run after each job."""

    def perform_idle_actions(self) -> None:
        """Run when a receive finds no request."""

    def make_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Build the client for nested calls made while handling one job."""
        raise NotImplementedError

    def make_async_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        """Build the asyncio client for nested calls made while handling one job."""
        raise NotImplementedError

    # One request

    def handle_next_request(self) -> None:
        """Receive one request, process it and send the response.

        A receive timeout runs :meth:`perform_idle_actions`. A message that cannot be received
        (malformed, undecodable) is logged and skipped. Anything raised while handling a request is
        logged and, where possible, answered with an error; only transient transport errors propagate
        (:meth:`run` backs off on them).

        Raises:
            TransientPySOATransportError: The transport failed in a way a retry may fix.
        """
        received = self.receive_with(self.transport.receive_request_message)
        if received is None:
            return
        request_id, meta, job_request = received
        if request_id is None and meta is None and job_request is None:
            return
        metrics = self._metrics  # the recorder behind Server.metrics, read without the property's call
        counting = self._counting
        job_timer = None
        self._in_flight = 1
        self._jobs_handled += 1
        if counting:
            metrics.gauge("server.worker.busy").set(1)
            job_timer = metrics.timer("server.job")
            job_timer.start()
        context = _correlation_context(job_request)
        log_context = REQUEST_LOG_CONTEXT.set({"request_id": request_id, **context})
        try:
            started = time.perf_counter()
            meta = meta if isinstance(meta, dict) else {}
            client_version = meta.client_version if isinstance(meta, ReceivedMeta) else self._client_version_of(meta)
            response_dict = self._job_response(meta, job_request, context, client_version)
            self._respond(request_id, meta, job_request, response_dict, client_version, context, started)
        except TransientPySOATransportError:
            raise
        except Exception as exc:
            metrics.counter("server.error.unknown").increment()
            self.logger.error("Unexpected error while handling request %r: %s", request_id, exc, exc_info=exc)
        finally:
            try:
                self.perform_post_request_actions()
            except Exception as exc:
                self.logger.error("perform_post_request_actions failed: %s", exc, exc_info=exc)
            finally:
                REQUEST_LOG_CONTEXT.reset(log_context)
                self._in_flight = 0
                if job_timer is not None:
                    job_timer.stop()
                    metrics.gauge("server.worker.busy").set(0)

    def receive_next(self, timed: bool = True) -> ReceivedMessage | None:
        """Receive one request: ``None`` when none came (idle actions then ran) or one could not be received.

        ``timed``: whether the wait counts as the worker's idle time (a concurrent worker counts it itself).

        Raises:
            TransientPySOATransportError: The transport failed in a way a retry may fix.
        """
        received = self.receive_with(self.transport.receive_request_message, timed=timed)
        if received is None or (received[0] is None and received[1] is None and received[2] is None):
            return None
        return received

    def receive_with(self, receive: Callable[..., _T], *args: Any, timed: bool = True) -> _T | None:
        """Call a receive method of the transport (with the short receive slice) as :meth:`receive_next` does: the
        idle time measured (unless not ``timed``), idle actions run after a timeout, a message that cannot be
        received logged and skipped.

        Returns:
            What ``receive`` returned, or ``None`` after a timeout or a skipped message.

        Raises:
            TransientPySOATransportError: The transport failed in a way a retry may fix.
        """
        metrics = self._metrics
        idle_timer = metrics.timer("server.idle_time") if timed and self._counting else None
        if idle_timer is not None:
            idle_timer.start()
        try:
            return receive(*args, **self._receive_kwargs)
        except MessageReceiveTimeout:
            if idle_timer is not None:
                idle_timer.stop()
            self.perform_idle_actions()
            return None
        except TransientPySOATransportError:
            raise
        except (PySOATransportError, SerializationError) as exc:
            metrics.counter("server.error.invalid_message").increment()
            self.logger.error("Skipping a request message that could not be received: %s", exc, exc_info=exc)
            return None
        finally:
            if idle_timer is not None:
                idle_timer.stop()

    def _client_version_of(self, meta: dict[str, Any]) -> tuple[int, ...]:
        """The requesting client's version, read from a plain meta dict (a transport's :class:`ReceivedMeta` carries
        it already): a malformed one is logged (a few times a minute at most) and taken as PySOA's 0.40.0."""
        client_version, problem = parse_client_version_checked(meta)
        if problem is not None:
            log_bounded(
                self.logger,
                logging.WARNING,
                self._log_throttle,
                "client_version",
                "Ignoring a malformed client_version (treating the client as 0.40.0): %s",
                problem,
            )
        return client_version

    def _job_response(
        self, meta: dict[str, Any], job_request: Any, context: dict[str, Any], client_version: tuple[int, ...]
    ) -> dict[str, Any]:
        """Run the job (hooks, request log, :meth:`process_job`) and return its response as a dict."""
        deadline = meta.deadline if isinstance(meta, ReceivedMeta) else deadline_of(meta.get("__expiry__"))
        token = JOB_DEADLINE.set(deadline)
        try:
            self.perform_pre_request_actions()
            self._request_logger.log_request(job_request)
            job_response = self.process_job(job_request)
            return job_response_to_dict(job_response, client_version)
        except Exception as exc:
            return self._unconvertible(exc, context, client_version)
        finally:
            JOB_DEADLINE.reset(token)

    def _respond(
        self,
        request_id: Any,
        meta: dict[str, Any],
        job_request: Any,
        response_dict: dict[str, Any],
        client_version: tuple[int, ...],
        context: dict[str, Any],
        started: float,
    ) -> None:
        """Send the response (unless the caller asked for none), note a failed job, log the response."""
        control = job_request.get("control") if isinstance(job_request, dict) else None
        if not suppress_response_requested(control):
            try:
                self.transport.send_response_message(request_id, meta, response_dict)
            except (MessageTooLarge, InvalidField) as exc:
                response = (job_request, response_dict, client_version, context)
                response_dict = self._send_error_instead(exc, request_id, meta, response)
        failed = None
        if self._fleet_runtime is not None:
            # Searched once, for the registry's error figures and the log level (the logger searched it anyway).
            failed = has_errors(response_dict)
            if failed:
                self.note_failed_job(request_id, context, job_request, response_dict)
        self._request_logger.log_response(job_request, response_dict, time.perf_counter() - started, failed)

    # The job

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
            enriched = self._enriched_job(job_request)
            if isinstance(enriched, JobResponse):
                return enriched
            response = self._job_stack(enriched)
            if "correlation_id" in enriched.context:
                response.context["correlation_id"] = enriched.context["correlation_id"]
            return response
        except (Exception, HarakiriInterrupt) as exc:
            return self._job_failed(exc)

    def _enriched_job(self, job_request: Any) -> EnrichedJobRequest | JobResponse:
        """The job for the job middleware, or the response listing why the request is not a valid job."""
        if not looks_valid_job_request(job_request):
            problems = validate_job_request(job_request)
            if problems:
                return JobResponse(errors=schema_errors_to_job_errors(problems))
        context = job_request["context"]
        deadline = JOB_DEADLINE.get()
        return EnrichedJobRequest(
            control=job_request["control"],
            context=context,
            actions=job_request["actions"],
            run_coroutine=self._async_event_loop_thread.run_coroutine,
            deadline=deadline,
            job_clients=JobClients(self, context, deadline),
        )

    def get_action(self, action_name: str) -> ActionCallable | None:
        """A new instance of the action served under ``action_name``, or ``None`` if there is none.

        The ``action_class_map`` comes first; ``introspect`` and ``status`` fall back to the built-in
        actions (or :attr:`introspection_action`).
        """
        if action_name in self.action_class_map:
            factory = self.action_class_map[action_name]
            try:
                coroutine_function = self._coroutine_factories.get(factory)
            except TypeError:  # unhashable: asked every time
                coroutine_function = is_coroutine_function(factory)
            if coroutine_function is None:
                coroutine_function = self._coroutine_factories[factory] = is_coroutine_function(factory)
            if coroutine_function:
                return CoroutineFunctionAction(factory)  # type: ignore[return-value]  # its __call__ gives a coroutine
            action: ActionCallable = factory(self.settings)
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
        response = empty_job_response()
        switches = job_switches(job_request.context)
        continue_on_error = bool(job_request.control.get("continue_on_error", False))
        action_wrappers = [m.action for m in self.middleware] if self.middleware else []
        # With no action middleware (and the stock stack builder) the action is its own stack.
        call_directly = not action_wrappers and type(self).make_middleware_stack is _STOCK_MAKE_MIDDLEWARE_STACK
        deadline = job_request.deadline
        for action_request_raw in job_request.actions:
            name = action_request_raw.action
            if deadline is not None and time.time() >= deadline:
                self._deadline_passed(response, name, deadline)
                break
            request, action_timer = self._begin_action(response, job_request, name, action_request_raw.body, switches)
            action_name = RUNNING_ACTION_NAME.set(name)
            try:
                action = self.get_action(name)
                if action is None:
                    action_response = ActionResponse(action=name, errors=[unknown_action_error(name, True)])
                elif call_directly:
                    action_response = action(request)
                else:
                    if is_coroutine_action(action):
                        action = self._awaiting(action, deadline)
                    action_response = self.make_middleware_stack(action_wrappers, action)(request)
                if type(action_response) is not ActionResponse and inspect.isawaitable(action_response):
                    action_response = self._await_action(action_response, deadline)
            except ActionError as exc:
                action_response = ActionResponse(action=name, errors=exc.errors)
            except JobError:
                raise
            except HarakiriInterrupt:
                self.metrics.counter("server.error.harakiri", harakiri_level="action").increment()
                self._interrupted(response, name, action_timeout_error(name))
                # The worker is shutting down: no further action of this job may run.
                break
            except DeadlineInterrupt:
                self._interrupted(response, name, deadline_interrupted_error(name))
                break
            except Exception as exc:
                action_response = self.handle_unhandled_exception(exc, ActionResponse, action=name)
            finally:
                RUNNING_ACTION_NAME.reset(action_name)
                if action_timer is not None:
                    action_timer.stop()
            if self._action_done(response, name, action_response, continue_on_error):
                break
        return response

    def _begin_action(
        self, response: JobResponse, job_request: EnrichedJobRequest, name: str, body: Any, switches: RequestSwitchSet
    ) -> tuple[EnrichedActionRequest, Timer | None]:
        """Mark a deprecated action, build the action's request, start the action's timer."""
        if self._deprecated and name in self._deprecated:
            self._mark_deprecated(response, name)
        request = self.request_class(
            action=name,
            body=body,
            switches=switches,
            context=job_request.context,
            control=job_request.control,
            client=job_request._client,  # None: the job's own, made if the action asks for it
            run_coroutine=job_request.run_coroutine,
            server=self,
            deadline=job_request.deadline,
            job_clients=job_request._job_clients,
        )
        if not self._counting:
            return request, None
        action_timer = self._metrics.timer("server.action", action=name)
        action_timer.start()
        return request, action_timer

    def _action_done(
        self, response: JobResponse, name: str, action_response: ActionResponse, continue_on_error: bool
    ) -> bool:
        """Add an action's response to the job's (its body checked, its errors counted); whether the job stops."""
        if type(action_response.body) is not dict:
            action_response = self._checked_body(action_response)
        if self._counting and action_response.errors:
            metrics = self._metrics
            for action_error in action_response.errors:
                metrics.counter("server.action.error", action=name, code=action_error.code).increment()
        response.actions.append(action_response)
        return bool(action_response.errors) and not continue_on_error

    def _awaiting(self, action: ActionCallable, deadline: float | None) -> ActionCallable:
        """``action`` (a coroutine action) as a blocking callable, for action middleware written for plain actions."""

        def run(request: EnrichedActionRequest) -> ActionResponse:
            result: Any = action(request)
            return self._await_action(result, deadline) if inspect.isawaitable(result) else result

        return run

    def _await_action(self, awaitable: Any, deadline: float | None) -> ActionResponse:
        """Run a coroutine action's awaitable to completion (cancelled at ``deadline`` or by harakiri)."""
        future = self._coroutine_runner(awaitable, contextvars.copy_context())
        result: ActionResponse = wait_for_action(future, deadline)
        return result


_STOCK_MAKE_MIDDLEWARE_STACK = RequestCycleMixin.make_middleware_stack
