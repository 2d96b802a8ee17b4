"""Respawn limits and the worker supervisor (with real, trivial forked children)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from pysoa_like.server._supervisor import RespawnLimiter, WorkerSupervisor, reset_signals_in_worker
from pysoa_like.server.exit_codes import NOT_RESTARTABLE


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_third_exit_within_15_seconds_gives_up() -> None:
    """Two quick exits are respawned; the third within 15 s gives the worker up with a reason."""
    clock = _Clock()
    limiter = RespawnLimiter(clock=clock)
    assert limiter.record_exit() is None
    clock.now += 5
    assert limiter.record_exit() is None
    clock.now += 5
    assert limiter.record_exit() == "it exited 3 times within 15 seconds"


def test_eighth_exit_within_60_seconds_gives_up() -> None:
    """Exits spaced 8 s apart pass the 15 s limit but the eighth within 60 s gives up."""
    clock = _Clock()
    limiter = RespawnLimiter(clock=clock)
    results = []
    for _ in range(8):
        results.append(limiter.record_exit())
        clock.now += 8
    assert results[:7] == [None] * 7
    assert results[7] == "it exited 8 times within 60 seconds"


def test_old_exits_are_forgotten() -> None:
    """Exits older than the windows no longer count."""
    clock = _Clock()
    limiter = RespawnLimiter(clock=clock)
    for _ in range(2):
        limiter.record_exit()
    clock.now += 61
    assert limiter.record_exit() is None


def _fork_exiting(code: int) -> int:
    pid = os.fork()
    if pid == 0:
        reset_signals_in_worker()
        os._exit(code)
    return pid


def test_supervisor_respawns_a_crashing_worker_then_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    """A worker that keeps crashing is started three times, then given up with a log line; run() returns 1."""
    started: list[int] = []

    def start(fid: int) -> int:
        started.append(fid)
        return _fork_exiting(3)

    with caplog.at_level(logging.INFO):
        code = WorkerSupervisor(start, 1, logger=logging.getLogger("test.supervisor")).run()
    assert code == 1
    assert started == [1, 1, 1]
    assert any("will not be respawned: it exited 3 times within 15 seconds" in r.getMessage() for r in caplog.records)


def test_supervisor_tells_its_exit_observer_each_pid_and_whether_it_was_respawned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The observer sees every exited pid: respawned twice, then given up; an observer error is only logged."""
    pids: list[int] = []
    seen: list[tuple[int, bool]] = []

    def start(fid: int) -> int:
        pids.append(_fork_exiting(3))
        return pids[-1]

    def observe(pid: int, respawned: bool) -> None:
        seen.append((pid, respawned))
        raise RuntimeError("observer broke")

    with caplog.at_level(logging.ERROR):
        assert WorkerSupervisor(start, 1, logger=logging.getLogger("test.supervisor"), on_exit=observe).run() == 1
    assert seen == [(pids[0], True), (pids[1], True), (pids[2], False)]
    assert sum("The worker exit observer failed: observer broke" in r.getMessage() for r in caplog.records) == 3


def test_supervisor_without_respawn_returns_when_workers_exit() -> None:
    """With respawn off, each fork id is started once and the supervisor returns 0 when all are gone."""
    started: list[int] = []

    def start(fid: int) -> int:
        started.append(fid)
        return _fork_exiting(0)

    assert WorkerSupervisor(start, 3, respawn=False).run() == 0
    assert sorted(started) == [1, 2, 3]


def _supervise_sleepers_then(send_signal: Callable[[], None]) -> tuple[WorkerSupervisor, list[int], float]:
    """Supervise two workers that sleep 30 s unless signalled; ``send_signal`` runs in a thread once the parent's
    own handler is in place. Returns the supervisor, the fork ids started and how long ``run`` took."""
    started: list[int] = []

    def signal_once_handled() -> None:
        # This thread was started while the parent forked, with its signals blocked: not for this thread and those
        # it starts (a blocked signal sent to one of them would wait for ever).
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) != supervisor.handle_signal and time.monotonic() < deadline:
            time.sleep(0.01)
        send_signal()

    def start(fid: int) -> int:
        started.append(fid)
        pid = os.fork()
        if pid == 0:
            reset_signals_in_worker()
            time.sleep(30)
            os._exit(0)
        if fid == 2:
            # Started only after the last fork (forking with live threads is deprecated).
            threading.Thread(target=signal_once_handled, daemon=True).start()
        return pid

    supervisor = WorkerSupervisor(start, 2)
    started_at = time.monotonic()
    assert supervisor.run() == 0
    return supervisor, started, time.monotonic() - started_at


