"""`make demo`: the example services run as worker processes over an embedded Redis."""

from __future__ import annotations

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once it is not running.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_demo_over_embedded_redis_prints_results_and_leaves_no_process() -> None:
    """The demo prints every call's result over Redis and stops Redis and every worker it started."""
    result = subprocess.run(
        [sys.executable, "examples/demo.py"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "single call  square(7):                {'square': 49}" in out
    assert "parallel     square(1..3):             [1, 4, 9]" in out
    assert "EMPTY on field 'numbers'" in out
    assert "INVALID on field 'number'" in out
    assert out.count("demo-correlation-1") == 3
    assert "Stopped the services" in out and "Stopped the embedded Redis" in out
    pids = [int(p) for p in re.findall(r"\(runner pid (\d+)\)|\(pid (\d+)\)", out) for p in p if p]
    assert len(pids) == 3
    assert not [pid for pid in pids if _alive(pid)]


def _run_demo(*args: str) -> str:
    """Run the demo with ``args``; its stdout, after checking it exited 0 and left none of its processes running."""
    result = subprocess.run(
        [sys.executable, "examples/demo.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    pids = [int(p) for p in re.findall(r"\(runner pid (\d+)\)|\(pid (\d+)\)", result.stdout) for p in p if p]
    assert len(pids) == 4, result.stdout
    assert not [pid for pid in pids if _alive(pid)]
    return result.stdout


def test_demo_with_the_dashboard_prints_its_url_and_stops_it() -> None:
    """With --dashboard the demo serves the dashboard, prints its URL, keeps calling, then stops everything."""
    out = _run_demo("--dashboard", "0", "--duration", "3")
    assert re.search(r"^Dashboard: http://127\.0\.0\.1:\d+/  \(calling the services until Ctrl-C\)$", out, re.M), out
    assert re.search(r"^Made [1-9]\d* rounds of calls$", out, re.M), out
    assert "Stopped the dashboard" in out and "Stopped the services" in out


def test_demo_with_the_gateway_calls_it_prints_its_url_and_stops_it() -> None:
    """With --gateway the demo serves the HTTP gateway, calls it each way, prints its URL, then stops everything."""
    out = _run_demo("--gateway", "0", "--duration", "2")
    assert "HTTP  POST /calculator/square 7:       (200, {'square': 49})" in out
    assert "HTTP  POST /calculator/add []:         (400, 'EMPTY')" in out
    assert "HTTP  POST /calculator (a job):        (200, [{'square': 9}, {'sum': 3}])" in out
    assert re.search(r"^Gateway: (http://127\.0\.0\.1:\d+/)  \(docs: \1docs\)$", out, re.M), out
    assert "Stopped the gateway" in out and "Stopped the services" in out
