"""Three services for the tracing tests, each run by ``pysoa-like serve``: front calls middle, which calls back.

front and back run one job at a time and call on with ``request.client``; middle is a concurrent server
(``concurrency`` 4) whose coroutine action calls back with ``request.async_client``. ``TRACE_SERVICE``
(front, middle or back) picks the settings; ``FUNCTIONAL_REDIS_URL`` the Redis. Each
worker traces into the OpenTelemetry SDK's in-memory exporter and writes the finished spans to
``$TRACE_DIR/<service>-<pid>.json`` when it stops.
"""

from __future__ import annotations

import json
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pysoa_like.common.errors import Error
from pysoa_like.otel import instrument_server_settings
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_URL = os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")
_EXPORTER = InMemorySpanExporter()
_NEXT = {"front": "middle", "middle": "back"}


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """What the tests check of a finished span, as JSON-friendly data."""
    context = span.context
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "status": span.status.status_code.name,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()},
    }


class HopAction(Action):
    """Calls the next service (passing the body on), or at the end refuses when asked to."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        service = _SERVICE
        if service in _NEXT:
            assert request.client is not None
            answer = request.client.call_action(_NEXT[service], _NEXT[service], request.body)
            return {"path": [service, *answer.body["path"]]}
        if request.body.get("fail"):
            raise ActionError([Error(code="BACK_REFUSED", message="The back service refused")])
        return {"path": [service]}


class AsyncHopAction(Action):
    """:class:`HopAction` as a coroutine, calling on through the job's AsyncClient."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        answer = await request.async_client.call_action(_NEXT[_SERVICE], _NEXT[_SERVICE], request.body)
        return {"path": [_SERVICE, *answer.body["path"]]}


class _TracedServer(Server):
    def setup(self) -> None:
        super().setup()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)

    def teardown(self) -> None:
        super().teardown()
        path = os.path.join(os.environ["TRACE_DIR"], f"{self.service_name}-{os.getpid()}.json")
        with open(path, "w") as stream:
            json.dump([span_record(span) for span in _EXPORTER.get_finished_spans()], stream)


class FrontServer(_TracedServer):
    service_name = "front"
    action_class_map = {"front": HopAction}


class MiddleServer(_TracedServer):
    service_name = "middle"
    action_class_map = {"middle": AsyncHopAction}


class BackServer(_TracedServer):
    service_name = "back"
    action_class_map = {"back": HopAction}


def _transport(side: str) -> dict[str, Any]:
    module = "client:RedisClientTransport" if side == "client" else "server:RedisServerTransport"
    kwargs: dict[str, Any] = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_URL]}}
    if side == "server":
        kwargs["receive_timeout_in_seconds"] = 1
    return {"path": f"pysoa_like.common.transport.redis_gateway.{module}", "kwargs": kwargs}


_SERVICE = os.environ.get("TRACE_SERVICE", "front")
_ROUTING = {_NEXT[_SERVICE]: {"transport": _transport("client")}} if _SERVICE in _NEXT else {}
# No service_name: the spans take the name the runner gives the service.
SOA_SERVER_SETTINGS = instrument_server_settings(
    {
        "transport": _transport("server"),
        "client_routing": _ROUTING,
        "logging": {
            "version": 1,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"level": "WARNING", "handlers": ["console"]},
            # How the worker runs its jobs (on the event loop, or each in a thread) is logged at INFO.
            "loggers": {"pysoa_like.server": {"level": "INFO", "propagate": False, "handlers": ["console"]}},
            "disable_existing_loggers": False,
        },
        "concurrency": 4 if _SERVICE == "middle" else 1,
    }
)
