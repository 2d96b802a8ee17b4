"""FleetRedis against Sentinels that do not answer: closing it waits neither for the discovery of the services nor
for the lookup of a master, nor for a connection to a Sentinel being made for them; nor does closing an AsyncClient
reading the fleet from asyncio."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.test.redis import RedisSentinelProcess
from tests.integration._async_closing import closed_while_under_way

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
        fleet = _fleet_of(silent, 15.0, under_way)
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


@pytest.mark.parametrize("under_way", list(_CLOSED))
def test_close_returns_at_once_while_another_thread_is_still_connecting_to_a_sentinel(under_way: str) -> None:
    """close() while another thread's connection to a Sentinel is not yet made (its listen queue is full: the
    connection waits for the Sentinels' 4 s socket_connect_timeout), to discover the services or look a master up,
    returns at once (it waited for the connection to time out during a master lookup); that thread ends at the
    timeout with a FleetConnectionError saying it was closed."""
    with _sentinel_whose_queue_is_full() as listening:
        # Given a thread connecting to the Sentinel, when the FleetRedis is closed
        asking, failures, closing = _closed_while_asking(_fleet_of(listening, 4.0, under_way), 0.5)
        asking.join(10)
    # Then close() returned at once (the connection had 3.5 s to go), and the thread ended saying why
    assert closing < 2, closing
    assert not asking.is_alive()
    assert [str(failure) for failure in failures] == [_CLOSED[under_way]]


def test_a_sentinel_connection_made_after_close_is_closed_when_the_lookup_ends() -> None:
    """A master lookup whose connection to a Sentinel is made only after close() (the Sentinel's listen queue was
    full until then) asks its question, and ends with the closed FleetConnectionError, closing that connection
    (close() no longer waits for the lookup, so no later close() of its own would)."""
    with RedisSentinelProcess([]) as sentinel, _sentinel_whose_queue_is_full() as listening:
        # Given a thread connecting to a Sentinel whose queue is full, and the FleetRedis closed meanwhile
        asking, failures, _ = _closed_while_asking(_fleet_of(listening, 4.0, "master lookup"), 0.5)
        # When the Sentinel takes the connection (at the thread's next SYN), relayed to a real Sentinel
        with _first_speaking(listening) as asked, socket.create_connection(sentinel.address, timeout=5) as real:
            relay = threading.Thread(target=_pipe, args=(real, asked), daemon=True)
            relay.start()
            closed_by_the_thread = _pipe(asked, real)
            asking.join(5)
    # Then the thread ended saying it was closed, and had closed its connection to the Sentinel
    assert not asking.is_alive()
    assert [str(failure) for failure in failures] == [_CLOSED["master lookup"]]
    assert closed_by_the_thread


def _fleet_of(sentinel: socket.socket, timeout: float, under_way: str) -> FleetRedis:
    """A FleetRedis whose one Sentinel is the listening socket ``sentinel`` (``timeout`` seconds to connect and to
    read), with the service configured for a master lookup, or to be discovered."""
    layer: dict[str, Any] = {
        "hosts": [f"127.0.0.1:{sentinel.getsockname()[1]}"],
        "sentinel_kwargs": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
    }
    if under_way == "master lookup":
        layer["sentinel_services"] = ["main"]
    return FleetRedis("redis.sentinel", layer)


@contextlib.contextmanager
def _sentinel_whose_queue_is_full() -> Iterator[socket.socket]:
    """A listening socket that accepts nothing, its queue filled, so a new connection to it is not made (until the
    test accepts)."""
    with socket.socket() as listening, contextlib.ExitStack() as stack:
        listening.bind(("127.0.0.1", 0))
        listening.listen(0)
        port = listening.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip("this system completes connections to a listener whose queue is full")
        yield listening


@contextlib.contextmanager
def _first_speaking(listening: socket.socket) -> Iterator[socket.socket]:
    """The first connection ``listening`` accepts that sends something (the queue's fillers send nothing)."""
    listening.settimeout(0.1)
    with contextlib.ExitStack() as stack:
        accepted: list[socket.socket] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                accepted.append(stack.enter_context(listening.accept()[0]))
            speaking, _, _ = select.select(accepted, [], [], 0)
            if speaking:
                speaking[0].settimeout(3)
                yield speaking[0]
                return
        raise AssertionError("no connection to the Sentinel was made")


def _pipe(source: socket.socket, target: socket.socket) -> bool:
    """Copy ``source``'s bytes to ``target``; whether ``source`` ended (else one of them failed or timed out)."""
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        return False
    return True


def test_close_ends_a_master_lookup_waiting_between_failover_retries() -> None:
    """close() while another thread waits to ask the Sentinels again (sentinel_failover_retries, no master known)
    returns at once and ends that wait (it waited for the backoff: several seconds by the fifth retry)."""
    with RedisSentinelProcess([]) as sentinel:
        layer = {"hosts": [sentinel.address], "sentinel_services": ["main"], "sentinel_failover_retries": 5}
        # Given a thread in its fifth backoff (the backoffs end by 0.5, 1.25, 2.5, 4.75 s; the fifth lasts 4 to 4.25 s),
        # when the FleetRedis is closed
        asking, failures, closing = _closed_while_asking(FleetRedis("redis.sentinel", layer), 5.0)
        asking.join(2)
    # Then close() returned at once (the backoff had 2.75 s or more to go), and the thread ended saying why
    assert closing < 1.5, closing
    assert not asking.is_alive()
    assert [str(failure) for failure in failures] == [_CLOSED["master lookup"]]


@pytest.mark.parametrize("under_way", list(_CLOSED))
def test_closing_an_async_client_ends_what_its_fleet_read_asks_the_sentinels(under_way: str) -> None:
    """AsyncClient.aclose() while its list_services asks a Sentinel that never answers (6 s socket timeout), to
    discover the services or look a master up, ends that at once with a FleetConnectionError saying it was closed
    (a discovery went on to the timeout after the close, and then said no Sentinel listed a service)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # takes the connection (the kernel's backlog), never answers
        client = AsyncClient({}, fleet=_fleet_of(silent, 6.0, under_way))

        failure, ended = asyncio.run(closed_while_under_way(client, client.list_services(), 0.5))
    # Then the read ended at once (the Sentinel had 5.5 s to go), saying why
    assert ended < 3, ended
    assert isinstance(failure, FleetConnectionError)
    expected = _CLOSED[under_way].split(": ", 1)[1]
    assert str(failure) == f"Redis failed while reading the service catalog: {expected}"


def _closed_while_asking(fleet: FleetRedis, after: float) -> tuple[threading.Thread, list[BaseException], float]:
    """``fleet`` closed ``after`` seconds into another thread's getting its ring slot 0's client (still under way then):
    that thread, the failures it ends with, and the seconds close() took."""
    failures: list[BaseException] = []
    asking = _asking(fleet, failures)
    time.sleep(after)
    assert asking.is_alive()
    started = time.monotonic()
    fleet.close()
    return asking, failures, time.monotonic() - started


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
