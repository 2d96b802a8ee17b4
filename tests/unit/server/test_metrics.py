"""The counting metrics recorder, fork-id substitution and the server's worker metrics."""

from __future__ import annotations

from typing import Any

from pysoa_like.common.metrics import SERVER_METRIC_NAMES, CountingMetricsRecorder, substitute_fork_id
from pysoa_like.common.types import ActionResponse
from tests.unit.server._helpers import job, make_server

_COUNTING = "pysoa_like.common.metrics:CountingMetricsRecorder"
_METRICS = {"path": _COUNTING}


def test_counting_recorder_counts_and_keeps_values() -> None:
    """Counters sum increments, gauges keep each value, timers record microseconds."""
    recorder = CountingMetricsRecorder()
    recorder.counter("a").increment()
    recorder.counter("a").increment(2)
    recorder.gauge("g").set(1)
    recorder.gauge("g").set(0)
    with recorder.timer("t"):
        pass
    assert recorder.get_count("a") == 3
    assert recorder.get_values("gauge", "g") == [1, 0]
    assert len(recorder.get_values("timer", "t")) == 1
    assert recorder.names("counter") == {"a"}
    recorder.clear()
    assert recorder.get_count("a") == 0


def test_fork_id_is_substituted_in_version_1_publishers() -> None:
    """Every marker in a version 1 publisher dict becomes the fork id; the input is untouched."""
    kwargs = {"config": {"version": 1, "publishers": [{"path": "x", "prefix": "svc.{{fid}}.[[fid]].%%fid%%"}]}}
    result = substitute_fork_id(kwargs, 4)
    assert result["config"]["publishers"] == [{"path": "x", "prefix": "svc.4.4.4"}]
    assert kwargs["config"]["publishers"][0]["prefix"] == "svc.{{fid}}.[[fid]].%%fid%%"


def test_fork_id_is_substituted_in_version_2_publisher_kwargs_with_main_when_unforked() -> None:
    """Version 2 configs have their publishers' kwargs rewritten; no fork id gives 'main'."""
    kwargs = {"config": {"version": 2, "publishers": [{"path": "{{fid}}", "kwargs": {"name": "w-{{fid}}"}}]}}
    result = substitute_fork_id(kwargs, None)
    assert result["config"]["publishers"] == [{"path": "{{fid}}", "kwargs": {"name": "w-main"}}]


def test_server_builds_its_recorder_with_the_substituted_config() -> None:
    """The server passes its fork id into the metrics publisher configuration."""
    config: dict[str, Any] = {"version": 1, "publishers": [{"prefix": "p{{fid}}"}]}
    server = make_server(metrics={"path": _COUNTING, "kwargs": {"config": config}})
    assert server.metrics.config["publishers"] == [{"prefix": "pmain"}]


def test_run_records_the_worker_metrics() -> None:
    """run() records startup/shutdown, running and busy gauges, the idle timer and publishes."""
    server = make_server({"echo": lambda settings: lambda request: ActionResponse(action="echo")}, metrics=_METRICS)
    server.transport.add_request(job("echo"))

    def idle() -> None:
        server.shutting_down = True

    server.perform_idle_actions = idle
    server.run()
    recorder = server.metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    assert recorder.get_count("server.worker.startup") == 1 == recorder.get_count("server.worker.shutdown")
    assert recorder.get_values("gauge", "server.worker.running") == [1, 0]
    assert recorder.get_values("gauge", "server.worker.slots") == [1, 0]
    assert recorder.get_values("gauge", "server.worker.busy") == [0, 1, 0]
    assert len(recorder.get_values("timer", "server.idle_time")) == 2
    assert recorder.publish_count >= 3
    used = recorder.names("counter") | recorder.names("gauge") | recorder.names("timer")
    assert used <= SERVER_METRIC_NAMES
