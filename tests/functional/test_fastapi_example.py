"""The FastAPI example (examples/fastapi_app.py) served by uvicorn, calling the example services over a real Redis."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.test.redis import RedisServerProcess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SERVICES = {"calculator": "examples.services:CalculatorServer", "report": "examples.services:ReportServer"}


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The example app under uvicorn, with both example services, over a throwaway Redis."""
    with RedisServerProcess() as redis_server:
        env = dict(os.environ, PYSOA_LIKE_DEMO_REDIS_URL=redis_server.url, PYTHONPATH=ROOT)
        processes: list[subprocess.Popen[Any]] = []
        try:
            for service, server_class in _SERVICES.items():
                command = [sys.executable, "-m", "pysoa_like", "serve", server_class]
                processes.append(
                    subprocess.Popen([*command, "--settings", f"examples.settings_{service}"], cwd=ROOT, env=env)
                )
            app = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app", "--port", "0", "--host", "127.0.0.1"],
                cwd=ROOT,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            processes.append(app)
            assert app.stderr is not None
            deadline = time.monotonic() + 60
            url = None
            while url is None and time.monotonic() < deadline:
                line = app.stderr.readline()
                if not line and app.poll() is not None:
                    break
                found = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
                url = found.group(1) if found else None
            assert url is not None, "uvicorn did not start"
            # Its log goes on (a line per request): read it, or a full pipe would stall the app.
            drain = threading.Thread(target=app.stderr.read, daemon=True)
            drain.start()
            yield url
        finally:
            for process in reversed(processes):
                _stop(process)
            for process in processes:
                if process.stderr is not None:
                    process.stderr.close()


def _get(url: str, timeout: float = 20) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_endpoint_calls_a_service_through_the_apps_asyncclient(app_url: str) -> None:
    """/square/7 answers the calculator's square; the nested report call works too."""
    deadline = time.monotonic() + 30
    while True:  # the services may still be starting
        status, body = _get(f"{app_url}/square/7")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (status, body) == (200, {"square": 49})
    assert _get(f"{app_url}/sum_of_squares?numbers=1&numbers=2&numbers=3") == (200, {"sum_of_squares": 14})


def test_a_services_caller_error_is_a_400_with_its_errors(app_url: str) -> None:
    """The calculator refusing an empty list is HTTP 400 with the service's error."""
    status, body = _get(f"{app_url}/add")
    assert status == 400
    assert body["detail"][0]["code"] == "EMPTY"


def test_concurrent_requests_share_the_client_and_ping_stays_fast(app_url: str) -> None:
    """Fifty concurrent requests all get their own squares, and /ping answers meanwhile (a generous bound)."""
    _get(f"{app_url}/square/1")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        squares = [pool.submit(_get, f"{app_url}/square/{n}") for n in range(50)]
        started = time.monotonic()
        assert _get(f"{app_url}/ping") == (200, {"pong": True})
        ping_seconds = time.monotonic() - started
        results = [future.result() for future in squares]
    assert results == [(200, {"square": n * n}) for n in range(50)]
    assert ping_seconds < 2
