"""Fixtures that run the standalone runner as a subprocess against a throwaway Redis.

Every runner is started in its own session, so the fixture can stop the runner and all of its
workers (and nothing else) by process group id when a test ends, even after a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.core.delivery import DeliveryKeys
from pysoa_like.test.redis import RedisServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
SERVICE = "functional"


class Runner:
    """A running ``pysoa-like serve`` process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """Wait until ``text`` appears in the log (fails the test after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f"{text!r} not logged within {timeout}s; log:\n{self.log()}"
            time.sleep(0.05)

    def terminate(self, timeout: float = 15.0) -> int:
        """Send SIGTERM to the runner and wait for it to exit; return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)


def delivery_holders(raw: redis.Redis, keys: DeliveryKeys, marker: bytes) -> list[str]:
    """The ids of the at-least-once workers (of the service of ``keys``) whose in-progress lists hold a request
    containing ``marker``; ``raw`` is a client of the master of the service's queue."""
    workers = [worker.decode() for worker in raw.zrange(keys.workers, 0, -1)]
    return [
        worker
        for worker in workers
        if any(marker in request for request in raw.lrange(keys.in_progress(worker), 0, -1))
    ]


def worker_pid(worker_id: str) -> int:
    """The pid in an at-least-once worker id (``<host>:<pid>:<random part>``)."""
    return int(worker_id.split(":")[-2])


def kill_mid_job(client: Client, service: str, raw: redis.Redis, keys: DeliveryKeys) -> tuple[Any, str, float]:
    """Call ``service``'s ``sleep`` action for 3 s (at least once) and SIGKILL the worker holding the request
    half a second into the job; the response, the killed worker's id and the seconds from the call to the answer.

    Checks that the answer came from another worker, well within the call's 30 s timeout (the killed worker is
    presumed dead within about 2.5 s, then the job runs again for 3 s).
    """
    started = time.monotonic()
    future = client.call_action_future(service, "sleep", {"seconds": 3, "tag": "killed"}, timeout=30)
    [holder] = wait_for(lambda: delivery_holders(raw, keys, b"killed"), timeout=10)
    killed = worker_pid(holder)
    time.sleep(0.5)
    os.kill(killed, signal.SIGKILL)
    response = future.result()
    elapsed = time.monotonic() - started
    assert response.body["slept"] == 3
    assert response.body["pid"] != killed
    assert elapsed < 20, elapsed
    return response, holder, elapsed


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServerProcess]:
    """One throwaway Redis for the functional tests."""
    with RedisServerProcess() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServerProcess) -> str:
    """The Redis URL, flushed before each test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def raw_redis(redis_server: RedisServerProcess, redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client of the (flushed) functional Redis, for raw pushes and inspection."""
    with redis_server.client() as raw:
        yield raw


@pytest.fixture
def client(redis_url: str) -> Client:
    """A client of the functional service."""
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
    return Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})


@pytest.fixture
def start_runner(redis_url: str, tmp_path: Path, client: Client) -> Iterator[Callable[..., Runner]]:
    """Start ``python -m pysoa_like serve`` for the functional service; stop what it started at the end."""
    runners: list[Runner] = []

    def start(*args: str, fork: int = 2, env: dict[str, str] | None = None, wait_ready: bool = True) -> Runner:
        log_path = tmp_path / f"runner-{len(runners)}.log"
        command = [
            sys.executable,
            "-m",
            "pysoa_like",
            "serve",
            "tests.functional.service:FunctionalServer",
            "--settings",
            "tests.functional.service",
            "--fork",
            str(fork),
            *args,
        ]
        runner = spawn_runner(command, {"FUNCTIONAL_REDIS_URL": redis_url, **(env or {})}, log_path)
        runners.append(runner)
        if wait_ready:
            wait_for(lambda: _answers(client), timeout=15)
        return runner

    yield start
    kill_runners(runners)


def spawn_runner(command: list[str], env: dict[str, str], log_path: Path) -> Runner:
    """Start ``command`` from the repository root in a session of its own, its output going to ``log_path``."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **env)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Runner(process, log_path)


def kill_runners(runners: list[Runner]) -> None:
    """SIGKILL what is left of each runner's process group (its workers too), reap the runner, and wait until every
    thread of the group has ended: a worker still dying keeps its connections, and Redis hands such a worker's
    blocking pop the next request pushed, which a later test would then miss."""
    kill_groups([runner.process for runner in runners])


def kill_groups(leaders: list[subprocess.Popen[Any]]) -> None:
    """SIGKILL the process group of each of ``leaders`` (started with ``start_new_session=True``) if it still runs,
    reap the leader, and wait until every thread of the group has ended (see :func:`kill_runners` for why)."""
    for leader in leaders:
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait(10)
    for leader in leaders:
        wait_for(lambda: not _running_in_group(leader.pid), timeout=10)  # noqa: B023 - called at once


def _running_in_group(group: int) -> list[int]:
    """The pids of the processes of process group ``group`` with a thread that has not ended yet.

    A process whose main thread is a zombie may still have other threads, and its sockets stay open until the last
    one ends, so every thread is looked at (Linux's /proc; elsewhere, nothing is waited for).
    """
    running = []
    for pid in (entry for entry in _listdir("/proc") if entry.isdigit()):
        process = _stat_fields(f"/proc/{pid}/stat")
        if process is not None and int(process[2]) == group and not has_ended(int(pid)):
            running.append(int(pid))
    return running


def has_ended(pid: int) -> bool:
    """Whether every thread of process ``pid`` has ended (so its sockets are closed): see :func:`_running_in_group`."""
    threads = [_stat_fields(f"/proc/{pid}/task/{task}/stat") for task in _listdir(f"/proc/{pid}/task")]
    return not any(fields is not None and fields[0] not in ("Z", "X") for fields in threads)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:  # not Linux, or the process ended meanwhile
        return []


def _stat_fields(path: str) -> list[str] | None:
    """The fields of a /proc stat file after the command name: state, parent pid, process group, ..."""
    try:
        with open(path) as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _answers(client: Client) -> bool:
    try:
        client.call_action(SERVICE, "who", {}, timeout=1)
        return True
    except Exception:
        return False


def who(client: Client, timeout: float = 5) -> dict[str, Any]:
    """The pid and fork id of the worker that answered."""
    body: dict[str, Any] = client.call_action(SERVICE, "who", {}, timeout=timeout).body
    return body
