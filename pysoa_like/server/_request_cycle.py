"""The request cycle of a server: receive one request, run its job, send the response.

One cycle (:meth:`RequestCycleMixin.handle_next_request`) is: receive a request from the transport (or notice
idleness), run the hooks and the request log around the job, run the job, and send the response in the request's
protocol version. Running the job is all here too, so that a request calls into no other server module on its way
(failures aside): the job request's exact-type check (the schema only when that check is unsure), the job the job
middleware receives with its :class:`JobClients`, its switches, and each action through the action middleware
(:meth:`RequestCycleMixin.execute_job`); :mod:`pysoa_like.server.types` re-exports the public names. Failures are
answered by :mod:`pysoa_like.server._job_failures`, with the errors of :mod:`pysoa_like.server._error_responses`
(the ``UNKNOWN`` error of an action not served included); a coroutine action met by this cycle is awaited as
:class:`~pysoa_like.server._coroutine_actions.CoroutineAwaitingMixin` says.

Nothing here knows about signals, harakiri's alarm, heartbeat files or the supervisor: those process concerns are
the worker loop's (:mod:`pysoa_like.server._worker_loop`, which also cuts each receive into short slices), which
calls this cycle once per request. The class users subclass, :class:`~pysoa_like.server.server.Server`, combines
both and keeps PySOA's public methods.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pysoa_like.client.client import Client
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
from pysoa_like.common.types import (
    ActionResponse,
    Context,
    JobResponse,
    _convert_action_requests,
    job_response_to_dict,
)
from pysoa_like.core.message import deadline_of, parse_client_version_checked, suppress_response_requested
from pysoa_like.server._coroutine_actions import (
    JOB_DEADLINE,
    ActionCallable,
    CoroutineAwaitingMixin,
    CoroutineFunctionAction,
    DeadlineInterrupt,
    is_coroutine_action,
    is_coroutine_function,
)
from pysoa_like.server._error_responses import (
    action_timeout_error,
    deadline_interrupted_error,
    schema_errors_to_job_errors,
    unknown_action_error,
)
from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server._harakiri import HarakiriInterrupt
from pysoa_like.server._job_failures import DEPRECATED_ACTIONS_CONTEXT_KEY, JobFailuresMixin
from pysoa_like.server._request_logging import RequestLogger, has_errors
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.internal.types import RequestSwitchSet

if TYPE_CHECKING:
    # For types only: server.types (which the actions and the middleware import too) imports this module.
    from pysoa_like.server.action.status import BaseStatusAction
    from pysoa_like.server.middleware import ServerMiddleware
    from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest


__all__ = [
    "DEPRECATED_ACTIONS_CONTEXT_KEY",
    "JobClients",
    "RequestCycleMixin",
    "empty_job_response",
    "job_switches",
    "looks_valid_job_request",
    "to_switch_set",
    "unknown_action_error",
]

_T = TypeVar("_T")
_H = TypeVar("_H")

# Builds an attrs object without running its __init__, for a job whose every field is set here (the actions
# converter of JobRequest would only walk the list a second time).
_new_instance = object.__new__


def empty_job_response() -> JobResponse:
    """A new :class:`~pysoa_like.common.types.JobResponse` with no errors, context or actions, for the server to fill
    in (here, beside the job it answers: the job's run does not go back to ``common/types.py`` for it).

    ``JobResponse()`` would run both list converters on the two new empty lists; this only makes them.
    """
    response: JobResponse = _new_instance(JobResponse)
    response.errors = []
    response.context = {}
    response.actions = []
    return response


def to_switch_set(value: Iterable[Any] | None) -> RequestSwitchSet:
    """``request.switches`` as given (a :class:`RequestSwitchSet`) or converted to one (the field's converter)."""
    return value if isinstance(value, RequestSwitchSet) else RequestSwitchSet(value)


# The switch set of every job without switches (most jobs): it is immutable, so one serves them all.
_NO_SWITCHES = RequestSwitchSet()


def job_switches(context: Context) -> RequestSwitchSet:
    """The switches a job's context turns on, as its actions' ``request.switches``."""
    switches = context.get("switches")
    return RequestSwitchSet(switches) if switches else _NO_SWITCHES


def looks_valid_job_request(value: Any) -> bool:
    """Whether a job request is plainly valid, by exact-type checks only (the happy path of every request).

    ``False`` does not mean invalid: anything unusual (dict subclasses, ``IntEnum`` switches) is left to
    ``validate_job_request``, whose detailed fields decide. It mirrors ``JobRequestSchema`` (both in
    ``pysoa_like.server.schemas``); a request passing it becomes an
    :class:`~pysoa_like.server.types.EnrichedJobRequest` as it is.
    """
    if type(value) is not dict or len(value) != 3:
        return False
    control = value.get("control")
    context = value.get("context")
    actions = value.get("actions")
    if type(control) is not dict or type(context) is not dict or type(actions) is not list or not actions:
        return False
    if type(control.get("continue_on_error")) is not bool or type(context.get("correlation_id")) is not str:
        return False
    if type(control.get("suppress_response", False)) is not bool:
        return False
    if type(context.get("caller", "")) is not str or type(context.get("calling_service", "")) is not str:
        return False
    switches = context.get("switches")
    if type(switches) is not list:
        return False
    for switch in switches:
        if type(switch) is not int:
            return False
    for action in actions:
        if type(action) is not dict or type(action.get("action")) is not str:
            return False
        size = len(action)
        if size == 2:
            body = action.get("body")
            if type(body) is not dict:
                return False
            for key in body:
                if type(key) is not str:
                    return False
        elif size != 1:
            return False
    return True


class JobClients:
    """The clients of one job for nested calls, each made on first use (most jobs make none) and then shared by the
    job's actions: ``request.client`` from the server's ``make_client``, ``request.async_client`` from its
    ``make_async_client``.

    So a ``make_client`` that raises (``client_routing`` the client refuses, say) fails the action that first asks
    for ``request.client``, with a ``SERVER_ERROR`` (unless the action catches it), not every job.

    Args:
        server: The server that makes the clients.
        context: The job's context, carried forward (correlation id, switches, calling service).
        deadline: The job's deadline: the clients' calls are bounded by it, less the server's nested-call margin.
    """

    __slots__ = ("_async_client", "_client", "context", "deadline", "server")

    def __init__(self, server: Any, context: Context, deadline: float | None) -> None:
        self.server = server
        self.context = context
        self.deadline = deadline
        self._client: Any = None
        self._async_client: Any = None

    def client(self) -> Any:
        """The job's client (made now if it was not yet)."""
        client = self._client
        if client is None:
            client = self._client = self.server.make_client(self.context)
            if isinstance(client, Client):
                self._bound(client)
        return client

    def async_client(self) -> Any:
        """The job's ``AsyncClient`` (made now if it was not yet)."""
        client = self._async_client
        if client is None:
            client = self._async_client = self.server.make_async_client(self.context)
            if hasattr(client, "deadline"):
                self._bound(client)
        return client

    def _bound(self, client: Any) -> None:
        # For calls made outside the job's context (a thread the action starts), None included; in it, a client
        # from make_client or make_async_client follows the deadline of the job each call is made in
        # (job_deadline_margin), shared by jobs or not.
        deadline = self.deadline
        client.deadline = None if deadline is None else deadline - self.server.nested_call_margin_seconds


def _correlation_context(job_request: Any) -> dict[str, Any]:
    """``{"correlation_id": ...}`` from a (possibly malformed) job request, or ``{}``."""
    if isinstance(job_request, dict):
        context = job_request.get("context")
        if isinstance(context, dict) and "correlation_id" in context:
            return {"correlation_id": context["correlation_id"]}
    return {}


class RequestCycleMixin(JobFailuresMixin, CoroutineAwaitingMixin):
    """One request, from the transport back to it; see :class:`~pysoa_like.server.server.Server`."""

    service_name: ClassVar[str | None]
    client_class: ClassVar[Any]
    job_logger: logging.Logger
    transport: ServerTransport
    _receive_kwargs: dict[str, Any]
    _log_throttle: LogThrottle
    _request_logger: RequestLogger
    _in_flight: int
    _jobs_handled: int
    _fleet_runtime: Any
    action_class_map: ClassVar[Mapping[str, Any]]
    request_class: ClassVar[type[EnrichedActionRequest]]
    introspection_action: ClassVar[Any]
    #: The class of the job the job middleware receives (set by Server, which imports the enriched requests).
    _job_request_class: ClassVar[type[EnrichedJobRequest]]
    settings: Any
    metrics: MetricsRecorder
    logger: logging.Logger
    middleware: list[ServerMiddleware]
    _metrics: MetricsRecorder
    _counting: bool
    _async_event_loop_thread: AsyncEventLoopThread
    _job_stack: Callable[[EnrichedJobRequest], JobResponse]
    _default_status_action_class: type[BaseStatusAction] | None
    _deprecated: dict[str, str]
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
        """Send the response (unless the job asked for none: then tell the transport so), note a failed job, log
        the response."""
        # Read now, not with the envelope: a job middleware or an action may have set it in the job's control.
        control = job_request.get("control") if isinstance(job_request, dict) else None
        if not suppress_response_requested(control):
            try:
                self.transport.send_response_message(request_id, meta, response_dict)
            except (MessageTooLarge, InvalidField) as exc:
                response = (job_request, response_dict, client_version, context)
                response_dict = self._send_error_instead(exc, request_id, meta, response)
        else:
            self.transport.response_suppressed(meta)
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
            # Imported here: the schemas module imports this one (for the exact-type check).
            from pysoa_like.server.schemas import validate_job_request

            problems = validate_job_request(job_request)
            if problems:
                return JobResponse(errors=schema_errors_to_job_errors(problems))
        context = job_request["context"]
        deadline = JOB_DEADLINE.get()
        job: EnrichedJobRequest = _new_instance(self._job_request_class)
        job.control = job_request["control"]
        job.context = context
        job._client = None
        job.run_coroutine = self._async_event_loop_thread.run_coroutine
        job.deadline = deadline
        job._job_clients = JobClients(self, context, deadline)
        job.actions = _convert_action_requests(job_request["actions"])  # (JobRequest's converter for its actions)
        return job

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
        # The built-in actions import server.types, which imports this module: imported when first asked for.
        if action_name == "introspect":
            from pysoa_like.server.action.introspection import IntrospectionAction

            factory = type(self).introspection_action or IntrospectionAction
            return factory(self)
        if action_name == "status":
            if self._default_status_action_class is None:
                from pysoa_like.server.action.status import make_default_status_action_class

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


_STOCK_MAKE_MIDDLEWARE_STACK = RequestCycleMixin.make_middleware_stack
