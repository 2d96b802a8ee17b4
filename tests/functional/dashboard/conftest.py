"""The example services (``make demo``'s) and a ``pysoa-like dashboard`` process, shared by the dashboard tests.

Started once for the package on the functional tests' Redis, stopped at its end: the services under the
standalone runner (calculator with two workers, report with one), the dashboard on a free port.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.test.redis import RedisServerProcess
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for

_SERVICES = {"calculator": ("examples.services:CalculatorServer", 2), "report": ("examples.services:ReportServer", 1)}


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` and parse its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.fixture(scope="package")
def demo_redis_url(redis_server: RedisServerProcess) -> str:
    """The functional Redis, flushed once for the dashboard tests."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="package")
def demo_client(demo_redis_url: str) -> Client:
    """A client of the example services."""
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [demo_redis_url]}},
    }
    return Client({name: {"transport": transport} for name in _SERVICES})


def _answers(client: Client, service: str) -> bool:
    try:
        client.call_action(service, "status", {"verbose": False}, timeout=1)
        return True
    except Exception:
        return False


@pytest.fixture(scope="package")
def demo_services(
    demo_redis_url: str, demo_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, int]]:
    """The example services running (service -> worker count), until the package's tests are done."""
    logs = tmp_path_factory.mktemp("demo-services")
    runners: list[Runner] = []
    try:
        for name, (server, workers) in _SERVICES.items():
            command = [sys.executable, "-m", "pysoa_like", "serve", server, "--settings", f"examples.settings_{name}"]
            command += ["--fork", str(workers)]
            env = {"PYSOA_LIKE_DEMO_REDIS_URL": demo_redis_url}
            runners.append(spawn_runner(command, env, logs / f"{name}.log"))
        for name in _SERVICES:
            wait_for(lambda name=name: _answers(demo_client, name), timeout=30)  # type: ignore[misc]
        yield {name: workers for name, (_, workers) in _SERVICES.items()}
    finally:
        for runner in runners:
            if runner.process.poll() is None:
                with contextlib.suppress(Exception):
                    runner.terminate(15)
        kill_runners(runners)


@pytest.fixture(scope="package")
def dashboard_url(
    demo_redis_url: str, demo_services: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of a running ``pysoa-like dashboard`` (reads every half second, one chart point a second)."""
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    command = [sys.executable, "-m", "pysoa_like", "dashboard", "--redis-url", demo_redis_url, "--port", "0"]
    command += ["--interval", "0.5", "--resolution", "1", "--history", "2"]
    runner = spawn_runner(command, {}, log)
    try:
        runner.wait_for_log("(Ctrl-C stops it)", timeout=30)
        match = re.search(r"on (http://\S+/) ", runner.log())
        assert match is not None, runner.log()
        url = match.group(1)
        wait_for(lambda: get_json(url + "healthz")["ok"], timeout=10)
        yield url
    finally:
        if runner.process.poll() is None:
            runner.terminate(15)
        kill_runners([runner])


@pytest.fixture
def overview(dashboard_url: str) -> Callable[[], Any]:
    """Fetch the dashboard's overview JSON."""
    return lambda: get_json(dashboard_url + "api/overview")
