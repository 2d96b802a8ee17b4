"""A caller that watches workers learns within seconds that the worker handling its request died."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallJobError
from tests.functional.conftest import CLIENT_TRANSPORT, SERVICE, Runner, wait_for, who


@pytest.fixture
def watching_client(redis_url: str) -> Client:
    """A client of the functional service whose transport has ``detect_dead_workers`` on."""
    kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [redis_url]},
        "detect_dead_workers": True,
    }
    return Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})


def test_a_killed_workers_caller_is_told_within_seconds(
    start_runner: Callable[..., Runner], watching_client: Client, raw_redis: redis.Redis
) -> None:
    """SIGKILL of the worker 0.5 s into a 20 s job: the caller gets WORKER_DIED within about 4 s, not after 20 s.

    While it holds the request, the worker is visible in Redis: the request's liveness key names its host and pid.
    """
    start_runner(fork=2)
    future = watching_client.call_action_future(SERVICE, "sleep", {"seconds": 20}, timeout=20)
    [key] = wait_for(lambda: raw_redis.keys("pysoa:*.worker.*"), timeout=5)
    holder = raw_redis.get(key)
    assert holder is not None
    pid = int(holder.split(b":")[-1])
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    with pytest.raises(CallJobError) as failure:
        future.result()
    assert time.monotonic() - killed < 6
    [error] = failure.value.errors
    assert error.code == "WORKER_DIED"
    assert "worker handling this request died" in error.message


def test_watched_calls_short_and_long_are_answered_normally(
    start_runner: Callable[..., Runner], watching_client: Client, raw_redis: redis.Redis
) -> None:
    """A quick call and a 2.5 s one (its liveness key seen several times) get their replies; no key is left."""
    runner = start_runner(fork=1)
    assert who(watching_client)["pid"] == runner.pid
    assert watching_client.call_action(SERVICE, "sleep", {"seconds": 2.5}, timeout=10).body["slept"] == 2.5
    # The key goes right after the reply is pushed (a client that sees it gone finds the reply), so it may
    # outlive the reply's arrival by a round trip of the worker's.
    wait_for(lambda: not raw_redis.keys("pysoa:*.worker.*"), timeout=2)
