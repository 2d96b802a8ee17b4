"""The Prometheus recorder: the library's metrics as Prometheus series, on both sides of a call."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.prometheus import PrometheusMetricsRecorder
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

RECORDER = "pysoa_like.prometheus:PrometheusMetricsRecorder"


class EchoAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("refuse"):
            raise ActionError([Error(code="REFUSED", message="no")])
        return dict(request.body)


class MeteredServer(Server):
    service_name = "metered"
    action_class_map = {"echo": EchoAction}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value (0 when absent)."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _client(registry: CollectorRegistry) -> Client:
    metrics = {"path": RECORDER, "kwargs": {"registry": registry}}
    server_settings = {"metrics": {"path": RECORDER, "kwargs": {"registry": registry, "service_name": "metered"}}}
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": MeteredServer, "server_settings": server_settings},
    }
    return Client({"metered": {"transport": transport, "metrics": metrics}})


def test_server_and_client_latency_and_errors_per_action(registry: CollectorRegistry) -> None:
    """Each call is one observation per side, labelled by service and action; errors count by code."""
    client = _client(registry)
    for _ in range(3):
        client.call_action("metered", "echo", {"n": 1})
    with pytest.raises(CallActionError):
        client.call_action("metered", "echo", {"refuse": True})
    with pytest.raises(CallActionError):
        client.call_action("metered", "nope", {})
    labels = {"service": "metered", "action": "echo"}
    assert value(registry, "pysoa_server_action_duration_seconds_count", **labels) == 4
    assert value(registry, "pysoa_client_call_duration_seconds_count", **labels) == 4
    assert value(registry, "pysoa_client_call_duration_seconds_sum", **labels) > 0
    assert value(registry, "pysoa_server_job_duration_seconds_count", service="metered") == 5
    assert value(registry, "pysoa_server_action_errors_total", code="REFUSED", **labels) == 1
    assert value(registry, "pysoa_client_call_errors_total", code="REFUSED", **labels) == 1
    assert value(registry, "pysoa_client_call_errors_total", service="metered", action="nope", code="UNKNOWN") == 1
    # Nothing is in flight once the calls returned.
    assert value(registry, "pysoa_client_calls_in_flight", service="metered") == 0
    assert value(registry, "pysoa_server_jobs_in_flight", service="metered") == 0


def test_a_timed_out_call_counts_as_an_error_and_leaves_no_call_in_flight(registry: CollectorRegistry) -> None:
    """A client call whose reply never comes is observed with its transport error as the code."""
    recorder = PrometheusMetricsRecorder(registry=registry)
    timer = recorder.timer("client.call", service="s", action="a")
    timer.start()
    assert value(registry, "pysoa_client_calls_in_flight", service="s") == 1
    timer.stop()
    recorder.counter("client.call.error", service="s", action="a", code=MessageReceiveTimeout.__name__).increment()
    assert value(registry, "pysoa_client_calls_in_flight", service="s") == 0
    assert value(registry, "pysoa_client_call_errors_total", service="s", action="a", code="MessageReceiveTimeout") == 1


def test_worker_gauges_busy_seconds_harakiri_and_server_errors(registry: CollectorRegistry) -> None:
    """Busy transitions give in-flight jobs and busy seconds; PySOA's error counters keep their kind."""
    recorder = PrometheusMetricsRecorder(service_name="w", registry=registry)
    recorder.gauge("server.worker.running").set(1)
    recorder.gauge("server.worker.busy").set(1)
    assert value(registry, "pysoa_server_jobs_in_flight", service="w") == 1
    time.sleep(0.02)
    recorder.gauge("server.worker.busy").set(0)
    with recorder.timer("server.idle_time"):
        time.sleep(0.01)
    recorder.counter("server.error.harakiri", harakiri_level="action").increment()
    recorder.counter("server.error.invalid_message").increment()
    recorder.counter("server.worker.startup").increment()
    assert value(registry, "pysoa_server_workers", service="w") == 1
    assert value(registry, "pysoa_server_jobs_in_flight", service="w") == 0
    assert value(registry, "pysoa_server_worker_busy_seconds_total", service="w") >= 0.02
    assert value(registry, "pysoa_server_worker_idle_seconds_total", service="w") >= 0.01
    assert value(registry, "pysoa_server_harakiri_total", service="w", level="action") == 1
    assert value(registry, "pysoa_server_errors_total", service="w", kind="invalid_message") == 1
    assert value(registry, "pysoa_server_worker_starts_total", service="w") == 1


