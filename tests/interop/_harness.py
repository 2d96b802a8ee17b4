"""Run both implementations against real Redis: PySOA 1.4.9 in its own venv, pysoa_like alongside.

- :class:`PySOAScripts` runs the filters in ``pysoa_side/`` with the PySOA venv's interpreter,
  passing JSON through stdin/stdout.
- :class:`ServerProcess` runs one server worker of either implementation as a subprocess (stopped by
  PID): ``pysoa_side/run_server.py`` in the PySOA venv, or ``tests.interop._like_service``.
- :class:`Deployment` is one Redis topology (a standalone server or a ring of masters) with every
  interop service served by ONE implementation; :meth:`Deployment.call` runs a batch of calls with a
  client of either implementation and returns the outcomes as plain values.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.client.client import Client
from tests.interop._like_service import TRANSPORT_PATHS, like_transport_kwargs
from tests.interop.pysoa_side import calls as call_runner
from tests.interop.pysoa_side import tagged

__all__ = [
    "IMPLEMENTATIONS",
    "JSON_SERVICES",
    "MSGPACK_SERVICES",
    "Deployment",
    "PySOAScripts",
    "ServerProcess",
    "client_transport_kwargs",
    "server_transport_kwargs",
]

PYSOA_SIDE = Path(__file__).resolve().parent / "pysoa_side"
REPO_ROOT = Path(__file__).resolve().parents[2]
IMPLEMENTATIONS = ("pysoa", "like")
# Served with the msgpack default serializer (used by every combination except JSON over protocol v1,
# which carries no content-type, so both ends must default to JSON).
MSGPACK_SERVICES = ("interop", "interop_b")
JSON_SERVICES = ("interop_json", "interop_json_b")
# Both peers poll with this; PySOA only accepts whole seconds.
SERVER_RECEIVE_TIMEOUT = 1
CHUNK_BYTES = 200 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLIENT_RECEIVE_TIMEOUT = 20
_SCRIPT_TIMEOUT = 180
_STARTUP_TIMEOUT = 30.0


def _backend(hosts: Sequence[tuple[str, int]]) -> dict[str, Any]:
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [list(host) for host in hosts]}}


def server_transport_kwargs(hosts: Sequence[tuple[str, int]], serializer: str) -> dict[str, Any]:
    """Server transport kwargs in the JSON-friendly form ``run_server.py`` takes (serializer by name)."""
    return dict(
        _backend(hosts),
        receive_timeout_in_seconds=SERVER_RECEIVE_TIMEOUT,
        chunk_messages_larger_than_bytes=CHUNK_BYTES,
        maximum_message_size_in_bytes=MAX_MESSAGE_BYTES,
        default_serializer_config=serializer,
    )


def client_transport_kwargs(hosts: Sequence[tuple[str, int]], serializer: str, protocol_version: int) -> dict[str, Any]:
    """Client transport kwargs in the JSON-friendly form ``run_client.py`` takes (serializer by name)."""
    return dict(
        _backend(hosts),
        receive_timeout_in_seconds=CLIENT_RECEIVE_TIMEOUT,
        protocol_version=protocol_version,
        default_serializer_config=serializer,
    )


class PySOAScripts:
    """Runs the ``pysoa_side`` scripts with the PySOA venv's interpreter.

    Args:
        python: The PySOA venv's interpreter.
    """

    def __init__(self, python: Path) -> None:
        self.python = python

    def run(self, script: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Run ``pysoa_side/<script>`` with ``spec`` as JSON on stdin; return its JSON output.

        Fails the test (with the script's stderr) if it exits non-zero or prints no JSON.
        """
        command = [str(self.python), str(PYSOA_SIDE / script)]
        completed = subprocess.run(
            command,
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=_SCRIPT_TIMEOUT,
            check=False,
            env=_child_env(),
        )
        if completed.returncode != 0 or not completed.stdout.strip():
            pytest.fail(
                f"{script} in the PySOA venv exited with {completed.returncode}\n"
                f"--- stderr ---\n{completed.stderr[-8000:]}\n--- stdout ---\n{completed.stdout[-2000:]}",
                pytrace=False,
            )
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return result


def _child_env() -> dict[str, str]:
    # The PySOA venv must not see this process's venv or import path (it would find pysoa_like's deps).
    return {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}


