"""At-least-once delivery with real worker processes: SIGKILL, a request that kills every worker, SIGTERM.

The runner's workers advertise every half second and are presumed dead 2 s after their last advertisement
(``FUNCTIONAL_WORKER_TTL``), so a killed worker's requests are delivered again within about 3 seconds. Tests
taking ``concurrency`` run with one-job-at-a-time workers and with concurrent workers (3 jobs at once each).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallJobError
from pysoa_like.core.delivery import delivery_keys
from tests.functional.conftest import SERVICE, Runner, delivery_holders, kill_mid_job, wait_for, worker_pid

KEYS = delivery_keys(SERVICE)


@pytest.fixture
def runs_file(tmp_path: Path) -> Path:
    """Where the service's actions note each run (``<key> <pid>`` per line)."""
    path = tmp_path / "runs.txt"
    path.touch()
    return path


@pytest.fixture
def start_alo(start_runner: Callable[..., Runner], runs_file: Path) -> Callable[..., Runner]:
    """Start the functional service with at-least-once delivery."""

    def start(fork: int = 2, max_deliveries: int = 5, concurrency: int = 1, wait_ready: bool = True) -> Runner:
        env = {
            "FUNCTIONAL_DELIVERY": "at_least_once",
            "FUNCTIONAL_WORKER_TTL": "2",
            "FUNCTIONAL_MAX_DELIVERIES": str(max_deliveries),
            "FUNCTIONAL_RUNS_FILE": str(runs_file),
            "FUNCTIONAL_CONCURRENCY": str(concurrency),
        }
        return start_runner(fork=fork, env=env, wait_ready=wait_ready)

    return start


def _runs(runs_file: Path, key: str) -> list[int]:
    """The pids that ran the request noted under ``key``."""
    lines = [line.split() for line in runs_file.read_text().splitlines()]
    return [int(pid) for noted, pid in lines if noted == key]


@pytest.fixture(params=[1, 3], ids=["one_at_a_time", "concurrency_3"])
def concurrency(request: pytest.FixtureRequest) -> int:
    """Each test taking it runs with one-job-at-a-time workers, then with concurrent ones."""
    return int(request.param)


def _holder_pid(raw: redis.Redis, marker: bytes) -> int:
    """The pid of the worker whose in-progress list holds the request containing ``marker`` (waiting for it).

    Other requests may be held for a moment too: a worker removes an answered request with its next wait.
    """

    [worker_id] = wait_for(lambda: delivery_holders(raw, KEYS, marker), timeout=10)
    return worker_pid(worker_id)


