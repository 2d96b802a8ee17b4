"""The heartbeat file."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pysoa_like.server._heartbeat import HeartbeatFile, heartbeat_path
from tests.unit.server._helpers import make_server

_LOGGER = logging.getLogger("test.heartbeat")


def test_path_substitutes_pid_and_fork_id() -> None:
    """{{pid}} and {{fid}} are replaced; an unforked server's fork id is 'main'."""
    assert heartbeat_path("/tmp/hb-{{pid}}-{{fid}}", 42, 3) == "/tmp/hb-42-3"
    assert heartbeat_path("/tmp/hb-{{fid}}", 42, None) == "/tmp/hb-main"


def test_start_writes_a_timestamp_and_stop_deletes_the_file(tmp_path: Path) -> None:
    """Starting creates the file holding time.time(); stopping removes it."""
    path = tmp_path / "hb"
    heartbeat = HeartbeatFile(str(path), _LOGGER)
    heartbeat.start()
    assert abs(float(path.read_text()) - time.time()) < 5
    heartbeat.stop()
    assert not path.exists()


def test_beats_are_rate_limited(tmp_path: Path) -> None:
    """A beat within the interval does not rewrite the file; one after it does."""
    path = tmp_path / "hb"
    heartbeat = HeartbeatFile(str(path), _LOGGER, interval=0.2)
    heartbeat.beat(force=True)
    first = path.read_text()
    heartbeat.beat()
    assert path.read_text() == first
    time.sleep(0.25)
    heartbeat.beat()
    assert path.read_text() != first


def test_background_thread_beats_while_busy_but_not_when_stale(tmp_path: Path) -> None:
    """While a request runs the thread keeps beating; after stale_after without progress it stops."""
    path = tmp_path / "hb"
    heartbeat = HeartbeatFile(str(path), _LOGGER, stale_after=0.6, interval=0.1)
    heartbeat.start()
    try:
        first = path.read_text()
        time.sleep(0.35)
        assert path.read_text() != first
        time.sleep(0.5)
        stale = path.read_text()
        time.sleep(0.3)
        assert path.read_text() == stale
    finally:
        heartbeat.stop()


def test_server_run_creates_and_removes_the_heartbeat_file(tmp_path: Path) -> None:
    """run() creates the configured heartbeat file, beats when idle, and deletes it at shutdown."""
    template = str(tmp_path / "hb-{{fid}}")
    server = make_server(heartbeat_file=template)
    seen: list[bool] = []

    def idle() -> None:
        seen.append((tmp_path / "hb-main").exists())
        server.shutting_down = True

    server.perform_idle_actions = idle
    server.run()
    assert seen == [True]
    assert not (tmp_path / "hb-main").exists()
