"""A caller that watches workers learns within seconds that the worker handling its request died."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallJobError
from tests.functional.conftest import CLIENT_TRANSPORT, SERVICE, Runner, wait_for, who


def _watching_settings(redis_url: str) -> dict[str, Any]:
    kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [redis_url]},
        "detect_dead_workers": True,
    }
    return {SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}}


@pytest.fixture
def watching_client(redis_url: str) -> Client:
    """A client of the functional service whose transport has ``detect_dead_workers`` on."""
    return Client(_watching_settings(redis_url))


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


def _holder_pid(raw_redis: redis.Redis, known: set[bytes]) -> tuple[bytes, int]:
    """The liveness key that is not among ``known`` (waited for), and the pid of the worker it names."""
    [key] = wait_for(lambda: [key for key in raw_redis.keys("pysoa:*.worker.*") if key not in known], timeout=5)
    holder = raw_redis.get(key)
    assert holder is not None
    return key, int(holder.split(b":")[-1])


class _LagProbe:
    """The longest the event loop went without running a 10 ms ticker (how long something held it)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.worst = max(self.worst, now - last - 0.01)
            last = now

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._tick())

    def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()


def test_a_killed_workers_async_caller_is_told_within_seconds_and_the_other_call_answered(
    start_runner: Callable[..., Runner], redis_url: str, raw_redis: redis.Redis
) -> None:
    """AsyncClient: SIGKILL of the worker 0.5 s into a 20 s job gets its caller WORKER_DIED within about 4 s,
    while a 3 s job of the same client on the other worker gets its reply; the loop is never held meanwhile."""
    start_runner(fork=2)

    async def scenario() -> tuple[BaseException | None, Any, float]:
        probe = _LagProbe()
        probe.start()
        async with AsyncClient(_watching_settings(redis_url)) as client:
            doomed = asyncio.ensure_future(client.call_action(SERVICE, "sleep", {"seconds": 20}, timeout=20))
            first_key, pid = await asyncio.to_thread(_holder_pid, raw_redis, set())
            survivor = asyncio.ensure_future(client.call_action(SERVICE, "sleep", {"seconds": 3}, timeout=20))
            _key, other_pid = await asyncio.to_thread(_holder_pid, raw_redis, {first_key})
            assert other_pid != pid
            await asyncio.sleep(0.5)
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            failure = None
            try:
                await doomed
            except CallJobError as exc:
                failure = exc
            told_after = time.monotonic() - killed
            answered = await survivor
        probe.stop()
        assert probe.worst < 0.5, probe.worst
        return failure, answered.body, told_after

    failure, answered, told_after = asyncio.run(scenario())
    assert isinstance(failure, CallJobError)
    assert told_after < 6
    [error] = failure.errors
    assert error.code == "WORKER_DIED"
    assert "worker handling this request died" in error.message
    assert answered["slept"] == 3


def test_watched_async_calls_short_long_and_many_are_answered_normally(
    start_runner: Callable[..., Runner], redis_url: str, raw_redis: redis.Redis
) -> None:
    """AsyncClient: a 2.5 s call (its liveness key seen several times) and 50 quick calls gathered with it get
    their replies, none taken for a dead worker's; no liveness key is left."""
    start_runner(fork=2)

    async def scenario() -> tuple[Any, list[Any]]:
        async with AsyncClient(_watching_settings(redis_url)) as client:
            long_call = client.call_action(SERVICE, "sleep", {"seconds": 2.5}, timeout=10)
            quick = [client.call_action(SERVICE, "echo", {"n": n}, timeout=10) for n in range(50)]
            long_response, *quick_responses = await asyncio.gather(long_call, *quick)
        return long_response.body, [response.body for response in quick_responses]

    long_body, quick_bodies = asyncio.run(scenario())
    assert long_body["slept"] == 2.5
    assert [body["body"] for body in quick_bodies] == [{"n": n} for n in range(50)]
    wait_for(lambda: not raw_redis.keys("pysoa:*.worker.*"), timeout=2)