class ServerProcess:
    """One server worker for one service, in its own process, stopped by PID.

    Args:
        implementation: ``"pysoa"`` (``pysoa_side/run_server.py`` in the PySOA venv), ``"like"``
            (``tests.interop._like_service`` with this interpreter) or ``"like-alo"`` (the same, delivering at
            least once).
        pysoa_python: The PySOA venv's interpreter.
        service_name: The service to serve.
        transport_kwargs: JSON-friendly server transport kwargs (:func:`server_transport_kwargs`).
        client_routing: Service name -> JSON-friendly client transport kwargs, for nested calls
            (PySOA side only: its ``forward`` action).
        server_settings: More server settings (pysoa_like side only), such as ``concurrency``.
    """

    def __init__(
        self,
        implementation: str,
        pysoa_python: Path,
        service_name: str,
        transport_kwargs: dict[str, Any],
        client_routing: dict[str, dict[str, Any]] | None = None,
        server_settings: dict[str, Any] | None = None,
    ) -> None:
        self.implementation = implementation
        self.service_name = service_name
        alo_settings = {"delivery": "at_least_once"} if implementation == "like-alo" else {}
        config = json.dumps(
            {
                "service_name": service_name,
                "transport_kwargs": transport_kwargs,
                "client_routing": client_routing or {},
                "server_settings": dict(server_settings or {}, **alo_settings),
            }
        )
        prefix = f"interop-{implementation}-{service_name}-"
        self._log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", delete=False)  # noqa: SIM115
        if implementation == "pysoa":
            command, cwd = [str(pysoa_python), str(PYSOA_SIDE / "run_server.py"), config], None
        else:
            command, cwd = [sys.executable, "-m", "tests.interop._like_service", config], str(REPO_ROOT)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, text=True, env=_child_env(), cwd=cwd
        )
        self.pid = self.process.pid

    def wait_ready(self) -> None:
        """Wait for the ``READY`` line; raise ``RuntimeError`` with the log if it does not come."""
        line: list[str] = []
        assert self.process.stdout is not None
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(_STARTUP_TIMEOUT)
        if not line or not line[0].startswith("READY"):
            self.stop()
            raise RuntimeError(f"{self.implementation} server {self.service_name!r} did not start:\n{self.log_tail()}")

    def log_tail(self, characters: int = 6000) -> str:
        """The end of the server's stderr (its warnings, errors and tracebacks)."""
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")[-characters:]

    def problem(self) -> str | None:
        """``None`` while the worker runs; else why it stopped, with its log."""
        if self.process.poll() is None:
            return None
        name = f"{self.implementation} server {self.service_name!r}"
        return f"{name} exited with {self.process.returncode}:\n{self.log_tail()}"

    def request_stop(self) -> None:
        """Send SIGTERM to the PID (the worker finishes its current receive, then exits)."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM the PID, SIGKILL it if it does not exit within 10 s, and remove the log."""
        self.request_stop()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


class Deployment:
    """Every interop service served by one implementation on one Redis topology.

    Args:
        server_implementation: ``"pysoa"``, ``"like"`` or ``"like-alo"`` (see :class:`ServerProcess`).
        hosts: The Redis masters, in ring order.
        scripts: Runs PySOA-side scripts (for PySOA servers and clients).
        services: ``{service name: default serializer name}`` to serve.
    """

    def __init__(
        self, server_implementation: str, hosts: list[tuple[str, int]], scripts: PySOAScripts, services: dict[str, str]
    ) -> None:
        self.server_implementation = server_implementation
        self.hosts = hosts
        self.scripts = scripts
        self.services = services
        self._servers: list[ServerProcess] = []

    def start(self) -> Deployment:
        """Start one worker per service and wait until each is ready; returns ``self``."""
        try:
            for name, serializer in self.services.items():
                kwargs = server_transport_kwargs(self.hosts, serializer)
                self._servers.append(ServerProcess(self.server_implementation, self.scripts.python, name, kwargs))
            for server in self._servers:
                server.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every worker by PID (all signalled first, so they wind down together)."""
        for server in self._servers:
            server.request_stop()
        for server in self._servers:
            server.stop()
        self._servers = []

    def problems(self) -> list[str]:
        """Why any worker stopped (empty while all run)."""
        return [problem for server in self._servers if (problem := server.problem())]

    def call(
        self, client_implementation: str, services: dict[str, tuple[str, int]], calls: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Run ``calls`` with one client of ``client_implementation`` and return the decoded outcomes.

        Args:
            client_implementation: ``"pysoa"`` (a subprocess in the PySOA venv) or ``"like"`` (in-process).
            services: ``{service name: (serializer name, protocol version)}`` for the client's config.
            calls: ``[{"method": ..., "kwargs": {...}}]`` with plain (untagged) kwargs.

        Returns:
            One outcome per call: ``{"result": value}`` or ``{"exception": {"type", "message", ...}}``.
        """
        tagged_calls = [{"method": call["method"], "kwargs": tagged.encode(call["kwargs"])} for call in calls]
        config = {
            name: client_transport_kwargs(self.hosts, serializer, version)
            for name, (serializer, version) in services.items()
        }
        if client_implementation == "pysoa":
            outcomes = self.scripts.run("run_client.py", {"services": config, "calls": tagged_calls})["outcomes"]
        else:
            client = Client(
                {
                    name: {"transport": {"path": TRANSPORT_PATHS["client"], "kwargs": like_transport_kwargs(kwargs)}}
                    for name, kwargs in config.items()
                }
            )
            outcomes = json.loads(json.dumps(call_runner.run_calls(client, tagged_calls)))
        problems = self.problems()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)
        return [{kind: tagged.decode(value) for kind, value in outcome.items()} for outcome in outcomes]
