"""A trace crosses a PySOA 1.4.9 service that does not trace: its nested call carries the trace context on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pysoa_like.client.client import Client
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.redis import RedisServerProcess
from tests.interop._harness import ServerProcess, client_transport_kwargs, server_transport_kwargs
from tests.interop._pysoa_venv import PySOAVenv


class ContextAction(Action):
    """Returns the trace context keys the request's context carries."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"traceparent": request.context.get("traceparent")}


class TracedBackServer(Server):
    service_name = "traced_back"
    action_class_map = {"context": ContextAction}


@pytest.fixture
def redis_hosts() -> Iterator[list[tuple[str, int]]]:
    with RedisServerProcess() as server:
        yield [server.address]


def test_a_trace_passes_through_a_pysoa_hop_untouched(
    pysoa_venv: PySOAVenv, redis_hosts: list[tuple[str, int]]
) -> None:
    """Traced client -> PySOA 1.4.9 'hop' -> traced 'traced_back': back's server span is the client span's child."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Given: a traced pysoa_like service, served in a thread of this process.
    back_transport = server_transport_kwargs(redis_hosts, "msgpack")
    back_transport.pop("default_serializer_config")
    back = TracedBackServer(
        {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
                "kwargs": back_transport,
            },
            "middleware": [
                {
                    "path": "pysoa_like.otel:TracingServerMiddleware",
                    "kwargs": {"service_name": "traced_back", "tracer_provider": provider},
                }
            ],
        }
    )
    thread = threading.Thread(target=back.run, daemon=True)
    thread.start()
    # And: a PySOA 1.4.9 service that forwards to it with its own client.
    hop = ServerProcess(
        "pysoa",
        pysoa_venv.python,
        "hop",
        server_transport_kwargs(redis_hosts, "msgpack"),
        client_routing={"traced_back": client_transport_kwargs(redis_hosts, "msgpack", 3)},
    )
    try:
        hop.wait_ready()
        transport = {
            "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
            "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": redis_hosts}},
        }
        client = Client(
            {
                "hop": {
                    "transport": transport,
                    "middleware": [
                        {"path": "pysoa_like.otel:TracingClientMiddleware",
                         "kwargs": {"service_name": "hop", "tracer_provider": provider}}
                    ],
                }
            }
        )  # fmt: skip
        # When: the traced client calls the PySOA hop, which calls the traced service.
        body = {"service": "traced_back", "action": "context", "body": {}}
        forwarded = client.call_action("hop", "forward", body, timeout=20).body["forwarded"]
    finally:
        hop.stop()
        back.shutting_down = True
        thread.join(10)
    # Then: one trace; the back service's server span is a child of the client's span.
    spans = {span.name: span for span in exporter.get_finished_spans()}
    client_span, server_span = spans["hop/forward"], spans["traced_back/context"]
    assert client_span.kind.name == "CLIENT"
    assert server_span.kind.name == "SERVER"
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.parent is not None and server_span.parent.span_id == client_span.context.span_id
    # The header arrived exactly as the client sent it.
    assert forwarded["traceparent"] == (
        f"00-{client_span.context.trace_id:032x}-{client_span.context.span_id:016x}-"
        f"{int(client_span.context.trace_flags):02x}"
    )
