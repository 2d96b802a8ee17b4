"""``pysoa-like serve --fork 2 --metrics-port``: the metrics of every worker, scraped from the real endpoint."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.test.redis import RedisServerProcess, pick_free_port
from tests.functional.conftest import (
    CLIENT_TRANSPORT,
    SERVICE,
    Runner,
    kill_runners,
    spawn_runner,
    wait_for,
    who,
)
from tests.integration._latency_proxy import LatencyProxy

CONCURRENT = "concurrent"


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_scraping_serve_fork_2_after_calls(start_runner: Callable[..., Runner], client: Client, tmp_path: Path) -> None:
    """Latency per action summed over both workers, errors by code, workers, in-flight jobs, queue depth."""
    port = pick_free_port()
    # A temporary folder of its own: other test runs on the machine make and remove metrics folders in /tmp.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    runner = start_runner(
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1", fork=2, env={"TMPDIR": str(private_tmp)}
    )
    assert len(list(private_tmp.glob("pysoa-like-metrics-*"))) == 1
    assert f"Serving metrics on http://127.0.0.1:{port}/metrics" in runner.log()
    wait_for(lambda: {who(client)["pid"] for _ in range(8)}.__len__() == 2, timeout=15)
    for n in range(6):
        client.call_action(SERVICE, "echo", {"n": n})
    with pytest.raises(CallActionError):
        client.call_action(SERVICE, "fail", {})
    echo = {"service": SERVICE, "action": "echo"}
    samples = wait_for(
        lambda: (s := scrape(port)) and sample(s, "pysoa_server_action_duration_seconds_count", **echo) == 6 and s
    )
    assert sample(samples, "pysoa_server_action_duration_seconds_bucket", le="+Inf", **echo) == 6
    assert sample(samples, "pysoa_server_action_errors_total", service=SERVICE, action="fail", code="SERVER_ERROR") == 1
    assert sample(samples, "pysoa_server_workers", service=SERVICE) == 2
    assert sample(samples, "pysoa_server_workers_ready", service=SERVICE) == 2
    # A worker marks itself idle just after it replied.
    wait_for(lambda: sample(scrape(port), "pysoa_server_jobs_in_flight", service=SERVICE) == 0)
    assert sample(samples, "pysoa_server_worker_busy_seconds_total", service=SERVICE) > 0
    assert sample(samples, "pysoa_server_queue_depth", service=SERVICE) == 0

    # While both workers sleep and two more jobs wait, the gauges say so.
    for _ in range(4):
        client.call_action(SERVICE, "sleep", {"seconds": 1.5}, suppress_response=True)
    busy = wait_for(
        lambda: (s := scrape(port)) and sample(s, "pysoa_server_jobs_in_flight", service=SERVICE) == 2 and s
    )
    assert sample(busy, "pysoa_server_queue_depth", service=SERVICE) == 2
    # A clean stop removes the private multiprocess directory.
    assert runner.terminate() == 0
    assert list(private_tmp.glob("pysoa-like-metrics-*")) == []


def test_harakiri_and_respawn_are_counted_and_a_dead_workers_counts_are_kept(
    start_runner: Callable[..., Runner], client: Client
) -> None:
    """A worker killed by harakiri is respawned: both are counted, and what it served still counts."""
    port = pick_free_port()
    # Harakiri after 2 s (an idle worker's receive cycle takes about 1 s).
    env = {"FUNCTIONAL_HARAKIRI_TIMEOUT": "2", "FUNCTIONAL_HARAKIRI_GRACE": "1"}
    runner = start_runner("--metrics-port", str(port), "--metrics-host", "127.0.0.1", fork=2, env=env)
    for _ in range(4):
        client.call_action(SERVICE, "echo", {})
    with pytest.raises(CallActionError):
        client.call_action(SERVICE, "sleep", {"seconds": 4}, timeout=10)
    runner.wait_for_log("respawned as pid", timeout=20)
    samples = wait_for(
        lambda: (s := scrape(port)) and sample(s, "pysoa_server_worker_respawns_total", service=SERVICE) == 1 and s
    )
    assert sample(samples, "pysoa_server_harakiri_total", service=SERVICE, level="action") == 1
    assert sample(samples, "pysoa_server_action_duration_seconds_count", service=SERVICE, action="echo") == 4
    assert (
        sample(samples, "pysoa_server_action_errors_total", service=SERVICE, action="sleep", code="ACTION_TIMEOUT") == 1
    )
    wait_for(lambda: sample(scrape(port), "pysoa_server_workers", service=SERVICE) == 2, timeout=20)
    runner.terminate()


def test_metrics_textfile_for_the_node_exporter(
    start_runner: Callable[..., Runner], client: Client, tmp_path: Path
) -> None:
    """--metrics-textfile rewrites a Prometheus text file every --metrics-interval seconds."""
    path = tmp_path / "functional.prom"
    runner = start_runner("--metrics-textfile", str(path), "--metrics-interval", "0.2", fork=2)
    client.call_action(SERVICE, "echo", {})
    line = 'pysoa_server_action_duration_seconds_count{action="echo",service="functional"} 1.0'
    wait_for(lambda: path.exists() and line in path.read_text(), timeout=15)
    assert not list(tmp_path.glob("*.prom.*"))  # written atomically: no temporary file left
    assert runner.terminate() == 0


def test_metrics_port_in_use_is_a_usage_error(start_runner: Callable[..., Runner]) -> None:
    """A port that cannot be listened on: exit 2 and one line saying so."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = start_runner("--metrics-port", str(port), "--metrics-host", "127.0.0.1", fork=2, wait_ready=False)
        assert runner.process.wait(30) == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in runner.log()
    assert "Traceback" not in runner.log()


