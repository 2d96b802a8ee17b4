"""Fixtures that run fleet services (``tests.functional.fleet.fleet_service``) under the standalone runner.

Each runner starts in its own session; the fixture kills what is left of each (by process group id)
at the end of the test, even after a failure.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.client.client import Client
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for

CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
SERVER_PATH = "tests.functional.fleet.fleet_service:FleetServer"
SETTINGS_MODULE = "tests.functional.fleet.fleet_service"
EVENTS_SERVER_PATH = "tests.functional.fleet.event_service:EventServer"
EVENTS_SETTINGS_MODULE = "tests.functional.fleet.event_service"
PERIODIC_SERVER_PATH = "tests.functional.fleet.periodic_service:PeriodicServer"
PERIODIC_SETTINGS_MODULE = "tests.functional.fleet.periodic_service"


def client_for(redis_url: str, *services: str, **extra: Any) -> Client:
    """A client of ``services`` (each with the settings in ``extra`` too) on ``redis_url``."""
    transport = {
        "path": CLIENT_TRANSPORT,
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}},
    }
    return Client({name: {"transport": transport, **extra} for name in services})


def _serving(client: Client, service: str) -> int:
    (info,) = client.list_services([service])
    return sum(1 for instance in info.instances if instance.state == "serving")


def answers(client: Client, service: str) -> bool:
    """Whether ``service`` answers a call within a second."""
    try:
        client.call_action(service, "who", {}, timeout=1)
        return True
    except Exception:
        return False


@pytest.fixture
def fleet_client(redis_url: str) -> Iterator[Client]:
    """A client of the ``fleet`` service (and of ``front``/``back``), on the test's Redis."""
    client = client_for(redis_url, "fleet", "front", "back", "events", "events_b", "periodic")
    yield client
    client.fleet_redis().close()


@pytest.fixture
def start_service(redis_url: str, tmp_path: Path, fleet_client: Client) -> Iterator[Callable[..., Runner]]:
    """``start(service="fleet", fork=2, wait_ready=True, **env)``: run a fleet service; stopped at the end."""
    runners: list[Runner] = []

    def start(
        service: str = "fleet",
        fork: int = 2,
        wait_ready: bool = True,
        events: bool = False,
        periodic: bool = False,
        **env: str,
    ) -> Runner:
        log_path = tmp_path / f"{service}-{len(runners)}.log"
        server, settings = (SERVER_PATH, SETTINGS_MODULE)
        if events:
            server, settings = (EVENTS_SERVER_PATH, EVENTS_SETTINGS_MODULE)
        if periodic:
            server, settings = (PERIODIC_SERVER_PATH, PERIODIC_SETTINGS_MODULE)
        command = [sys.executable, "-m", "pysoa_like", "serve", server, "--settings", settings, "--fork", str(fork)]
        serving_before = _serving(fleet_client, service)
        runner = spawn_runner(command, dict(FLEET_REDIS_URL=redis_url, FLEET_SERVICE=service, **env), log_path)
        runners.append(runner)
        if wait_ready:
            wait_for(lambda: answers(fleet_client, service), timeout=20)
            # Serving, as the registry says, once every worker is: each has made its consumer groups by then.
            wait_for(lambda: _serving(fleet_client, service) >= serving_before + max(fork, 1), timeout=20)
        return runner

    yield start
    kill_runners(runners)
