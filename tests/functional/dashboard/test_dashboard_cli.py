"""``pysoa-like dashboard`` refusing what it cannot do, stopping cleanly, and its view of an unreachable Redis."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pysoa_like.dashboard import DashboardState
from pysoa_like.fleet.redis import FleetRedis
from tests.functional.conftest import REPO_ROOT, kill_runners, spawn_runner


def _dashboard(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pysoa_like", "dashboard", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_port_in_use_is_one_error_line_and_exit_2() -> None:
    """Listening on a port taken by another process fails with one line naming the address."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = _dashboard("--redis-url", "redis://127.0.0.1:6399/0", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"pysoa-like dashboard: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_nonsense_options_are_refused_before_listening() -> None:
    """A bad port, a history shorter than a chart point, a NaN/infinite time or a malformed --allowed-host is a
    usage error (NaN, inf or a wildcard not of the form *.example.com was a traceback); no Redis named is one too."""
    assert "--port must be between 0 and 65535" in _dashboard("--redis-url", "redis://x:1/0", "--port", "70000").stderr
    refused = _dashboard("--redis-url", "redis://x:1/0", "--history", "0.01", "--resolution", "5")
    assert refused.returncode == 2 and "--history at least one resolution" in refused.stderr
    for flag, value in (("--interval", "nan"), ("--resolution", "nan"), ("--history", "inf")):
        infinite = _dashboard("--redis-url", "redis://x:1/0", flag, value)
        assert (infinite.returncode, infinite.stderr) == (
            2,
            "pysoa-like dashboard: error: --interval, --resolution and --history must be finite numbers\n",
        )
    nowhere = subprocess.run(
        [sys.executable, "-m", "pysoa_like", "dashboard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert nowhere.returncode == 2 and "--redis-url" in nowhere.stderr
    wildcard = _dashboard("--redis-url", "redis://x:1/0", "--allowed-host", "api.*")
    assert (wildcard.returncode, wildcard.stderr.count("\n")) == (2, 1), wildcard.stderr  # was a traceback
    assert wildcard.stderr.startswith("pysoa-like dashboard: error: --allowed-host: 'api.*' is not a host name")


def test_an_unreachable_redis_is_reported_and_the_last_view_kept() -> None:
    """When Redis cannot be read the overview says so (the problem) and keeps serving what it knew."""
    fleet = FleetRedis("redis.standard", {"hosts": [f"redis://127.0.0.1:{_closed_port()}/0"]})
    state = DashboardState(fleet, resolution=1.0, window=60.0)
    try:
        state.poll()
        overview = state.overview()
    finally:
        fleet.close()
    assert "Redis failed" in overview["problem"] and "Connection refused" in overview["problem"]
    assert overview["services"] == [] and overview["polled_at"] is None


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_dashboard_cleanly_with_exit_0(stop: signal.Signals, tmp_path: Path) -> None:
    """SIGTERM (a container stop) or SIGINT (Ctrl-C) shuts the page down and the command exits 0, not -15."""
    command = [sys.executable, "-m", "pysoa_like", "dashboard", "--redis-url", "redis://127.0.0.1:6399/0"]
    runner = spawn_runner([*command, "--port", "0"], {}, tmp_path / "dashboard.log")
    try:
        runner.wait_for_log("(Ctrl-C stops it)", timeout=30)
        runner.process.send_signal(stop)
        assert runner.process.wait(30) == 0
        assert "Traceback" not in runner.log()
    finally:
        kill_runners([runner])
