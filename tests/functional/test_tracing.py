"""OpenTelemetry across three real services (``serve`` processes): front -> middle -> back, one trace per call.

front runs two workers handling one job at a time; middle is a concurrent server whose coroutine action calls
back through ``request.async_client``; the first caller is a ``Client`` or an ``AsyncClient``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.otel import instrument_client_settings
from tests.functional.conftest import CLIENT_TRANSPORT, REPO_ROOT, kill_groups, wait_for
from tests.functional.traced_services import span_record

SERVICES = {"front": "FrontServer", "middle": "MiddleServer", "back": "BackServer"}


Traced = tuple[dict[str, Any], InMemorySpanExporter, Path, list[Any]]


@pytest.fixture
def traced(redis_url: str, tmp_path: Path) -> Iterator[Traced]:
    """The three services running (front with two workers, middle concurrent), and a traced client configuration."""
    trace_dir = tmp_path / "spans"
    trace_dir.mkdir()
    processes = []
    for service, server_class in SERVICES.items():
        env = dict(os.environ, FUNCTIONAL_REDIS_URL=redis_url, TRACE_SERVICE=service, TRACE_DIR=str(trace_dir))
        env["PYTHONPATH"] = str(REPO_ROOT)
        command = [sys.executable, "-m", "pysoa_like", "serve", f"tests.functional.traced_services:{server_class}"]
        command += ["--settings", "tests.functional.traced_services", "--fork", "2" if service == "front" else "0"]
        log = open(tmp_path / f"{service}.log", "wb")  # noqa: SIM115  # closed below
        processes.append(
            (subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True), log)
        )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    transport = {
        "path": CLIENT_TRANSPORT,
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}},
    }
    config = instrument_client_settings({"front": {"transport": transport}, "nobody": {"transport": transport}})
    for service in config:
        config[service]["middleware"][0]["kwargs"]["tracer_provider"] = provider
    try:
        wait_for(
            lambda: _answers(Client({"back": {"transport": transport}}), "back") and _answers(Client(config), "front"),
            timeout=30,
        )
        exporter.clear()
        yield config, exporter, trace_dir, processes
    finally:
        kill_groups([process for process, _ in processes])
        for _, log in processes:
            log.close()


def _call(config: dict[str, Any], kind: str, service: str, body: dict[str, Any], **options: Any) -> Any:
    """Call ``service``'s action of the same name with a ``Client`` (``sync``) or an ``AsyncClient`` (``async``)."""
    if kind == "sync":
        return Client(config).call_action(service, service, body, **options)

    async def call() -> Any:
        async with AsyncClient(config) as client:
            return await client.call_action(service, service, body, **options)

    return asyncio.run(call())


def _answers(client: Client, service: str) -> bool:
    try:
        client.call_action(service, service, {}, timeout=1)
        return True
    except Exception:
        return False


def _stop_and_collect(processes: list[Any], trace_dir: Path) -> list[dict[str, Any]]:
    """Stop the services (SIGTERM: each worker writes its spans) and read every span they made."""
    for process, _ in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process, _ in processes:
        assert process.wait(20) == 0
    return [span for path in trace_dir.glob("*.json") for span in json.loads(path.read_text())]


def _trace(spans: list[dict[str, Any]], trace_id: str) -> dict[str, dict[str, Any]]:
    return {span["span_id"]: span for span in spans if span["trace_id"] == trace_id}


def _chain(spans: dict[str, dict[str, Any]], leaf: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) from the root of the trace down to ``leaf``."""
    chain = []
    current: dict[str, Any] | None = leaf
    while current is not None:
        chain.append((current["kind"], current["name"]))
        current = spans.get(current["parent_id"]) if current["parent_id"] else None
    return chain[::-1]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_one_trace_across_three_services_with_parent_links(traced: Traced, kind: str) -> None:
    """A call to front makes one trace: client -> front job -> front action -> client -> middle ... -> back action."""
    config, exporter, trace_dir, processes = traced
    assert _call(config, kind, "front", {}).body == {"path": ["front", "middle", "back"]}
    (client_span,) = [span_record(s) for s in exporter.get_finished_spans()]
    spans = _trace([*_stop_and_collect(processes, trace_dir), client_span], client_span["trace_id"])
    assert len(spans) == 9
    (leaf,) = [s for s in spans.values() if s["name"] == "back/back" and s["kind"] == "INTERNAL"]
    assert _chain(spans, leaf) == [
        ("CLIENT", "front/front"),
        ("SERVER", "front/front"),
        ("INTERNAL", "front/front"),
        ("CLIENT", "middle/middle"),
        ("SERVER", "middle/middle"),
        ("INTERNAL", "middle/middle"),
        ("CLIENT", "back/back"),
        ("SERVER", "back/back"),
        ("INTERNAL", "back/back"),
    ]
    for span in spans.values():
        service, method = span["name"].split("/")
        assert span["attributes"]["rpc.system"] == "pysoa"
        assert (span["attributes"]["rpc.service"], span["attributes"]["rpc.method"]) == (service, method)
        assert span["status"] == "UNSET"
    assert client_span["parent_id"] is None
    # The tracing middleware has coroutine hooks: the concurrent server runs its jobs on the event loop.
    middle_log = (trace_dir.parent / "middle.log").read_text()
    assert "Serving up to 4 jobs at once" in middle_log
    assert "Jobs run in the thread pool" not in middle_log


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_errors_are_recorded_on_every_span_on_the_way(traced: Traced, kind: str) -> None:
    """back refuses: its action span has the error code; each caller's spans are ERROR with what it saw."""
    config, exporter, trace_dir, processes = traced
    with pytest.raises(CallActionError):
        _call(config, kind, "front", {"fail": True})
    (client_span,) = [span_record(s) for s in exporter.get_finished_spans()]
    spans = _trace([*_stop_and_collect(processes, trace_dir), client_span], client_span["trace_id"])
    assert len(spans) == 9
    by_kind_name = {(s["kind"], s["name"]): s for s in spans.values()}
    error_types = {key: (s["status"], s["attributes"].get("error.type")) for key, s in by_kind_name.items()}
    assert error_types == {
        ("INTERNAL", "back/back"): ("ERROR", "BACK_REFUSED"),
        ("SERVER", "back/back"): ("ERROR", "BACK_REFUSED"),
        ("CLIENT", "back/back"): ("ERROR", "BACK_REFUSED"),
        ("INTERNAL", "middle/middle"): ("ERROR", "CallActionError"),
        ("SERVER", "middle/middle"): ("ERROR", "SERVER_ERROR"),
        ("CLIENT", "middle/middle"): ("ERROR", "SERVER_ERROR"),
        ("INTERNAL", "front/front"): ("ERROR", "CallActionError"),
        ("SERVER", "front/front"): ("ERROR", "SERVER_ERROR"),
        ("CLIENT", "front/front"): ("ERROR", "SERVER_ERROR"),
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_call_that_gets_no_reply_ends_its_span_with_the_timeout(traced: Traced, kind: str) -> None:
    """A call to a service with no worker ends its CLIENT span as ERROR when its wait ends (AsyncClient too)."""
    config, exporter, _trace_dir, _processes = traced
    with pytest.raises(MessageReceiveTimeout):
        _call(config, kind, "nobody", {}, timeout=0.3)
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.kind.name, span.status.status_code.name) == ("nobody/nobody", "CLIENT", "ERROR")
    assert span.attributes is not None
    assert span.attributes["error.type"] == "MessageReceiveTimeout"
