"""A Django service (SQLite) run with django_main: settings from Django, DB and cache hygiene per request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pysoa_like.client.client import Client
from tests.functional.conftest import REPO_ROOT, SERVICE, kill_groups, wait_for


def _probe(client: Client) -> dict[str, object] | None:
    try:
        body: dict[str, object] = client.call_action(SERVICE, "probe", {}, timeout=2).body
        return body
    except Exception:
        return None


def test_django_service_resets_queries_and_closes_request_caches(
    redis_url: str, client: Client, tmp_path: Path
) -> None:
    """Each request starts with an empty query log and request cache, while the process cache persists."""
    env = dict(
        os.environ,
        FUNCTIONAL_REDIS_URL=redis_url,
        FUNCTIONAL_SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        PYTHONPATH=str(REPO_ROOT),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [
        sys.executable,
        "-m",
        "tests.functional.django_project.standalone",
        "-s",
        "tests.functional.django_project.settings",
    ]
    log_path = tmp_path / "django.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        first = wait_for(lambda: _probe(client), timeout=15)
        second = _probe(client)
        assert first["answer"] == 42 and first["left_over"] is None
        assert second == {"answer": 42, "queries_before": 0, "left_over": None, "calls": first["calls"] + 1}  # type: ignore[operator]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        kill_groups([process])
        print(log_path.read_text(errors="replace"))