def test_sigkill_mid_job_the_caller_gets_its_answer_from_another_worker(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """SIGKILL of the worker 0.5 s into a 3 s job: the caller still gets the job's answer, from another worker."""
    start_alo(fork=2)
    response, holder, elapsed = kill_mid_job(client, SERVICE, raw_redis, KEYS)
    print(f"kill test: answered by pid {response.body['pid']} {elapsed:.1f} s after the call (worker {holder} killed)")


def test_a_request_that_kills_every_worker_is_dead_lettered(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis, runs_file: Path
) -> None:
    """A request whose every delivery kills its worker ends in the dead-letter list after 3; the caller is told."""
    start_alo(fork=2, max_deliveries=3)
    started = time.monotonic()
    with pytest.raises(CallJobError) as failure:
        client.call_action(SERVICE, "die", {"key": "poison"}, timeout=45)
    elapsed = time.monotonic() - started
    [error] = failure.value.errors
    assert error.code == "DEAD_LETTERED"
    assert len(_runs(runs_file, "poison")) == 3
    assert raw_redis.llen(KEYS.dead_letter) == 1
    # The service still serves other requests.
    assert client.call_action(SERVICE, "sleep", {"seconds": 0}, timeout=10).body["slept"] == 0
    print(f"poison test: DEAD_LETTERED after 3 deliveries, {elapsed:.1f} s after the call")


def test_sigkill_with_several_jobs_in_flight_each_is_answered_by_another_worker(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """SIGKILL of a concurrent worker running three jobs at once: each caller gets its job's answer from another.

    The worker holds the three requests in its in-progress list; once it is presumed dead a live worker puts them
    back on the queue, and the second worker (started after the three were taken) runs them.
    """
    # Given one worker running three 8-second jobs at once (long enough for a second worker to start meanwhile)
    start_alo(fork=1, concurrency=3)
    started = time.monotonic()
    futures = [
        client.call_action_future(SERVICE, "sleep", {"seconds": 8, "tag": f"multi{n}"}, timeout=45) for n in range(3)
    ]
    [holder] = wait_for(lambda: delivery_holders(raw_redis, KEYS, b"multi"), timeout=10)
    wait_for(lambda: raw_redis.llen(KEYS.in_progress(holder)) == 3, timeout=10)
    killed = worker_pid(holder)
    # And a second worker, free
    start_alo(fork=1, concurrency=3, wait_ready=False)
    wait_for(lambda: raw_redis.zcard(KEYS.workers) == 2, timeout=15)
    # When the first one is killed mid-jobs (all three still held)
    assert raw_redis.llen(KEYS.in_progress(holder)) == 3
    os.kill(killed, signal.SIGKILL)
    # Then every caller gets its answer, from the other worker
    responses = [future.result() for future in futures]
    elapsed = time.monotonic() - started
    assert [response.body["slept"] for response in responses] == [8, 8, 8]
    assert killed not in {response.body["pid"] for response in responses}
    assert elapsed < 40, elapsed
    print(f"multi-kill test: 3 jobs answered {elapsed:.1f} s after the calls (worker {killed} killed mid-jobs)")


def test_a_non_idempotent_action_is_never_run_twice(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis, runs_file: Path, concurrency: int
) -> None:
    """SIGKILL mid non-idempotent job: it is not run again; the caller gets WORKER_DIED. Plain calls run once."""
    start_alo(fork=2, concurrency=concurrency)
    for key in ("one", "two", "three"):
        client.call_action(SERVICE, "charge", {"key": key}, timeout=10)
        assert len(_runs(runs_file, key)) == 1
    future = client.call_action_future(SERVICE, "charge", {"key": "killed", "seconds": 5}, timeout=30)
    pid = _holder_pid(raw_redis, b"killed")
    wait_for(lambda: _runs(runs_file, "killed"), timeout=10)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(CallJobError) as failure:
        future.result()
    [error] = failure.value.errors
    assert error.code == "WORKER_DIED"
    time.sleep(1)
    assert _runs(runs_file, "killed") == [pid]


def test_sigterm_drains_without_loss(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis, runs_file: Path, concurrency: int
) -> None:
    """SIGTERM while jobs run and more wait: the jobs in hand finish, the rest wait for the next workers; all answered.

    Each request runs once (non-idempotent jobs), and no in-progress list or worker entry is left behind.
    """
    first = start_alo(fork=2, concurrency=concurrency)
    futures: list[Any] = [
        client.call_action_future(SERVICE, "charge", {"key": f"job{n}", "seconds": 0.5}, timeout=40) for n in range(8)
    ]
    wait_for(lambda: _runs(runs_file, "job0") or _runs(runs_file, "job1"), timeout=10)
    assert first.terminate(timeout=20) == 0
    start_alo(fork=2, concurrency=concurrency)
    answered = [future.result().body["pid"] for future in futures]
    assert len(answered) == 8
    assert all(len(_runs(runs_file, f"job{n}")) == 1 for n in range(8))
    wait_for(lambda: raw_redis.zcard(KEYS.workers) == 2, timeout=10)


def test_a_frozen_worker_presumed_dead_never_shares_a_non_idempotent_job(
    start_alo: Callable[..., Runner], client: Client, raw_redis: redis.Redis, runs_file: Path
) -> None:
    """SIGSTOP mid non-idempotent job for longer than the worker TTL: another worker takes the request back but does
    not run it (the caller gets WORKER_DIED); the frozen worker, resumed, finishes its run and says it was presumed
    dead. The job ran once, on the frozen worker."""
    runner = start_alo(fork=2)
    future = client.call_action_future(SERVICE, "charge", {"key": "frozen", "seconds": 2}, timeout=30)
    pid = _holder_pid(raw_redis, b"frozen")
    wait_for(lambda: _runs(runs_file, "frozen"), timeout=10)
    os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(CallJobError) as failure:
            future.result()
    finally:
        os.kill(pid, signal.SIGCONT)
    [error] = failure.value.errors
    assert error.code == "WORKER_DIED"
    runner.wait_for_log("was presumed dead", timeout=15)
    time.sleep(2.5)  # the resumed worker finishes its run
    assert _runs(runs_file, "frozen") == [pid]
