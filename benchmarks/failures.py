"""How long a caller waits, and what it gets, when a service or Redis fails: ``python -m benchmarks.failures``.

Each scenario runs against a throwaway Redis and real worker processes (the services of
``tests/functional/resilient_services.py``, one worker each) and prints, per call, the seconds until
the caller had its answer and what the answer was. ``--resilience`` also configures the client's
circuit breaker, retries, bulkhead and fallbacks (pysoa_like 1.5's ``docs/resilience.rst``; leave it off
for releases without them). ``--baseline DIR_OR_REVISION`` runs the same scenarios, without
``--resilience``, on another pysoa_like first (see :mod:`benchmarks._baseline`), for a before/after table.

Scenarios: a Redis that never answers (a blocking call, a future and a parallel call, ``timeout=2``), a
stopped Redis, a dead service (five calls, five futures, five parallel calls, ``timeout=1``), a slow service
(``timeout=1`` for a 3 s job), a service failing half its calls (eight calls), a full queue (a call and a
parallel call, ``timeout=1``; given up on after 30 s), a chain of three services whose last hop is too slow
(``timeout=2``), and four threads calling a slow service at once. ``--resilient-baseline`` runs the baseline
with ``--resilience`` too, to compare the resilience of two revisions that both have it.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._baseline import REPO_ROOT, prepared_baseline
from tests.functional.resilient_services import client_settings, serve_command, serve_environment

# A call still blocked after this long is reported as such, not waited for.
_GIVE_UP_SECONDS = 30.0
_RESILIENCE = {
    "circuit_breaker": {"failure_ratio": 0.5, "minimum_calls": 4, "window_seconds": 10, "cool_down_seconds": 5},
    "retry": {"attempts": 2, "base_delay_seconds": 0.01, "idempotent_actions": ["flaky"]},
    "bulkhead": {"max_in_flight": 2},
    "fallbacks": {"marker": {"stale": True}},
}


def _client(url: str, resilience: bool, **transport: Any) -> Any:
    from pysoa_like.client.client import Client

    return Client(client_settings(url, transport, **(_RESILIENCE if resilience else {})))


def _timed(call: Callable[[], Any]) -> tuple[float, str]:
    """Seconds until ``call`` returned or raised (or gave up after 30 s), and what it gave."""
    outcome: list[str] = []

    def run() -> None:
        try:
            result = call()
            # A parallel call's result is a list: a fallback in any place counts.
            results = result if isinstance(result, list) else [result]
            marker = " (fallback)" if any(getattr(r, "from_fallback", False) for r in results) else ""
            outcome.append(f"reply{marker}")
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {str(exc)[:70]}")

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(_GIVE_UP_SECONDS)
    elapsed = time.monotonic() - started
    return elapsed, outcome[0] if outcome else f"still blocked after {_GIVE_UP_SECONDS:.0f} s"


@contextmanager
def _silent_redis() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


class _Workers:
    """One worker process per service, started on demand, all stopped at the end."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *names: str) -> None:

        for name in names:
            # The pysoa_like of the working directory first (a baseline's, see benchmarks._baseline), then this
            # checkout's tests.
            path = os.pathsep.join(filter(None, [os.getcwd(), str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
            env = dict(os.environ, PYTHONPATH=path, **serve_environment(self.url, name))
            with open(self.log_dir / f"{name}.log", "ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        serve_command(name), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            probe = _client(self.url, False)
            deadline = time.monotonic() + 20
            while True:
                try:
                    probe.call_action(name, "status", {"verbose": False}, timeout=1)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.processes.clear()


def run_scenarios(resilience: bool) -> list[tuple[str, float, str]]:
    """Every scenario, in order: ``(scenario, seconds, what the caller got)`` per call measured."""
    from pysoa_like.test.redis import RedisServerProcess

    rows: list[tuple[str, float, str]] = []

    def add(name: str, measured: tuple[float, str]) -> None:
        rows.append((name, *measured))

    with _silent_redis() as url:
        client = _client(url, resilience)
        add("silent Redis, call timeout=2", _timed(lambda: client.call_action("third", "marker", timeout=2)))
        add(
            "silent Redis, future timeout=2",
            _timed(lambda: client.call_action_future("third", "marker", timeout=2).result()),
        )
        add(
            "silent Redis, parallel timeout=2",
            _timed(lambda: list(client.call_actions_parallel("third", [{"action": "marker"}] * 2, timeout=2))),
        )
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    client = _client(f"redis://127.0.0.1:{port}/0", resilience)
    add("stopped Redis, timeout=2", _timed(lambda: client.call_action("third", "marker", timeout=2)))
    with RedisServerProcess() as redis_server, tempfile.TemporaryDirectory() as scratch:
        workers = _Workers(redis_server.url, Path(scratch))
        try:
            client = _client(redis_server.url, resilience)
            for index in range(5):
                add(
                    f"dead service, call {index + 1}, timeout=1",
                    _timed(lambda: client.call_action("third", "marker", timeout=1)),
                )
            client = _client(redis_server.url, resilience)
            for index in range(5):
                add(
                    f"dead service, future {index + 1}, timeout=1",
                    _timed(lambda: client.call_action_future("third", "marker", timeout=1).result()),
                )
            client = _client(redis_server.url, resilience)
            for index in range(5):
                add(
                    f"dead service, parallel {index + 1}, timeout=1",
                    _timed(lambda: list(client.call_actions_parallel("third", [{"action": "marker"}], timeout=1))),
                )
            redis_server.flush()
            workers.start("third")
            client = _client(redis_server.url, resilience)
            add(
                "slow service (3 s job), timeout=1",
                _timed(lambda: client.call_action("third", "sleep", {"seconds": 3}, timeout=1)),
            )
            time.sleep(2.5)
            client = _client(redis_server.url, resilience)
            for index in range(8):
                add(f"failing half, call {index + 1}", _timed(lambda: client.call_action("third", "flaky", timeout=2)))
            client = _client(redis_server.url, resilience)
            replies: list[tuple[float, str]] = []
            threads = [
                threading.Thread(
                    target=lambda: replies.append(
                        _timed(lambda: client.call_action("third", "sleep", {"seconds": 1}, timeout=3))
                    )
                )
                for _ in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(40)
            for index, measured in enumerate(sorted(replies)):
                add(f"4 threads on a slow service, call {index + 1}", measured)
            time.sleep(2)
            workers.start("first", "second")
            client = _client(redis_server.url, resilience)
            body = {"sleep": {"first": 0.2, "second": 0.2, "third": 5}}
            add(
                "chain of 3, last too slow, timeout=2",
                _timed(lambda: client.call_action("first", "hop", body, timeout=2)),
            )
            workers.stop()
            redis_server.flush()
            full = _client(redis_server.url, resilience, queue_capacity=1)
            full.send_request("third", [{"action": "marker"}], suppress_response=True)
            add("full queue, timeout=1", _timed(lambda: full.call_action("third", "marker", timeout=1)))
            add(
                "full queue, parallel timeout=1",
                _timed(lambda: list(full.call_actions_parallel("third", [{"action": "marker"}], timeout=1))),
            )
        finally:
            workers.stop()
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the scenarios (and the baseline's first, with ``--baseline``) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resilience", action="store_true", help="configure breakers, retries, bulkhead, fallbacks")
    parser.add_argument("--baseline", help="another pysoa_like (directory or git revision) to run first")
    parser.add_argument(
        "--resilient-baseline", action="store_true", help="run the baseline with --resilience too (it must have it)"
    )
    args = parser.parse_args(argv)
    if args.baseline:
        with prepared_baseline(args.baseline) as baseline:
            settings = "with --resilience" if args.resilient_baseline else "no resilience settings"
            print(f"== {baseline.label} ({settings})", flush=True)
            subprocess.run(
                [sys.executable, "-m", "benchmarks.failures", *(["--resilience"] if args.resilient_baseline else [])],
                cwd=baseline.start_dir,
                env=dict(os.environ, **baseline.environment()),
                check=True,
                timeout=900,
            )
        print(f"== this checkout{' with --resilience' if args.resilience else ''}", flush=True)
    for scenario, seconds, outcome in run_scenarios(args.resilience):
        print(f"{scenario:44s} {seconds:7.2f} s  {outcome}", flush=True)


if __name__ == "__main__":
    main()
