"""Closed connections are replaced without the caller noticing, and a frozen Redis never holds a call long."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import TransientPySOATransportError
from pysoa_like.test.redis import RedisServerProcess
from tests.functional.conftest import SERVICE, Runner, who

# READ_MARGIN_SECONDS plus the quarter-second rounding of socket timeouts (docs/redis_transport.rst).
_DOCUMENTED_MARGIN_SECONDS = 1.25


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServerProcess]:
    """A Redis of this test's own; ``@pytest.mark.parametrize("redis_server", [[...args]], indirect=True)``
    passes it command line arguments."""
    extra_args = getattr(request, "param", [])
    with RedisServerProcess(extra_args=extra_args) as server:
        yield server


@pytest.mark.parametrize("redis_server", [["--timeout", "1"]], indirect=True)
def test_calls_spaced_beyond_an_idle_timeout_all_work(start_runner: Callable[..., Runner], client: Client) -> None:
    """With ``redis-server --timeout 1`` (as managed services and proxies do), calls 1.3 s apart all succeed.

    Client and worker connections are closed by Redis between calls; each is found closed before its next
    command and replaced (PySOA's pool did the same; lanes used to fail 11 calls of 12).
    """
    runner = start_runner(fork=1)
    for _ in range(5):
        time.sleep(1.3)
        assert who(client, timeout=5)["pid"] == runner.pid


@pytest.mark.parametrize("redis_server", [["--timeout", "1"]], indirect=True)
def test_replies_of_jobs_longer_than_the_idle_timeout_are_delivered(
    start_runner: Callable[..., Runner], client: Client
) -> None:
    """A worker whose connection Redis closed while a 2.5 s job ran sends the reply on a new one (none was lost)."""
    start_runner(fork=1)
    for _ in range(2):
        assert client.call_action(SERVICE, "sleep", {"seconds": 2.5}, timeout=8).body["slept"] == 2.5


def test_a_job_whose_connections_are_killed_while_it_runs_still_replies(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """``CLIENT KILL`` of every connection (worker's and caller's) during a job: the caller still gets the reply."""
    start_runner(fork=1)
    future = client.call_action_future(SERVICE, "sleep", {"seconds": 1.0}, timeout=6)
    time.sleep(0.4)
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    assert future.result().body["slept"] == 1.0


def test_the_first_call_of_an_idle_client_after_a_redis_restart_works(
    start_runner: Callable[..., Runner], client: Client, redis_server: RedisServerProcess
) -> None:
    """After Redis restarts, an idle client's next call succeeds (it failed with "Connection closed by server")."""
    runner = start_runner(fork=1)
    who(client)
    redis_server.restart()
    assert who(client, timeout=10)["pid"] == runner.pid


@pytest.mark.parametrize("timeout", [1, 2])
def test_a_frozen_redis_never_holds_a_call_past_its_timeout_and_the_margin(
    start_runner: Callable[..., Runner], client: Client, redis_server: RedisServerProcess, timeout: int
) -> None:
    """Redis stopped (SIGSTOP: connections stay up, nothing answers): a call ends within its timeout plus 1.25 s.

    With redis-py's default 5 s socket timeout a call with ``timeout=1`` took 5 s, one with 5 s took 7 s.
    """
    start_runner(fork=1)
    who(client)
    pid = redis_server.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(TransientPySOATransportError):
            client.call_action(SERVICE, "who", {}, timeout=timeout)
        elapsed = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert elapsed < timeout + _DOCUMENTED_MARGIN_SECONDS
