"""FleetRedis against Sentinels that do not answer: closing it waits neither for the discovery of the services nor
for the lookup of a master."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest

from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.test.redis import RedisSentinelProcess

_CLOSED = {
    "discovery": "No Redis for the fleet keys: The discovery of the Sentinel services was closed before one listed any",
    "master lookup": (
        "No Redis for the fleet keys on ring slot 0: Cannot get connection: the lookup of the master of service "
        "'main' was closed before a Sentinel named one"
    ),
}


@pytest.mark.parametrize("under_way", list(_CLOSED))
def test_close_returns_at_once_and_ends_what_another_thread_asks_the_sentinels(under_way: str) -> None:
    """close() while another thread asks a Sentinel that takes the connection and never answers (the Sentinels given
    15 s), to discover the services (no sentinel_services) or to look a master up, returns at once; that thread ends
    soon after with a FleetConnectionError saying it was closed, and its connection to the Sentinel is closed."""
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent.settimeout(10)
        layer: dict[str, Any] = {
            "hosts": [f"127.0.0.1:{silent.getsockname()[1]}"],
            "sentinel_kwargs": {"socket_connect_timeout": 15.0, "socket_timeout": 15.0},
        }
        if under_way == "master lookup":
            layer["sentinel_services"] = ["main"]
        fleet = FleetRedis("redis.sentinel", layer)
        failures: list[BaseException] = []
        # Given a thread asking the Sentinel, its question sent and never answered
        asking = _asking(fleet, failures)
        asked, _ = silent.accept()
        with asked:
            asked.settimeout(10)
            assert asked.recv(1024)
            # When the FleetRedis is closed
            started = time.monotonic()
            fleet.close()
            closing = time.monotonic() - started
            asking.join(5)
            # Then the Sentinel sees the connection closed
            while asked.recv(1024):
                pass
    # And close() returned at once (bounds generous for a loaded machine), the thread ended with a clear error
    assert closing < 2, closing
    assert not asking.is_alive()
    assert [str(failure) for failure in failures] == [_CLOSED[under_way]]
    assert isinstance(failures[0], FleetConnectionError)


def test_close_ends_a_master_lookup_waiting_between_failover_retries() -> None:
    """close() while another thread waits to ask the Sentinels again (sentinel_failover_retries, no master known)
    returns at once and ends that wait (it waited for the backoff: several seconds by the fifth retry)."""
    with RedisSentinelProcess([]) as sentinel:
        layer = {"hosts": [sentinel.address], "sentinel_services": ["main"], "sentinel_failover_retries": 5}
        fleet = FleetRedis("redis.sentinel", layer)
        failures: list[BaseException] = []
        # Given a thread in its fifth backoff (the backoffs end by 0.5, 1.25, 2.5, 4.75 s; the fifth lasts 4 to 4.25 s)
        asking = _asking(fleet, failures)
        time.sleep(5.0)
        assert asking.is_alive()
        # When the FleetRedis is closed
        started = time.monotonic()
        fleet.close()
        closing = time.monotonic() - started
        asking.join(2)
    # Then close() returned at once (the backoff had 2.75 s or more to go), and the thread ended saying why
    assert closing < 1.5, closing
    assert not asking.is_alive()
    assert [str(failure) for failure in failures] == [_CLOSED["master lookup"]]


def _asking(fleet: FleetRedis, failures: list[BaseException]) -> threading.Thread:
    """A started thread getting ring slot 0's client of ``fleet``, its failure appended to ``failures``."""

    def use() -> None:
        try:
            fleet.client_at(0)
        except BaseException as exc:
            failures.append(exc)

    asking = threading.Thread(target=use, name="asking", daemon=True)
    asking.start()
    return asking
