"""Starting and stopping the benchmark's server processes and running its client processes.

Each implementation is described by an :class:`Implementation`: how to start one of its servers and
one of its clients from a JSON config. Servers print ``READY <pid>`` when they are about to take
requests; their output goes to a log file in the run's scratch directory, whose tail is shown if
one of them dies. Every process is stopped by its own PID (SIGTERM, then SIGKILL after a grace).
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from benchmarks._baseline import Baseline
from benchmarks._driver import RESULT_PREFIX

__all__ = ["BenchmarkError", "Implementation", "ServerProcess", "announce_ready", "run_client", "start_server"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_READY_TIMEOUT_SECONDS = 30
_STOP_GRACE_SECONDS = 3
_LIKE_SERVER = "benchmarks._like:BenchServer"


class BenchmarkError(RuntimeError):
    """A server or client process failed; the message holds its output."""


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One side of the comparison.

    Attributes:
        key: ``floor``, ``like`` or ``pysoa`` (the JSON key).
        label: The column title.
        server_command: ``config -> argv`` of one server process.
        client_command: ``config -> argv`` of one client process.
        server_env: ``config -> extra environment`` of a server process.
        cwd: The working directory of its processes (a baseline's holds its own ``pysoa_like``).
        env: Extra environment of its server and client processes.
        package: The ``pysoa_like`` package its processes must import (checked when they report it).
    """

    key: str
    label: str
    server_command: Callable[[dict[str, Any]], list[str]]
    client_command: Callable[[dict[str, Any]], list[str]]
    server_env: Callable[[dict[str, Any]], dict[str, str]] = lambda config: {}
    cwd: Path = REPO_ROOT
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    package: Path | None = None

    def check_package(self, reported: str | None, process: str) -> None:
        """Raise :class:`BenchmarkError` if a process reported importing another ``pysoa_like`` than :attr:`package`."""
        if self.package is None or reported is None:
            return
        if Path(reported).resolve() != self.package.resolve():
            raise BenchmarkError(f"{self.label} {process} imported pysoa_like from {reported}, not {self.package}")


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ServerProcess:
    """One running server process; :meth:`stop` it (by PID) when done."""

    def __init__(self, popen: subprocess.Popen[str], log_path: Path, log: IO[str]) -> None:
        self.popen = popen
        self.log_path = log_path
        self._log = log
        #: What the server said after ``READY <pid>`` (pysoa_like's servers: the package directory).
        self.ready_details: str | None = None

    @property
    def pid(self) -> int:
        """The server's PID (the process whose CPU time is measured)."""
        return self.popen.pid

    def wait_ready(self) -> None:
        """Wait for the ``READY`` line; raise :class:`BenchmarkError` if the server dies or is too slow."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.popen.stdout], [], [], 0.2)
            if ready:
                line = self.popen.stdout.readline()
                if line.startswith("READY"):
                    self.ready_details = line.split(maxsplit=2)[2].strip() if line.count(" ") >= 2 else None
                    return
                if line:
                    continue
            if self.popen.poll() is not None:
                break
        self.stop()
        raise BenchmarkError(f"server {self.popen.args!r} did not start; log:\n{_tail(self.log_path)}")

    def check_alive(self) -> None:
        """Raise :class:`BenchmarkError` (with the log tail) if the server has exited."""
        if self.popen.poll() is not None:
            raise BenchmarkError(f"server pid {self.pid} exited ({self.popen.returncode}):\n{_tail(self.log_path)}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; always reaps the process."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()


def announce_ready(details: str = "") -> None:
    """Print ``READY <pid> <details>`` for :func:`start_server`, then send everything else written to stdout to
    stderr (the server's log): nobody reads the pipe after that line, and a server whose library logs to stdout
    (FastStream's does) would block once the pipe's buffer is full."""
    sys.stdout.write(f"READY {os.getpid()} {details}".rstrip() + "\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def start_server(implementation: Implementation, config: dict[str, Any], log_path: Path) -> ServerProcess:
    """Start one server of ``implementation`` and wait until it says it is ready."""
    log = open(log_path, "a")  # noqa: SIM115 - closed by ServerProcess.stop
    popen = subprocess.Popen(
        implementation.server_command(config),
        cwd=implementation.cwd,
        env=_environment({**implementation.env, **implementation.server_env(config)}),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    server = ServerProcess(popen, log_path, log)
    server.wait_ready()
    try:
        implementation.check_package(server.ready_details, "server")
    except BenchmarkError:
        server.stop()
        raise
    return server


def run_client(implementation: Implementation, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one client process with ``spec`` and return its result."""
    try:
        completed = subprocess.run(
            implementation.client_command(spec),
            cwd=implementation.cwd,
            env=_environment(implementation.env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(f"{implementation.label} client ({spec['workload']}) timed out after {timeout} s") from exc
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            implementation.check_package(result.get("package"), "client")
            return result
    raise BenchmarkError(
        f"{implementation.label} client ({spec['workload']}) failed with exit status {completed.returncode}:\n"
        f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    )


def python_module_command(python: str, module: str, role: str) -> Callable[[dict[str, Any]], list[str]]:
    """``config -> [python, -m, module, role, json]``."""
    return lambda config: [python, "-m", module, role, json.dumps(config)]


def _like(
    key: str,
    label: str,
    cwd: Path = REPO_ROOT,
    env: dict[str, str] | None = None,
    server_settings: dict[str, Any] | None = None,
) -> Implementation:
    """pysoa_like, from this checkout or (``cwd`` and ``env`` of a :class:`Baseline`) from another one.

    ``server_settings`` go to the server's ``BENCH_CONFIG`` (see ``benchmarks._like``): ``delivery``, and
    ``idempotent`` (whether its actions say so).
    """
    here = sys.executable
    extra = server_settings or {}
    return Implementation(
        key,
        label,
        lambda config: [here, "-m", "pysoa_like", "serve", _LIKE_SERVER, "-s", "benchmarks._like"],
        python_module_command(here, "benchmarks._like", "client"),
        lambda config: {"BENCH_CONFIG": json.dumps({**config, **extra})},
        cwd=cwd,
        env=env or {},
        package=cwd / "pysoa_like",
    )


def implementations(
    pysoa_python: str | None, baseline: Baseline | None = None, delivery: bool = True
) -> list[Implementation]:
    """The floor, the baseline's pysoa_like (if any), pysoa_like, with ``delivery`` pysoa_like delivering at least
    once (its actions idempotent, then not: claimed and their replies kept), and (with its venv's interpreter)
    PySOA 1.4.9.

    That is also the run order within a repetition.
    """
    here = sys.executable
    found = [
        Implementation(
            "floor",
            "floor (redis-py)",
            python_module_command(here, "benchmarks._floor", "server"),
            python_module_command(here, "benchmarks._floor", "client"),
        ),
    ]
    if baseline is not None:
        found.append(_like("base", baseline.label, baseline.start_dir, baseline.environment()))
    found.append(_like("like", "pysoa_like"))
    if delivery:
        found.append(_like("alo", "at-least-once", server_settings={"delivery": "at_least_once"}))
        found.append(
            _like(
                "alo_claim",
                "at-least-once, claimed",
                server_settings={"delivery": "at_least_once", "idempotent": False},
            )
        )
    if pysoa_python:
        found.append(
            Implementation(
                "pysoa",
                "PySOA 1.4.9",
                python_module_command(pysoa_python, "benchmarks._pysoa", "server"),
                python_module_command(pysoa_python, "benchmarks._pysoa", "client"),
            )
        )
    return found