def test_a_concurrent_workers_busy_time_spans_its_jobs_however_many_at_once(registry: CollectorRegistry) -> None:
    """Busy counts from the first job in flight to the last one's end (1, 2, 1, 0), not from the last change."""
    recorder = PrometheusMetricsRecorder(service_name="c", registry=registry)
    recorder.gauge("server.worker.slots").set(4)
    busy = recorder.gauge("server.worker.busy")
    started = time.perf_counter()
    busy.set(1)
    time.sleep(0.05)
    busy.set(2)
    assert value(registry, "pysoa_server_jobs_in_flight", service="c") == 2
    busy.set(1)
    busy.set(0)
    assert value(registry, "pysoa_server_worker_busy_seconds_total", service="c") >= 0.05
    assert value(registry, "pysoa_server_worker_busy_seconds_total", service="c") <= time.perf_counter() - started
    assert value(registry, "pysoa_server_job_slots", service="c") == 4


def test_internal_metrics_are_skipped_unless_asked_and_custom_ones_are_generic(registry: CollectorRegistry) -> None:
    """Transport timers are left out by default; any other name becomes pysoa_<name> with its tags as labels."""
    recorder = PrometheusMetricsRecorder(service_name="x", registry=registry)
    with recorder.timer("client.transport.redis_gateway.send"):
        pass
    recorder.counter("orders.created", region="eu").increment(2)
    recorder.counter("orders.created").increment()
    recorder.gauge("cache.size").set(12)
    recorder.histogram("payload.bytes", kind="req").set(300)
    assert (
        registry.get_sample_value("pysoa_client_transport_redis_gateway_send_seconds_count", {"service": "x"}) is None
    )
    assert value(registry, "pysoa_orders_created_total", service="x", region="eu") == 2
    assert value(registry, "pysoa_orders_created_total", service="x", region="") == 1
    assert value(registry, "pysoa_cache_size", service="x") == 12
    assert value(registry, "pysoa_payload_bytes_sum", service="x", kind="req") == 300
    everything = PrometheusMetricsRecorder(service_name="x", registry=registry, record_all=True)
    with everything.timer("client.transport.redis_gateway.send"):
        pass
    assert value(registry, "pysoa_client_transport_redis_gateway_send_seconds_count", service="x") == 1


def test_serve_metrics_flag_gives_servers_without_a_recorder_the_prometheus_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """PYSOA_LIKE_METRICS=prometheus sets the recorder (with the service name) only where none is chosen."""
    from pysoa_like.server._overrides import METRICS_ENV, PROMETHEUS_RECORDER, apply_metrics

    assert apply_metrics({}, "orders") == {}
    monkeypatch.setenv(METRICS_ENV, "prometheus")
    assert apply_metrics({}, "orders")["metrics"] == {"path": PROMETHEUS_RECORDER, "kwargs": {"service_name": "orders"}}
    chosen = {"metrics": {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"}}
    assert apply_metrics(chosen, "orders") is chosen
    assert "the metrics endpoint shows its series only if it is" in caplog.text


def test_serve_metrics_flag_knows_the_prometheus_recorder_given_as_a_class(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Prometheus recorder given as ``{"object": cls}`` is kept without the warning meant for another recorder
    (the check looked at ``path`` only)."""
    from pysoa_like.prometheus import PrometheusMetricsRecorder
    from pysoa_like.server._overrides import METRICS_ENV, apply_metrics

    monkeypatch.setenv(METRICS_ENV, "prometheus")
    chosen = {"metrics": {"object": PrometheusMetricsRecorder, "kwargs": {"service_name": "orders"}}}
    with caplog.at_level(logging.WARNING):
        assert apply_metrics(chosen, "orders") is chosen
    assert "the metrics endpoint shows its series only if it is" not in caplog.text


def test_serve_metrics_flag_knows_the_prometheus_recorder_given_by_its_dotted_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Prometheus recorder given as ``pysoa_like.prometheus.PrometheusMetricsRecorder`` (the dotted form of its
    path, which settings accept too) is kept without the warning meant for another recorder."""
    from pysoa_like.server._overrides import METRICS_ENV, PROMETHEUS_RECORDER, apply_metrics

    monkeypatch.setenv(METRICS_ENV, "prometheus")
    chosen = {"metrics": {"path": PROMETHEUS_RECORDER.replace(":", "."), "kwargs": {"service_name": "orders"}}}
    with caplog.at_level(logging.WARNING):
        assert apply_metrics(chosen, "orders") is chosen
    assert "the metrics endpoint shows its series only if it is" not in caplog.text