def test_supervisor_forwards_sigterm_and_does_not_respawn() -> None:
    """A signal to the parent is passed to the workers as SIGTERM and they are not restarted."""
    supervisor, started, took = _supervise_sleepers_then(
        lambda: signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
    )
    assert took < 10
    assert started == [1, 2]
    assert supervisor.shutting_down


def test_a_signal_another_thread_of_the_parent_takes_stops_the_workers_at_once() -> None:
    """The kernel may give a signal sent to the process to any of its threads (a metrics exposition's, say): the
    parent still passes it on at once. It waited in a blocking waitpid, which only a signal to the main thread
    interrupts: the workers ran on (here for their 30 s) until one exited on its own."""
    stop_bystander = threading.Event()

    def signal_a_bystander() -> None:
        bystander = threading.Thread(target=stop_bystander.wait, args=(20,), daemon=True)
        bystander.start()
        signal.pthread_kill(bystander.ident or 0, signal.SIGTERM)

    try:
        supervisor, started, took = _supervise_sleepers_then(signal_a_bystander)
    finally:
        stop_bystander.set()
    assert took < 10
    assert started == [1, 2]
    assert supervisor.shutting_down


def test_a_signal_while_workers_start_stops_the_starting_and_reaches_the_new_worker() -> None:
    """SIGTERM comes right after worker 1 was forked, before it reset its signal handling (it is slow to start):
    worker 2 is not started, and worker 1 gets SIGTERM once it has reset it. The parent ignored signals while
    starting, and a worker forked then inherited that: the signal was lost, and the workers ran on."""
    started: list[int] = []

    def start(fid: int) -> int:
        started.append(fid)
        pid = os.fork()
        if pid == 0:
            time.sleep(0.5)  # a slow start: the SIGTERM below comes before the worker resets its signals
            reset_signals_in_worker()
            time.sleep(30)
            os._exit(0)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
        return pid

    supervisor = WorkerSupervisor(start, 2)
    started_at = time.monotonic()
    assert supervisor.run() == 0
    assert time.monotonic() - started_at < 10
    assert started == [1]
    assert supervisor.shutting_down


def _open_sockets() -> set[str]:
    """The sockets this process has open (their ``socket:[inode]`` names)."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:"):
                names.add(target)
    return names


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open sockets through /proc")
def test_a_worker_keeps_no_socket_of_the_supervisors_own() -> None:
    """A worker closes its copies of the sockets the supervisor made for itself (the wakeup socket pair): it has
    only those the process had before supervising (exit code 5 otherwise)."""
    before = _open_sockets()

    def start(fid: int) -> int:
        pid = os.fork()
        if pid == 0:
            reset_signals_in_worker()
            os._exit(0 if _open_sockets() <= before else 5)
        return pid

    assert WorkerSupervisor(start, 1, respawn=False).run() == 0


def test_without_respawn_a_failed_worker_makes_the_supervisor_fail() -> None:
    """With respawn off, a worker that exits with a failure is the supervisor's failure too (not 0)."""
    codes = iter([0, 5])
    assert WorkerSupervisor(lambda fid: _fork_exiting(next(codes)), 2, respawn=False).run() == 5


@pytest.mark.parametrize("code", sorted(NOT_RESTARTABLE))
def test_a_worker_that_gave_up_is_not_respawned_and_its_code_is_the_supervisors(
    code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A settings mistake or a give-up (exit 2 or 4) cannot be fixed by a restart: not respawned, code passed on."""
    started: list[int] = []

    def start(fid: int) -> int:
        started.append(fid)
        return _fork_exiting(code)

    with caplog.at_level(logging.ERROR):
        assert WorkerSupervisor(start, 2, logger=logging.getLogger("test.supervisor")).run() == code
    assert sorted(started) == [1, 2]
    assert sum("will not be respawned: a restart cannot help" in r.getMessage() for r in caplog.records) == 2
