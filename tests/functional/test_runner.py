"""The standalone runner as a subprocess: workers, signals, respawn, harakiri, heartbeat, reload."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from pysoa_like.client.client import Client
from tests.functional.conftest import SERVICE, Runner, has_ended, wait_for, who


def test_two_workers_share_one_queue(start_runner: Callable[..., Runner], client: Client) -> None:
    """With --fork 2, slow jobs sent together are served by both workers (fork ids 1 and 2) at once."""
    start_runner(fork=2)
    jobs = [{"service_name": SERVICE, "actions": [{"action": "sleep", "body": {"seconds": 0.6}}]} for _ in range(4)]
    started = time.monotonic()
    responses = client.call_jobs_parallel(jobs, timeout=10)
    elapsed = time.monotonic() - started
    pids = {r.actions[0].body["pid"] for r in responses}
    assert len(pids) == 2
    assert elapsed < 4 * 0.6
    fork_ids = wait_for(lambda: {who(client)["fork_id"] for _ in range(10)} == {1, 2} or None, timeout=10)
    assert fork_ids


def test_sigterm_during_a_slow_action_loses_no_request(
    start_runner: Callable[..., Runner], client: Client, tmp_path: Path
) -> None:
    """SIGTERM to the runner lets the in-flight job finish and reply, then everything exits with code 0."""
    marker = tmp_path / "pre_fork.txt"
    runner = start_runner(fork=2, env={"FUNCTIONAL_PRE_FORK_FILE": str(marker)})
    future = client.call_action_future(SERVICE, "sleep", {"seconds": 1.5}, timeout=10)
    time.sleep(0.5)
    # When: the runner is told to stop while the action runs.
    runner.process.send_signal(signal.SIGTERM)
    # Then: the caller still gets its answer, and the runner exits cleanly.
    assert future.result().body["slept"] == 1.5
    assert runner.process.wait(10) == 0
    assert marker.read_text().split() == [str(runner.pid)]
    assert "forcing exit" not in runner.log()


def test_idle_worker_exits_promptly_after_sigterm(start_runner: Callable[..., Runner], client: Client) -> None:
    """An idle server blocked in a 5 s receive (PySOA's default) exits within about a second of SIGTERM."""
    runner = start_runner(fork=0, env={"FUNCTIONAL_RECEIVE_TIMEOUT": "5"})
    time.sleep(0.3)
    started = time.monotonic()
    assert runner.terminate(timeout=10) == 0
    assert time.monotonic() - started < 2.5


def test_killed_worker_is_respawned(start_runner: Callable[..., Runner], client: Client) -> None:
    """A worker killed with SIGKILL is replaced (same fork id, new pid) and the service keeps answering."""
    runner = start_runner(fork=1 + 1)
    victim = who(client)
    os.kill(victim["pid"], signal.SIGKILL)
    # Until its last thread ends, the dying worker's connection is open and its blocking pop may take a request.
    wait_for(lambda: has_ended(victim["pid"]), timeout=10)
    runner.wait_for_log("respawned as pid")
    replacement = wait_for(
        lambda: next((w for w in (who(client) for _ in range(6)) if w["fork_id"] == victim["fork_id"]), None)
    )
    assert replacement["pid"] != victim["pid"]
    assert "was killed by signal 9" in runner.log()


def test_harakiri_answers_the_waiting_client_and_replaces_the_worker(
    start_runner: Callable[..., Runner], client: Client
) -> None:
    """A stuck action is interrupted: the caller gets ACTION_TIMEOUT, stacks are logged, a new worker takes over."""
    runner = start_runner(fork=2, env={"FUNCTIONAL_HARAKIRI_TIMEOUT": "2", "FUNCTIONAL_HARAKIRI_GRACE": "5"})
    response = client.call_action(SERVICE, "sleep", {"seconds": 30}, timeout=10, raise_action_errors=False)
    assert [e.code for e in response.errors] == ["ACTION_TIMEOUT"]
    assert response.errors[0].message == 'The action "sleep" ran for too long and had to be interrupted.'
    runner.wait_for_log("respawned as pid")
    assert "Thread stacks" in runner.log() and "Thread MainThread" in runner.log()
    assert who(client)["fork_id"] in (1, 2)


def test_heartbeat_file_appears_updates_and_disappears(
    start_runner: Callable[..., Runner], client: Client, tmp_path: Path
) -> None:
    """Each worker writes its own heartbeat file ({{fid}}), refreshes it while idle and deletes it on exit."""
    template = str(tmp_path / "heartbeat-{{fid}}.txt")
    runner = start_runner(fork=2, env={"FUNCTIONAL_HEARTBEAT_FILE": template})
    files = [tmp_path / "heartbeat-1.txt", tmp_path / "heartbeat-2.txt"]
    wait_for(lambda: all(f.exists() for f in files))
    first = float(files[0].read_text())
    wait_for(lambda: float(files[0].read_text()) > first, timeout=6)
    assert runner.terminate() == 0
    assert not any(f.exists() for f in files)


def test_autoreload_restarts_the_workers_on_a_file_change(start_runner: Callable[..., Runner], client: Client) -> None:
    """With --reload, touching a watched source file restarts the workers (new pids)."""
    runner = start_runner("--reload", "tests.functional", fork=0)
    before = who(client)["pid"]
    source = Path(__file__).with_name("service.py")
    time.sleep(1.2)
    os.utime(source)
    runner.wait_for_log("File change detected; reloading server process")
    after = wait_for(lambda: (lambda pid: pid if pid != before else None)(who(client)["pid"]), timeout=15)
    assert after != before
    assert runner.terminate() == 0
