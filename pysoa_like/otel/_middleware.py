"""The tracing middleware: a CLIENT span per call, a SERVER span per job and an INTERNAL span per action."""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.otel._spans import (
    end_with_exception,
    end_with_response,
    extract,
    get_tracer,
    record_errors,
    record_exception,
    rpc_attributes,
    start_client_span,
)
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.middleware import (
    ActionHandler,
    AsyncActionHandler,
    AsyncJobHandler,
    JobHandler,
    ServerMiddleware,
)

__all__ = ["TracingClientMiddleware", "TracingServerMiddleware"]

# How long a call's span waits for its reply when the call set no expiry (the transports' default).
_DEFAULT_EXPIRY_SECONDS = 60.0
# The most calls one thread may have waiting with open spans; older ones are ended as abandoned.
_MAX_OPEN_SPANS = 10_000


class _Waiting:
    """The spans of one thread's calls that wait for their reply: request id -> (span, give-up time)."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[Any, tuple[Span, float]] = {}


class TracingClientMiddleware(ClientMiddleware):
    """Client middleware: one CLIENT span per call (job), with the trace context sent in the job's ``context``.

    The span starts when the job is sent, as a child of the current span (so calls made inside an
    action are children of that action's span), and ends when the reply arrives (status ERROR if
    the reply has errors), when the send fails, at once for ``suppress_response`` calls, or, for a
    reply that never comes, when a receive on the same thread fails (timeout or transport error)
    or when the call's expiry has passed. Under an ``AsyncClient`` (the coroutine hooks) the span covers the
    transport's send and the wait for the reply, and a call that ends without its reply (send error, timeout,
    transport error, cancellation) ends its own span with that exception, the others' spans untouched.

    Args:
        service_name: The called service (``rpc.service``); ``instrument_client_settings`` fills it in.
        tracer_provider: The tracer provider (default: the global one).
    """

    def __init__(self, service_name: str | None = None, tracer_provider: Any = None) -> None:
        self.service_name = service_name or "unknown"
        self._tracer = get_tracer(tracer_provider)
        self._local = threading.local()

    def _waiting(self) -> _Waiting:
        try:
            return self._local.waiting  # type: ignore[no-any-return]
        except AttributeError:
            waiting = self._local.waiting = _Waiting()
            return waiting

    def _end_expired(self, waiting: _Waiting) -> None:
        """End the spans of calls whose expiry passed (no reply can come any more), and any beyond the cap."""
        if not waiting.spans:
            return
        now = time.monotonic()
        for request_id, (span, give_up) in list(waiting.spans.items()):
            if give_up <= now or len(waiting.spans) > _MAX_OPEN_SPANS:
                del waiting.spans[request_id]
                span.set_attribute("pysoa.abandoned", True)
                end_with_exception(span, TimeoutError("no reply before the request expired"))

    def _start_span(self, request_id: int, job_request: Any) -> Span:
        """Start a call's span (ending the expired ones first); its trace context goes in the job's context."""
        self._end_expired(self._waiting())
        span = start_client_span(self._tracer, self.service_name, job_request.actions, job_request.context)
        span.set_attribute("pysoa.request_id", request_id)
        return span

    def _sent(self, span: Span, request_id: int, job_request: Any, message_expiry_in_seconds: float | None) -> None:
        """The call's job is sent: its span waits for the reply (or ends now, for a call without one)."""
        if suppress_response_requested(job_request.control):
            span.end()
            return
        expiry = message_expiry_in_seconds or _DEFAULT_EXPIRY_SECONDS
        self._waiting().spans[request_id] = (span, time.monotonic() + expiry)

    def _pop(self, request_id: Any) -> Span | None:
        """The span waiting for ``request_id``'s reply, no longer waiting (``None``: none waits)."""
        try:
            entry = self._waiting().spans.pop(request_id, None)
        except TypeError:  # an unhashable id from a misbehaving server
            return None
        return None if entry is None else entry[0]

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        """Start the call's span, put its trace context in the job's context, then send."""

        def send(
            request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: float | None
        ) -> None:
            span = self._start_span(request_id, job_request)
            try:
                send_request(request_id, meta, job_request, message_expiry_in_seconds)
            except BaseException as exc:
                end_with_exception(span, exc)
                raise
            self._sent(span, request_id, job_request, message_expiry_in_seconds)

        return send

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        """:meth:`request` for an ``AsyncClient``: the span covers the transport's send, and ends on its error."""

        async def send(
            request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: float | None
        ) -> None:
            span = self._start_span(request_id, job_request)
            try:
                await send_request(request_id, meta, job_request, message_expiry_in_seconds)
            except BaseException as exc:
                end_with_exception(span, exc)
                raise
            self._sent(span, request_id, job_request, message_expiry_in_seconds)

        return send

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        """End the call's span when its reply arrives, or with what ended its wait (timeout, error, cancellation)."""

        async def receive(request_id: int, receive_timeout_in_seconds: float | None) -> Any:
            try:
                received_id, response = await get_response(request_id, receive_timeout_in_seconds)
            except BaseException as exc:
                failed = self._pop(request_id)
                if failed is not None:
                    end_with_exception(failed, exc)
                raise
            if response is not None:  # else the client ends the call, and no_reply the span
                span = self._pop(received_id)
                if span is not None:
                    end_with_response(span, response)
            self._end_expired(self._waiting())
            return received_id, response

        return receive

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        """End the span of each call whose reply arrives; a failed receive ends this thread's waiting spans."""

        def receive(receive_timeout_in_seconds: float | None) -> Any:
            waiting = self._waiting()
            try:
                request_id, response = get_response(receive_timeout_in_seconds)
            except PySOATransportError as exc:
                # Every reply that arrived during the wait was routed to its span: those still open got none.
                spans, waiting.spans = waiting.spans, {}
                for open_span, _ in spans.values():
                    end_with_exception(open_span, exc)
                raise
            if response is not None:
                span = self._pop(request_id)
                if span is not None:
                    end_with_response(span, response)
            self._end_expired(waiting)
            return request_id, response

        return receive

    def no_reply(self, request_id: Any, exception: BaseException) -> None:
        """End the span of a call that ended without its reply (such as an ``AsyncClient``'s call that gave up).

        An ``AsyncClient`` calls this hook of its middleware for each such call, including one forgotten before
        it waited (a parallel call's job, cancelled); the span's own hooks have ended it in most cases.
        """
        span = self._pop(request_id)
        if span is not None:
            end_with_exception(span, exception)


