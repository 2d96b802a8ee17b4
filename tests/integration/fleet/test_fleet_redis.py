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

        def use() -> None:
            try:
                fleet.client_at(0)
            except BaseException as exc:
                failures.append(exc)

        # Given a thread asking the Sentinel, its question sent and never answered
        asking = threading.Thread(target=use, name="asking", daemon=True)
        asking.start()
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
