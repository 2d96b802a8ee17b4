"""The tracing middleware through its hooks and in-process services (the real SDK, an in-memory exporter)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest, JobResponse
from pysoa_like.otel import (
    CLIENT_MIDDLEWARE,
    SERVER_MIDDLEWARE,
    TracingClientMiddleware,
    TracingServerMiddleware,
    instrument_client_settings,
    instrument_server_settings,
)
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _job(suppress: bool = False) -> JobRequest:
    return JobRequest(
        control={"suppress_response": suppress}, context={"correlation_id": "c-1"}, actions=[ActionRequest(action="a")]
    )


def test_a_call_span_carries_its_context_in_the_job_and_ends_with_the_reply(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The send writes traceparent into the job's context; the matching reply ends the span (ERROR on errors)."""
    middleware = TracingClientMiddleware("svc", tracer_provider=provider)
    sent: list[JobRequest] = []
    send = middleware.request(lambda request_id, meta, job, expiry: sent.append(job))
    replies = [(7, JobResponse(actions=[ActionResponse(action="a", errors=[{"code": "BAD", "message": "no"}])]))]
    receive = middleware.response(lambda timeout: replies.pop())
    send(7, {}, _job(), 5)
    assert sent[0].context["traceparent"].startswith("00-")
    assert exporter.get_finished_spans() == ()
    receive(5)
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.kind.name, span.status.status_code.name) == ("svc/a", "CLIENT", "ERROR")
    assert span.attributes is not None
    assert span.attributes["error.type"] == "BAD"
    assert span.attributes["pysoa.correlation_id"] == "c-1"
    assert sent[0].context["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"


def test_suppressed_calls_end_when_sent_and_failed_sends_end_with_the_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A send-and-forget call's span ends after the send; a send that raises ends its span as failed."""
    middleware = TracingClientMiddleware("svc", tracer_provider=provider)
    middleware.request(lambda *args: None)(1, {}, _job(suppress=True), None)

    def refuse(*args: Any) -> None:
        raise MessageReceiveTimeout("down")

    with pytest.raises(MessageReceiveTimeout):
        middleware.request(refuse)(2, {}, _job(), None)
    ok, failed = exporter.get_finished_spans()
    assert ok.status.status_code.name == "UNSET"
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes is not None and failed.attributes["error.type"] == "MessageReceiveTimeout"


def test_a_failed_receive_ends_the_waiting_spans_and_expired_calls_are_abandoned(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A receive timeout ends every span still waiting on the thread; a call past its expiry is ended later."""
    middleware = TracingClientMiddleware("svc", tracer_provider=provider)
    send = middleware.request(lambda *args: None)
    send(1, {}, _job(), 30)

    def time_out(timeout: float | None) -> Any:
        raise MessageReceiveTimeout("nothing")

    with pytest.raises(MessageReceiveTimeout):
        middleware.response(time_out)(1)
    (timed_out,) = exporter.get_finished_spans()
    assert timed_out.attributes is not None and timed_out.attributes["error.type"] == "MessageReceiveTimeout"
    send(2, {}, _job(), 1e-9)  # expires at once
    send(3, {}, _job(), 30)  # the next send finds call 2 expired
    abandoned = exporter.get_finished_spans()[-1]
    assert abandoned.attributes is not None and abandoned.attributes["pysoa.abandoned"] is True


def test_under_an_asyncclient_each_call_ends_its_own_span_with_its_send_error_timeout_or_reply(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The coroutine hooks end a span when the transport's send fails, when its own wait times out (the other
    waiting calls' spans stay open), or when its reply comes."""
    middleware = TracingClientMiddleware("svc", tracer_provider=provider)
    replies = {3: JobResponse(actions=[ActionResponse(action="a")])}

    async def transport_send(request_id: int, meta: Any, job: Any, expiry: float | None) -> None:
        await asyncio.sleep(0)
        if request_id == 1:
            raise MessageSendError("refused by Redis")

    async def transport_receive(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
        await asyncio.sleep(0)
        if request_id not in replies:
            raise MessageReceiveTimeout("nothing came")
        return request_id, replies[request_id]

    send = middleware.async_request(transport_send)
    receive = middleware.async_response(transport_receive)

    async def calls() -> None:
        with pytest.raises(MessageSendError):
            await send(1, {}, _job(), 30)
        await send(2, {}, _job(), 30)
        await send(3, {}, _job(), 30)
        with pytest.raises(MessageReceiveTimeout):
            await receive(2, 1)
        assert len(exporter.get_finished_spans()) == 2  # call 3 still waits
        assert (await receive(3, 1))[1] is replies[3]

    asyncio.run(calls())
    ended = {span.attributes["pysoa.request_id"]: span for span in exporter.get_finished_spans() if span.attributes}
    assert ended[1].attributes is not None and ended[1].attributes["error.type"] == "MessageSendError"
    assert ended[2].attributes is not None and ended[2].attributes["error.type"] == "MessageReceiveTimeout"
    assert ended[3].status.status_code.name == "UNSET"


class EchoContext(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"keys": sorted(request.context)}


class TracedServer(Server):
    service_name = "traced"
    action_class_map = {"echo": EchoContext}


def _local(server_settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "transport": {
            "path": "pysoa_like.common.transport.local:LocalClientTransport",
            "kwargs": {"server_class": TracedServer, "server_settings": server_settings},
        }
    }


def test_job_and_action_spans_continue_the_callers_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """client -> SERVER job span -> INTERNAL action span, one trace, RPC attributes on each."""
    server_settings = instrument_server_settings({}, "traced")
    server_settings["middleware"][0]["kwargs"]["tracer_provider"] = provider
    config = instrument_client_settings({"traced": _local(server_settings)})
    config["traced"]["middleware"][0]["kwargs"]["tracer_provider"] = provider
    assert "traceparent" in Client(config).call_action("traced", "echo").body["keys"]
    action, job, call = exporter.get_finished_spans()
    assert [(s.kind.name, s.name) for s in (call, job, action)] == [
        ("CLIENT", "traced/echo"),
        ("SERVER", "traced/echo"),
        ("INTERNAL", "traced/echo"),
    ]
    assert job.parent is not None and job.parent.span_id == call.context.span_id
    assert action.parent is not None and action.parent.span_id == job.context.span_id
    assert {s.context.trace_id for s in (call, job, action)} == {call.context.trace_id}
    assert dict(action.attributes or {}) == {"rpc.system": "pysoa", "rpc.service": "traced", "rpc.method": "echo"}


def test_without_the_middleware_nothing_is_added_to_the_context() -> None:
    """Tracing off (no middleware): the job's context carries no trace keys."""
    assert Client({"traced": _local({})}).call_action("traced", "echo").body["keys"] == ["correlation_id", "switches"]


def test_instrumenting_settings_sees_the_middleware_given_as_a_class() -> None:
    """A tracing middleware already given as ``{"object": cls}`` is recognised: no second one is added (it was, as
    the check looked at ``path`` only)."""
    given = [{"object": TracingServerMiddleware, "kwargs": {"service_name": "s"}}]
    assert instrument_server_settings({"middleware": given})["middleware"] == given
    client_given = [{"object": TracingClientMiddleware, "kwargs": {"service_name": "a"}}]
    assert instrument_client_settings({"a": {"middleware": client_given}})["a"]["middleware"] == client_given


def test_instrumenting_settings_sees_the_middleware_given_by_its_dotted_path() -> None:
    """A tracing middleware already given as ``pysoa_like.otel.TracingServerMiddleware`` (the dotted form of
    ``pysoa_like.otel:TracingServerMiddleware``, which settings accept too) is recognised: no second one is added."""
    given = [{"path": SERVER_MIDDLEWARE.replace(":", "."), "kwargs": {"service_name": "s"}}]
    assert instrument_server_settings({"middleware": given})["middleware"] == given
    client_given = [{"path": CLIENT_MIDDLEWARE.replace(":", "."), "kwargs": {"service_name": "a"}}]
    assert instrument_client_settings({"a": {"middleware": client_given}})["a"]["middleware"] == client_given


def test_instrumenting_settings_adds_the_middleware_once_and_copies() -> None:
    """The helpers put the tracing middleware first, once, with service names, and leave the input alone."""
    client_config = {"a": {"middleware": [{"path": "x:Y"}]}}
    traced = instrument_client_settings(client_config)
    assert traced["a"]["middleware"] == [{"path": CLIENT_MIDDLEWARE, "kwargs": {"service_name": "a"}}, {"path": "x:Y"}]
    assert instrument_client_settings(traced) == traced
    assert client_config == {"a": {"middleware": [{"path": "x:Y"}]}}
    server = instrument_server_settings({"client_routing": {"b": {}}})
    assert server["middleware"] == [{"path": SERVER_MIDDLEWARE, "kwargs": {}}]
    assert server["client_routing"]["b"]["middleware"][0]["kwargs"] == {"service_name": "b"}