def test_scraping_concurrent_workers_in_flight_slots_and_busy_time(redis_url: str, tmp_path: Path) -> None:
    """``serve --fork 2`` of a concurrent service (``concurrency`` 4): jobs in flight, job slots, busy and idle time."""
    port = pick_free_port()
    command = [sys.executable, "-m", "pysoa_like", "serve", "tests.functional.concurrent_service:ConcurrentServer"]
    command += ["--settings", "tests.functional.concurrent_service", "--fork", "2"]
    command += ["--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    env = {"FUNCTIONAL_REDIS_URL": redis_url, "CONCURRENCY": "4", "TMPDIR": str(private_tmp)}
    runner = spawn_runner(command, env, tmp_path / "concurrent.log")
    try:
        kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
        client = Client({CONCURRENT: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})
        wait_for(lambda: _naps(client), timeout=20)
        labels = {"service": CONCURRENT}
        wait_for(lambda: sample(scrape(port), "pysoa_server_workers", **labels) == 2, timeout=15)
        assert sample(scrape(port), "pysoa_server_job_slots", **labels) == 8

        # Given six jobs of 1.5 s on two workers of four places each (so both workers have some)
        for _ in range(6):
            client.call_action(CONCURRENT, "nap", {"seconds": 1.5}, suppress_response=True)
        # When all six run, the gauge counts them, and no worker is idle until they end
        during = wait_for(lambda: (s := scrape(port)) and sample(s, "pysoa_server_jobs_in_flight", **labels) == 6 and s)
        after = wait_for(lambda: (s := scrape(port)) and sample(s, "pysoa_server_jobs_in_flight", **labels) == 0 and s)
        idle = "pysoa_server_worker_idle_seconds_total"
        assert sample(after, idle, **labels) - sample(during, idle, **labels) < 0.1
        # Then each worker was busy for the 1.5 s its jobs ran (however many it had at once)
        assert sample(after, "pysoa_server_worker_busy_seconds_total", **labels) >= 2.8
        assert sample(after, "pysoa_server_job_duration_seconds_count", **labels) >= 6
        assert runner.terminate() == 0
    finally:
        kill_runners([runner])


def _naps(client: Client) -> bool:
    try:
        client.call_action(CONCURRENT, "nap", {"seconds": 0}, timeout=1)
        return True
    except Exception:
        return False


def test_sigterm_while_the_first_textfile_is_written_stops_cleanly_without_a_temporary_file(
    start_runner: Callable[..., Runner], redis_server: RedisServerProcess, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM while ``serve`` writes its first textfile (reading the queue depth from a slow Redis): exit 0, the
    textfile complete, and no temporary file left beside it."""
    path = tmp_path / "early.prom"
    # Given a Redis 0.3 s away each way, so the first write's queue depth read takes a few round trips
    with LatencyProxy(redis_server.address, delay=0.3) as proxy:
        url = redis_url.replace(str(redis_server.address[1]), str(proxy.port))
        runner = start_runner(
            "--metrics-textfile", str(path), fork=2, env={"FUNCTIONAL_REDIS_URL": url}, wait_ready=False
        )
        # When SIGTERM comes while that read is under way
        wait_for(lambda: proxy.connections > 0, timeout=15)
        # Then the process stops cleanly, having written the whole textfile, and leaves nothing else
        assert runner.terminate(timeout=30) == 0, runner.log()
    assert f'pysoa_server_queue_depth{{service="{SERVICE}"}} 0.0' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("early.prom")) == ["early.prom"]