class TracingServerMiddleware(ServerMiddleware):
    """Server middleware: a SERVER span per job, continuing the caller's trace, and an INTERNAL span per action.

    The job span is the current span while the job's actions run, so the spans of nested calls
    (through ``request.client`` with :class:`TracingClientMiddleware`) are its descendants. Errors
    (job errors, action errors, exceptions) set the span status to ERROR with ``error.type``.

    Args:
        service_name: This service's name (``rpc.service``); by default the name the server runner
            gave the logging context (``pysoa-like serve``, ``Server.main``), else ``unknown``.
        tracer_provider: The tracer provider (default: the global one).
    """

    def __init__(self, service_name: str | None = None, tracer_provider: Any = None) -> None:
        self._service_name = service_name
        self._tracer = get_tracer(tracer_provider)

    @property
    def service_name(self) -> str:
        """The ``rpc.service`` of this server's spans."""
        return self._service_name or PySOALogContextFilter.get_service_name() or "unknown"

    def _job_span(self, job_request: Any) -> Span:
        """Start the SERVER span of a job, a child of the caller's span (not made current)."""
        service = self.service_name
        method = ",".join(str(action.action) for action in job_request.actions)
        attributes = rpc_attributes(service, method)
        correlation_id = job_request.context.get("correlation_id")
        if correlation_id:
            attributes["pysoa.correlation_id"] = str(correlation_id)
        return self._tracer.start_span(
            f"{service}/{method}", context=extract(job_request.context), kind=SpanKind.SERVER, attributes=attributes
        )

    def job(self, process_job: JobHandler) -> JobHandler:
        """Run the job inside a SERVER span whose parent is the caller's span."""

        def handle(job_request: Any) -> Any:
            span = self._job_span(job_request)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                response = process_job(job_request)
            except BaseException as exc:
                _end_job_span(span, exc)
                raise
            finally:
                otel_context.detach(token)
            end_with_response(span, response)
            return response

        return handle

    def async_job(self, process_job: AsyncJobHandler) -> AsyncJobHandler:
        """:meth:`job` on a concurrent server's event loop: the span is current in the job's task."""

        async def handle(job_request: Any) -> Any:
            span = self._job_span(job_request)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                response = await process_job(job_request)
            except BaseException as exc:
                _end_job_span(span, exc)
                raise
            finally:
                otel_context.detach(token)
            end_with_response(span, response)
            return response

        return handle

    def _action_span(self, request: Any) -> Any:
        """The INTERNAL span of one action, as a context manager making it current (exceptions left to the caller)."""
        service = self.service_name
        return self._tracer.start_as_current_span(
            f"{service}/{request.action}",
            kind=SpanKind.INTERNAL,
            attributes=rpc_attributes(service, request.action),
            record_exception=False,
            set_status_on_exception=False,
        )

    def action(self, process_action: ActionHandler) -> ActionHandler:
        """Run the action inside an INTERNAL span, a child of the job's span."""

        def handle(request: Any) -> Any:
            with self._action_span(request) as span:
                try:
                    response = process_action(request)
                except BaseException as exc:
                    _record_action_failure(span, exc)
                    raise
                record_errors(span, getattr(response, "errors", None) or ())
                return response

        return handle

    def async_action(self, process_action: AsyncActionHandler) -> AsyncActionHandler:
        """:meth:`action` on a concurrent server's event loop: the span is current while the coroutine runs."""

        async def handle(request: Any) -> Any:
            with self._action_span(request) as span:
                try:
                    response = await process_action(request)
                except BaseException as exc:
                    _record_action_failure(span, exc)
                    raise
                record_errors(span, getattr(response, "errors", None) or ())
                return response

        return handle


def _end_job_span(span: Span, exc: BaseException) -> None:
    """End a job's span with what its handler raised (a job error's codes, or the exception)."""
    if isinstance(exc, JobError):
        record_errors(span, exc.errors)
        span.end()
    else:
        end_with_exception(span, exc)


def _record_action_failure(span: Span, exc: BaseException) -> None:
    """Mark an action's span with what the action raised (an action or job error's codes, or the exception)."""
    if isinstance(exc, ActionError | JobError):
        record_errors(span, exc.errors)
    else:
        record_exception(span, exc)
