"""Harakiri: stuck requests are interrupted and answered (run in a subprocess: it uses SIGALRM)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pysoa_like.server._harakiri import Harakiri, HarakiriInterrupt, format_thread_stacks
from pysoa_like.server.exit_codes import EXIT_FAILURE
from pysoa_like.server.server import HarakiriInterrupt as PublicHarakiriInterrupt

_REPO = Path(__file__).resolve().parents[3]


def _run_script(mode: str) -> tuple[dict[str, Any], str]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.server._harakiri_script", mode],
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_stuck_action_gets_action_timeout_and_the_server_stops() -> None:
    """An action outliving harakiri.timeout is answered with ACTION_TIMEOUT; the loop then ends; stacks are logged."""
    output, log = _run_script("action")
    assert output["elapsed"] < 5
    (request_id, _, body), *rest = output["responses"]
    assert request_id == 7 and rest == []
    error = body["actions"][0]["errors"][0]
    assert error["code"] == "ACTION_TIMEOUT"
    assert error["message"] == 'The action "stuck" ran for too long and had to be interrupted.'
    assert error["is_caller_error"] is False
    assert "Thread MainThread" in log


def test_an_overridden_harakiri_is_what_the_alarm_calls() -> None:
    """run() installs Server.harakiri (PySOA's name) for SIGALRM: a subclass's override gets the alarm, and its
    super() call still answers the stuck action with ACTION_TIMEOUT and stops the server."""
    output, _ = _run_script("override")
    assert output["alarms"] == [signal.SIGALRM]
    (request_id, _, body), *rest = output["responses"]
    assert request_id == 7 and rest == []
    assert body["actions"][0]["errors"][0]["code"] == "ACTION_TIMEOUT"
    assert output["exit_code"] == EXIT_FAILURE


def test_harakiri_outside_a_job_stops_the_server_with_a_failure_exit_code() -> None:
    """A receive that hangs (Redis stopped answering) is cut by harakiri; the server stops with exit_code 1."""
    output, log = _run_script("receive")
    assert output["elapsed"] < 5
    assert output["exit_code"] == EXIT_FAILURE
    assert "Harakiri interrupted the server loop outside a job; shutting down" in log


def test_a_stuck_action_stops_the_server_with_a_failure_exit_code() -> None:
    """After harakiri answered a stuck action the server stops with exit_code 1, so a supervisor restarts it."""
    output, _ = _run_script("action")
    assert output["exit_code"] == EXIT_FAILURE


def test_stuck_job_middleware_gets_job_timeout() -> None:
    """Harakiri in job middleware is answered with a job-level JOB_TIMEOUT."""
    output, _ = _run_script("middleware")
    body = output["responses"][0][2]
    assert body["actions"] == []
    assert [e["code"] for e in body["errors"]] == ["JOB_TIMEOUT"]
    assert "(probably a middleware issue)" in body["errors"][0]["message"]


def test_harakiri_interrupt_is_a_base_exception_at_the_public_path() -> None:
    """HarakiriInterrupt is importable from pysoa_like.server.server and escapes `except Exception`."""
    assert PublicHarakiriInterrupt is HarakiriInterrupt
    assert not issubclass(HarakiriInterrupt, Exception)


def test_alarm_while_shutting_down_exits_immediately() -> None:
    """A second alarm (the grace period ran out) runs the atexit functions, then exits with code 1."""
    exits: list[int] = []
    ran_exit_functions = threading.Event()
    harakiri = Harakiri(
        1,
        1,
        lambda: None,
        logging.getLogger("test"),
        exit_function=exits.append,
        run_exit_functions=ran_exit_functions.set,
    )
    harakiri.fired = True
    harakiri.handle_alarm(14, None)
    assert exits == [1]
    assert ran_exit_functions.is_set()


def test_disabled_harakiri_installs_nothing() -> None:
    """A timeout of 0 turns harakiri off: no SIGALRM handler is installed."""
    harakiri = Harakiri(0, 30, lambda: None, logging.getLogger("test"))
    harakiri.install()
    harakiri.arm()
    assert not harakiri.enabled
    harakiri.uninstall()


def test_thread_stacks_name_every_thread() -> None:
    """The stack dump names the main thread and shows this test's frame."""
    dump = format_thread_stacks()
    assert "Thread MainThread" in dump and "test_thread_stacks_name_every_thread" in dump


def test_harakiri_metric_is_counted() -> None:
    """The server counts server.error.harakiri with the harakiri_level tag (checked in-process via the pipeline)."""
    from pysoa_like.common.metrics import CountingMetricsRecorder
    from pysoa_like.common.types import ActionResponse
    from tests.unit.server._helpers import job, make_server

    def interrupted(settings: Any) -> Any:
        def run(request: Any) -> ActionResponse:
            raise HarakiriInterrupt()

        return run

    server = make_server({"stuck": interrupted}, metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"})
    response = server.process_job(job("stuck", "stuck", control={"continue_on_error": True}))
    recorder = server.metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    assert recorder.get_count("server.error.harakiri") == 1
    assert recorder.get_tags("counter", "server.error.harakiri") == {"harakiri_level": "action"}
    assert [a.action for a in response.actions] == ["stuck"]
