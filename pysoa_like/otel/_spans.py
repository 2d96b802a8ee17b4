"""What the client and server tracing middleware share: attributes, outcomes and trace context.

The hook point for any caller (the sync middleware here, an asyncio client or server later): a
client starts a CLIENT span and writes the W3C trace context into the job's ``context``
(:func:`start_client_span`), and ends it with the reply or the failure (:func:`end_with_response`,
:func:`end_with_exception`); a server reads the trace context back (:func:`extract`) for its SERVER
span per job and an INTERNAL span per action. Spans follow OpenTelemetry's RPC conventions:
``rpc.system`` = ``pysoa``, ``rpc.service`` = the service name, ``rpc.method`` = the action (the
job's action names joined with commas for a job), span names ``<service>/<method>``, status ERROR
with ``error.type`` = the first error code (or the exception's class) on failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from pysoa_like.version import __version__

__all__ = [
    "RPC_SYSTEM",
    "end_with_exception",
    "end_with_response",
    "extract",
    "get_tracer",
    "record_errors",
    "record_exception",
    "rpc_attributes",
    "start_client_span",
]

#: The ``rpc.system`` of every span.
RPC_SYSTEM = "pysoa"


def get_tracer(tracer_provider: Any = None) -> trace.Tracer:
    """pysoa_like's tracer from ``tracer_provider`` (default: the global one, resolved at each span)."""
    return trace.get_tracer("pysoa_like", __version__, tracer_provider=tracer_provider)


def rpc_attributes(service: str, method: str) -> dict[str, Any]:
    """The RPC semantic-convention attributes of a span."""
    return {"rpc.system": RPC_SYSTEM, "rpc.service": service, "rpc.method": method}


def _errors_of(response: Any) -> list[Any]:
    """Every error of a job response (job errors, then each action's), dicts or ``Error`` objects alike."""
    if response is None:
        return []
    if isinstance(response, Mapping):
        errors = list(response.get("errors") or ())
        for action in response.get("actions") or ():
            if isinstance(action, Mapping):
                errors.extend(action.get("errors") or ())
        return errors
    errors = list(getattr(response, "errors", None) or ())
    for action in getattr(response, "actions", None) or ():
        errors.extend(getattr(action, "errors", None) or ())
    return errors


def _field(error: Any, name: str) -> Any:
    return error.get(name) if isinstance(error, Mapping) else getattr(error, name, None)


def record_errors(span: Span, errors: Iterable[Any]) -> None:
    """Mark ``span`` failed with the first error's code and message, and list every code."""
    errors = list(errors)
    if not errors:
        return
    codes = [str(_field(error, "code")) for error in errors]
    span.set_attribute("error.type", codes[0])
    span.set_attribute("pysoa.error_codes", codes)
    span.set_status(Status(StatusCode.ERROR, f"{codes[0]}: {_field(errors[0], 'message')}"))


def end_with_response(span: Span, response: Any) -> None:
    """End a span with a job or action response (an error status if it carries errors)."""
    record_errors(span, _errors_of(response))
    span.end()


def record_exception(span: Span, exception: BaseException) -> None:
    """Mark ``span`` failed by ``exception`` (recorded as an event unless it is a ``BaseException`` only)."""
    if isinstance(exception, Exception):
        span.record_exception(exception)
    span.set_attribute("error.type", type(exception).__qualname__)
    span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}: {exception}"))


def end_with_exception(span: Span, exception: BaseException) -> None:
    """End a span with the exception that ended its call."""
    record_exception(span, exception)
    span.end()


def start_client_span(
    tracer: trace.Tracer, service: str, actions: Iterable[Any], job_context: MutableMapping[str, Any]
) -> Span:
    """Start the CLIENT span of one job (a child of the current span) and write its trace context into the job.

    Args:
        tracer: The tracer.
        service: The called service.
        actions: The job's actions (``ActionRequest`` objects or dicts).
        job_context: The job's ``context``, which gets ``traceparent`` (and ``tracestate``/``baggage``
            when there are any) from the global propagator.

    Returns:
        The started span (not made current).
    """
    method = ",".join(str(_field(action, "action")) for action in actions)
    attributes = rpc_attributes(service, method)
    correlation_id = job_context.get("correlation_id")
    if correlation_id:
        attributes["pysoa.correlation_id"] = str(correlation_id)
    span = tracer.start_span(f"{service}/{method}", kind=SpanKind.CLIENT, attributes=attributes)
    propagate.inject(job_context, context=trace.set_span_in_context(span))
    return span


def extract(job_context: Mapping[str, Any]) -> otel_context.Context:
    """The trace context a caller wrote into a job's ``context`` (an empty one if none)."""
    return propagate.extract(job_context)
