"""A worker serving many jobs at once (``concurrency``), as ``pysoa-like serve`` runs it, over a real Redis.

The service is :mod:`tests.functional.concurrent_service`. Time bounds are generous (two noisy cores): each
test compares against what one job at a time would take, which is many times longer.
"""

from __future__ import annotations

import concurrent.futures
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.server.exit_codes import EXIT_FAILURE
from tests.functional.concurrent_service import ConcurrentServer
from tests.functional.conftest import CLIENT_TRANSPORT, Runner, kill_runners, spawn_runner, wait_for

SERVICE = "concurrent"


def make_client(url: str, **transport_kwargs: Any) -> Client:
    """A client of the concurrent service."""
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [url]}, **transport_kwargs}
    return Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})


@pytest.fixture
def start_concurrent(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    """Start ``pysoa-like serve`` for the concurrent service (environment as keywords); stop them all at the end."""
    runners: list[Runner] = []
    probe = make_client(redis_url)

    def start(fork: int = 1, **env: str) -> Runner:
        command = [
            sys.executable,
            "-m",
            "pysoa_like",
            "serve",
            "tests.functional.concurrent_service:ConcurrentServer",
            "--settings",
            "tests.functional.concurrent_service",
            "--fork",
            str(fork),
        ]
        runner = spawn_runner(command, {"FUNCTIONAL_REDIS_URL": redis_url, **env}, tmp_path / f"c{len(runners)}.log")
        runners.append(runner)
        wait_for(lambda: _answers(probe), timeout=20)
        return runner

    yield start
    kill_runners(runners)


def _answers(client: Client) -> bool:
    try:
        client.call_action(SERVICE, "nap", {"seconds": 0}, timeout=1)
        return True
    except Exception:
        return False


def call_many(url: str, calls: list[tuple[str, dict[str, Any], float]]) -> list[tuple[Any, float]]:
    """Make each ``(action, body, timeout)`` call from a thread of its own, all at once.

    Returns:
        Per call: the body (or the exception) and the seconds until the caller had it.
    """

    def one(call: tuple[str, dict[str, Any], float]) -> tuple[Any, float]:
        action, body, timeout = call
        started = time.monotonic()
        try:
            result: Any = make_client(url).call_action(SERVICE, action, body, timeout=timeout).body
        except Exception as exc:
            result = exc
        return result, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def error_codes(outcome: Any) -> list[str]:
    """The error codes of a failed call's action responses."""
    assert isinstance(outcome, CallActionError), outcome
    return [error.code for action in outcome.actions for error in action.errors]


def test_coroutine_and_blocking_actions_run_at_once_each_where_it_belongs(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """30 one-second calls (coroutine, blocking, coroutine function) to one worker take about a second, not 30.

    Coroutine actions run on the event loop (the main thread), blocking ones in the pool's threads.
    """
    start_concurrent(CONCURRENCY="40")
    actions = ["nap", "doze", "nap_function"]
    started = time.monotonic()
    outcomes = call_many(redis_url, [(actions[i % 3], {"seconds": 1, "tag": i}, 15) for i in range(30)])
    elapsed = time.monotonic() - started
    assert all(isinstance(body, dict) for body, _ in outcomes), outcomes
    assert elapsed < 8, f"30 one-second jobs took {elapsed:.1f} s on a concurrency-40 worker"
    threads = {actions[i % 3]: set() for i in range(3)}
    for i, (body, _) in enumerate(outcomes):
        assert body["tag"] == i
        threads[actions[i % 3]].add(body["thread"])
    assert threads["nap"] == threads["nap_function"] == {"MainThread"}
    assert threads["doze"] and all(name.startswith("pysoa-like-job") for name in threads["doze"])


def test_coroutine_middleware_keeps_jobs_on_the_loop(start_concurrent: Callable[..., Runner], redis_url: str) -> None:
    """A middleware with coroutine hooks runs them on the loop, around coroutine and blocking actions alike."""
    start_concurrent(CONCURRENT_MIDDLEWARE="coroutine")
    [(nap, _), (doze, _)] = call_many(redis_url, [("nap", {}, 10), ("doze", {}, 10)])
    assert (nap["marked"], nap["middleware_thread"], nap["thread"]) == ("coroutine", "MainThread", "MainThread")
    assert (doze["marked"], doze["middleware_thread"]) == ("coroutine", "MainThread")
    assert doze["thread"].startswith("pysoa-like-job")


def test_the_api_token_middleware_checks_tokens_on_the_loop(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """The API token middleware's coroutine hook runs on the loop: the token is checked there (the verifier runs
    in the main thread), a refused call is answered, and the coroutine action sees the caller's identity."""
    start_concurrent(CONCURRENT_MIDDLEWARE="auth")
    client = make_client(redis_url)
    with pytest.raises(CallActionError) as refused:
        client.call_action(SERVICE, "secret", {}, timeout=5)
    assert [e.code for e in refused.value.actions[0].errors] == ["AUTH_REQUIRED"]
    body = client.call_action(SERVICE, "secret", {}, timeout=5, context={"api_token": "open-sesame"}).body
    assert body == {"subject": "MainThread"}


def test_plain_middleware_still_works_with_jobs_in_the_pool(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """A middleware with plain hooks only: each job runs in the pool, coroutine actions still on the loop, and
    jobs still overlap."""
    start_concurrent(CONCURRENT_MIDDLEWARE="plain", CONCURRENCY="20")
    started = time.monotonic()
    outcomes = call_many(redis_url, [(("nap", "doze")[i % 2], {"seconds": 1}, 15) for i in range(10)])
    assert time.monotonic() - started < 6
    for i, (body, _) in enumerate(outcomes):
        assert body["marked"] == "plain"
        assert body["middleware_thread"].startswith("pysoa-like-job")
        assert (body["thread"] == "MainThread") == (i % 2 == 0)


def test_each_job_sees_its_own_deadline(start_concurrent: Callable[..., Runner], redis_url: str) -> None:
    """Jobs running at once each see the deadline of their own request (not the last one received)."""
    start_concurrent()
    timeouts = [2.0, 9.0, 4.0, 7.0]
    sent = time.time()
    outcomes = call_many(redis_url, [("nap", {"seconds": 0.5, "tag": t}, t) for t in timeouts])
    for timeout, (body, _) in zip(timeouts, outcomes, strict=True):
        assert body["tag"] == timeout
        assert sent + timeout - 1 < body["deadline"] < sent + timeout + 1.5
        assert 0 < body["remaining"] < timeout


def test_a_coroutine_action_is_cancelled_at_its_deadline_and_the_worker_goes_on(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """At its deadline a stuck coroutine action is answered DEADLINE_EXCEEDED and cancelled; others are served."""
    runner = start_concurrent()
    [(stuck, stuck_took), (nap, _)] = call_many(
        redis_url, [("stuck_async", {"tag": "late"}, 1.5), ("nap", {"seconds": 3}, 10)]
    )
    assert stuck_took < 5
    # The caller gets the answer sent at the deadline, or (a hair later) its own timeout.
    if isinstance(stuck, CallActionError):
        assert error_codes(stuck) == ["DEADLINE_EXCEEDED"]
    runner.wait_for_log("stuck_async late cancelled")
    assert isinstance(nap, dict)
    assert _answers(make_client(redis_url))


def test_harakiri_answers_a_blocking_job_at_the_limit_and_restarts_the_worker(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """A blocking action past ``harakiri.timeout`` cannot be interrupted: its caller is answered ACTION_TIMEOUT at
    the limit all the same, a job that ends in time is answered normally, and the worker exits (status 1) once
    the grace runs out."""
    runner = start_concurrent(HARAKIRI_TIMEOUT="2", HARAKIRI_GRACE="3")
    [(stuck, stuck_took), (nap, _)] = call_many(
        redis_url, [("stuck_blocking", {"seconds": 60, "tag": "x"}, 20), ("nap", {"seconds": 0.5}, 20)]
    )
    assert error_codes(stuck) == ["ACTION_TIMEOUT"]
    assert 1.5 < stuck_took < 6
    assert isinstance(nap, dict)
    # Runner (--fork 1) restarts its worker; the log tells the story.
    runner.wait_for_log("Harakiri: request", timeout=10)
    runner.wait_for_log("Graceful shutdown after harakiri took too long", timeout=15)


def test_harakiri_answers_a_job_that_blocks_the_event_loop(redis_url: str, tmp_path: Path) -> None:
    """An ``async def`` action that blocks the loop with ``time.sleep`` still has its caller answered at the limit
    (the replier thread answers, not the loop); the worker then exits with EXIT_FAILURE."""
    process = spawn_runner(
        [sys.executable, "-m", "tests.functional.concurrent_service_main"],
        {"FUNCTIONAL_REDIS_URL": redis_url, "HARAKIRI_TIMEOUT": "2", "HARAKIRI_GRACE": "30"},
        tmp_path / "hog.log",
    )
    try:
        wait_for(lambda: _answers(make_client(redis_url)), timeout=20)
        [(hog, took)] = call_many(redis_url, [("hog_loop", {"seconds": 5}, 20)])
        assert error_codes(hog) == ["ACTION_TIMEOUT"]
        assert 1.5 < took < 4.5
        assert process.process.wait(30) == EXIT_FAILURE
    finally:
        kill_runners([process])


def test_sigterm_finishes_the_jobs_in_flight_and_takes_no_new_ones(redis_url: str, tmp_path: Path) -> None:
    """SIGTERM: every job in flight is answered, nothing more is taken from the queue, and the worker exits 0."""
    process = spawn_runner(
        [sys.executable, "-m", "tests.functional.concurrent_service_main"],
        {"FUNCTIONAL_REDIS_URL": redis_url},
        tmp_path / "term.log",
    )
    try:
        wait_for(lambda: _answers(make_client(redis_url)), timeout=20)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(
                call_many, redis_url, [(("nap", "doze")[i % 2], {"seconds": 3, "tag": i}, 20) for i in range(10)]
            )
            wait_for(lambda: process.log().count("Job request") >= 11, timeout=10)
            process.process.send_signal(signal.SIGTERM)
            process.wait_for_log("shutting down after the current job")
            # A receive already waiting when the signal came may still take one request (and answer it); the
            # next one is never taken.
            time.sleep(1.5)
            with pytest.raises(Exception):  # noqa: B017 - the call's timeout, whatever its class
                make_client(redis_url).call_action(SERVICE, "nap", {"tag": "after"}, timeout=4)
            outcomes = in_flight.result(30)
        assert [body["tag"] for body, _ in outcomes] == list(range(10))
        assert process.process.wait(20) == 0
        assert "'tag': 'after'" not in process.log()
        with redis.Redis.from_url(redis_url) as raw:
            assert raw.llen(f"pysoa:service.{SERVICE}") == 1  # the late request is still queued for the next worker
    finally:
        kill_runners([process])


def test_watched_requests_held_at_once_each_keep_their_liveness_key(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """With ``detect_dead_workers`` on, a long job is not taken for a dead worker's when the worker takes other
    requests meanwhile: each request's liveness key lives until its own reply."""
    start_concurrent()

    def watched_call(seconds: float) -> Any:
        client = make_client(redis_url, detect_dead_workers=True)
        return client.call_action(SERVICE, "nap", {"seconds": seconds, "tag": seconds}, timeout=15).body

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        long_call = pool.submit(watched_call, 5)
        # Taken by the worker while the long call's client has seen its key (it checks every second).
        time.sleep(1.5)
        for _ in range(3):
            assert pool.submit(watched_call, 0.2).result(20)["tag"] == 0.2
        assert long_call.result(20)["tag"] == 5


def test_metrics_and_request_logs_hold_per_job(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Jobs timed at once each get their own ``server.job`` time, ``server.worker.busy`` counts the jobs in
    flight, and each response log line carries its own job's correlation id (logged from the replier thread)."""
    server = ConcurrentServer(
        {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
                "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}},
            },
            "concurrency": 20,
            "metrics": {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"},
            "registry": {"enabled": False},
        }
    )
    caplog.set_level(logging.INFO, logger="pysoa_like.server.job")
    caplog.handler.addFilter(PySOALogContextFilter())
    runner = threading.Thread(target=server.run, name="server")
    runner.start()
    try:
        wait_for(lambda: _answers(make_client(redis_url)), timeout=20)
        server.metrics.clear()
        caplog.clear()
        outcomes = call_many(redis_url, [("nap", {"seconds": 0.6, "tag": i}, 15) for i in range(10)])
        assert all(isinstance(body, dict) for body, _ in outcomes), outcomes
    finally:
        server.shutting_down = True
        runner.join(15)
    metrics = server.metrics
    assert isinstance(metrics, CountingMetricsRecorder)
    # The probe's job (a nap of nothing) may end after the clear: only the ten long ones are counted.
    assert len([t for t in metrics.get_values("timer", "server.job") if t >= 550_000]) == 10
    assert max(metrics.get_values("gauge", "server.worker.busy")) >= 5
    responses = [
        record
        for record in caplog.records
        if record.getMessage().startswith("Job response") and "'tag': None" not in record.getMessage()
    ]
    assert len(responses) == 10
    for record in responses:
        assert f"'correlation_id': '{record.correlation_id}'" in record.getMessage()
    assert len({record.correlation_id for record in responses}) == 10


def test_the_heartbeat_file_beats_while_jobs_run_and_goes_at_shutdown(redis_url: str, tmp_path: Path) -> None:
    """A concurrent worker's heartbeat file is written while its jobs run (the last beat moves on) and deleted when
    SIGTERM stops it."""
    heartbeat = tmp_path / "heartbeat"
    process = spawn_runner(
        [sys.executable, "-m", "tests.functional.concurrent_service_main"],
        {"FUNCTIONAL_REDIS_URL": redis_url, "HEARTBEAT_FILE": str(heartbeat)},
        tmp_path / "heartbeat.log",
    )
    try:
        wait_for(lambda: _answers(make_client(redis_url)), timeout=20)
        first_beat = float(heartbeat.read_text())
        outcomes = call_many(redis_url, [("nap", {"seconds": 3.5}, 15) for _ in range(5)])
        assert all(isinstance(body, dict) for body, _ in outcomes), outcomes
        assert float(heartbeat.read_text()) > first_beat + 2
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(20) == 0
        assert not heartbeat.exists()
    finally:
        kill_runners([process])


def test_coroutine_actions_call_services_through_request_async_client(
    start_concurrent: Callable[..., Runner], redis_url: str
) -> None:
    """``request.async_client`` calls from a coroutine action carry the job's correlation id, switches and
    ``calling_service`` and a deadline inside the job's, and 20 such relays (each waiting on a one-second nested
    job of the same worker) take about a second: the nested waits do not block the loop."""
    start_concurrent(CONCURRENCY="60")
    client = make_client(redis_url)
    body = client.call_action(
        SERVICE, "relay", {"tag": "one"}, timeout=10, correlation_id="corr-relay", switches=[3]
    ).body
    nested = body["nested"]
    assert nested["tag"] == "one"
    assert nested["context"]["correlation_id"] == "corr-relay"
    assert nested["context"]["switches"] == [3]
    assert nested["context"]["calling_service"] == SERVICE
    assert nested["deadline"] < body["outer_deadline"]
    started = time.monotonic()
    outcomes = call_many(redis_url, [("relay", {"seconds": 1, "tag": i}, 15) for i in range(20)])
    assert [body["nested"]["tag"] for body, _ in outcomes] == list(range(20))
    assert time.monotonic() - started < 8


def test_fork_and_concurrency_combine(start_concurrent: Callable[..., Runner], redis_url: str) -> None:
    """``--fork 2`` with ``concurrency`` 10: 20 four-second jobs at once take four seconds (one such worker would
    take eight: it takes no 11th job while ten are in flight)."""
    runner = start_concurrent(fork=2, CONCURRENCY="10")
    wait_for(lambda: runner.log().count("Serving up to 10 jobs at once") == 2, timeout=20)
    started = time.monotonic()
    outcomes = call_many(redis_url, [("nap", {"seconds": 4, "tag": i}, 20) for i in range(20)])
    assert all(isinstance(body, dict) for body, _ in outcomes), outcomes
    assert time.monotonic() - started < 7.5
