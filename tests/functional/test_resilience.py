"""Calls that meet a sick service or a sick Redis, against real Redis and real server processes.

Each test states, for one failure, how long the caller waits and what it gets.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.errors import BulkheadFullError, CallActionError, CircuitOpenError
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError, QueueFullSendError
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for
from tests.functional.resilient_services import client_settings, serve_command, serve_environment

# A call's documented margin past its deadline, when Redis never answers (see docs/resilience.rst).
_MARGIN_SECONDS = 1.25


def make_client(url: str, transport_kwargs: dict[str, Any] | None = None, **settings: Any) -> Client:
    """A client of the three resilience services over ``url``."""
    return Client(client_settings(url, transport_kwargs, **settings))


#: Every shape of call, each through the same resilience steps.
SHAPES = ["blocking", "future", "parallel", "async", "async-parallel"]


class Caller:
    """Calls one action in one of the :data:`SHAPES`, with one client kept across calls (its breakers too)."""

    def __init__(self, shape: str, url: str, transport_kwargs: dict[str, Any] | None = None, **settings: Any) -> None:
        self.shape = shape
        config = client_settings(url, transport_kwargs, **settings)
        self.client = Client(config)
        self.async_client = AsyncClient(config)

    def __call__(self, service: str, action: str, body: dict[str, Any] | None = None, **options: Any) -> Any:
        """The action's response (or what the call raised)."""
        body = body or {}
        if self.shape == "blocking":
            return self.client.call_action(service, action, body, **options)
        if self.shape == "future":
            return self.client.call_action_future(service, action, body, **options).result()
        if self.shape == "parallel":
            (response,) = self.client.call_actions_parallel(service, [{"action": action, "body": body}], **options)
            return response

        async def call() -> Any:
            try:
                if self.shape == "async":
                    return await self.async_client.call_action(service, action, body, **options)
                jobs = [{"action": action, "body": body}]
                (response,) = await self.async_client.call_actions_parallel(service, jobs, **options)
                return response
            finally:
                await self.async_client.aclose()

        return asyncio.run(call())


@pytest.fixture
def start_service(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    """Start one worker of a resilience service (``first``, ``second`` or ``third``; optionally with the seconds it
    keeps for its own reply when it calls the next); stop them all at the end."""
    runners: list[Runner] = []
    probe = make_client(redis_url)

    def start(name: str, nested_call_margin: float | None = None) -> Runner:
        environment = serve_environment(redis_url, name, nested_call_margin)
        runner = spawn_runner(serve_command(name), environment, tmp_path / f"{name}.log")
        runners.append(runner)
        wait_for(lambda: _answers(probe, name), timeout=15)
        return runner

    yield start
    kill_runners(runners)


def _answers(client: Client, service: str) -> bool:
    try:
        client.call_action(service, "status", {"verbose": False}, timeout=1)
        return True
    except Exception:
        return False


def _remaining(log: str, service: str) -> list[float]:
    return [float(value) for value in re.findall(rf"hop {service} remaining=(-?[\d.]+)", log)]


# The chain's figures: the caller's timeout, the time each hop keeps for its own reply when it calls the next (wide,
# so that a loaded machine still answers in time) and how long each of first and second sleeps before that call.
_CHAIN_TIMEOUT, _CHAIN_MARGIN, _HOP_SLEEP = 5.0, 1.0, 0.5


def test_the_first_callers_deadline_bounds_a_chain_of_three_services(
    start_service: Callable[..., Runner], redis_url: str
) -> None:
    """first -> second -> third, third far too slow: the caller has first's answer (second's error) in time.

    Each hop sees less time than the one before, by its caller's sleep and margin, and second's call to third ends
    at second's deadline less its margin (about 3 s in), so first has second's error before its own call to second
    would have timed out (4 s in): it would not if the deadline did not travel on to second and third.
    """
    runners = {name: start_service(name, _CHAIN_MARGIN) for name in ("first", "second", "third")}
    client = make_client(redis_url)
    sleeps = {"first": _HOP_SLEEP, "second": _HOP_SLEEP, "third": 10}
    started = time.monotonic()
    with pytest.raises(CallActionError) as info:
        client.call_action("first", "hop", {"sleep": sleeps}, timeout=_CHAIN_TIMEOUT)
    elapsed = time.monotonic() - started
    assert elapsed < _CHAIN_TIMEOUT - _CHAIN_MARGIN
    assert info.value.actions[0].errors[0].code == "SERVER_ERROR"
    (first,) = _remaining(runners["first"].log(), "first")
    (second,) = _remaining(runners["second"].log(), "second")
    (third,) = _remaining(runners["third"].log(), "third")
    # A hop's time is its caller's less the caller's sleep and margin, and less the time on the way; half a margin
    # of slack for the bounded wait being turned back into a deadline when the request is sent.
    hop = _HOP_SLEEP + _CHAIN_MARGIN
    assert 0 < first < _CHAIN_TIMEOUT
    assert 0 < second < first - hop + _CHAIN_MARGIN / 2
    assert 0 < third < second - hop + _CHAIN_MARGIN / 2
    nested = re.search(r"hop second nested call ended after ([\d.]+) s", runners["second"].log())
    assert nested is not None and float(nested.group(1)) < second - _HOP_SLEEP


def test_a_request_whose_deadline_passed_while_queued_is_never_run(
    start_service: Callable[[str], Runner], redis_url: str
) -> None:
    """The only worker is busy for 1.5 s; a call with timeout=0.5 times out and its job is dropped, not run late."""
    runner = start_service("third")
    client = make_client(redis_url)
    client.send_request("third", [{"action": "sleep", "body": {"seconds": 1.5}}], suppress_response=True)
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        client.call_action("third", "marker", {"tag": "late"}, timeout=0.5)
    assert time.monotonic() - started < 0.5 + _MARGIN_SECONDS
    client.call_action("third", "marker", {"tag": "after"}, timeout=5)
    log = runner.log()
    assert "marker ran after" in log
    assert "marker ran late" not in log


@pytest.mark.parametrize("shape", SHAPES)
def test_a_call_to_a_dead_service_ends_at_its_timeout(redis_url: str, shape: str) -> None:
    """No worker serves the service: the caller gets MessageReceiveTimeout after its 1 s timeout, in every shape."""
    call = Caller(shape, redis_url)
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout):
        call("third", "marker", {}, timeout=1)
    assert 1 <= time.monotonic() - started < 1 + _MARGIN_SECONDS


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers (a hung Redis or proxy)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join(5)
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.parametrize("shape", SHAPES)
def test_a_call_to_a_redis_that_never_answers_ends_within_its_timeout_and_the_margin(
    silent_redis: str, shape: str
) -> None:
    """Whatever its shape, a call with timeout=2 to a silent Redis fails within 2 + 1.25 s (a parallel call's pushes,
    made together, waited up to socket_timeout, 60 s). An AsyncClient's send does not wait for Redis' answer: its
    wait for the reply times out."""
    call = Caller(shape, silent_redis)
    started = time.monotonic()
    with pytest.raises(MessageReceiveTimeout if shape.startswith("async") else MessageSendError):
        call("third", "marker", {}, timeout=2)
    assert time.monotonic() - started < 2 + _MARGIN_SECONDS


@pytest.mark.parametrize("shape", SHAPES)
def test_a_call_to_a_stopped_redis_fails_at_once(shape: str) -> None:
    """Nothing listens on Redis' port: the call fails with MessageSendError at once, not at its timeout."""
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    call = Caller(shape, f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(MessageSendError):
        call("third", "marker", {}, timeout=5)
    # At once: far below the call's 5 s timeout (a loaded 2-CPU CI machine has taken 0.55 s to refuse)
    assert time.monotonic() - started < 2


_BREAKER = {"failure_ratio": 0.5, "minimum_calls": 4, "window_seconds": 10, "cool_down_seconds": 1}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_call_shape_opens_the_breaker_of_a_service_failing_half_its_calls(
    start_service: Callable[[str], Runner], redis_url: str, shape: str
) -> None:
    """Futures, parallel calls and AsyncClient's calls count for the breaker as blocking calls do: after 4 calls to
    flaky (every second one fails) the next is refused at once, unsent."""
    start_service("third")
    call = Caller(shape, redis_url, circuit_breaker=_BREAKER)
    outcomes = []
    for _ in range(4):
        try:
            call("third", "flaky", timeout=2)
            outcomes.append("ok")
        except CallActionError:
            outcomes.append("error")
    assert outcomes == ["ok", "error", "ok", "error"]
    started = time.monotonic()
    with pytest.raises(CircuitOpenError):
        call("third", "flaky", timeout=2)
    # At once, not at the call's 2 s timeout (a loaded 2-CPU CI machine has stalled a refusal for 0.2 s)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("shape", SHAPES)
def test_every_call_shape_retries_an_idempotent_action_and_falls_back_for_a_dead_service(
    start_service: Callable[[str], Runner], redis_url: str, shape: str
) -> None:
    """Retries hide flaky's failures (idempotent, 2 attempts) whatever the call's shape; a call to a service with no
    worker gets its fallback at its 0.3 s timeout."""
    start_service("third")
    retry = {"attempts": 2, "base_delay_seconds": 0.01, "idempotent_actions": ["flaky"]}
    call = Caller(shape, redis_url, retry=retry)
    assert [call("third", "flaky", timeout=2).body for _ in range(4)] == [{"ok": True}] * 4
    started = time.monotonic()
    response = call("second", "hop", {}, timeout=0.3, fallback={"stale": True})
    assert response.from_fallback and response.body == {"stale": True}
    assert isinstance(response.fallback_error, MessageReceiveTimeout)
    assert 0.3 <= time.monotonic() - started < 0.3 + _MARGIN_SECONDS


def test_a_fallback_answers_at_once_while_a_dead_services_breaker_is_open(redis_url: str) -> None:
    """No worker: 4 calls wait out their 0.3 s timeout and get the fallback; then the fallback comes at once."""
    client = make_client(redis_url, circuit_breaker=_BREAKER, fallbacks={"marker": {"stale": True}})
    for _ in range(4):
        started = time.monotonic()
        response = client.call_action("third", "marker", timeout=0.3)
        assert response.from_fallback and response.body == {"stale": True}
        assert 0.3 <= time.monotonic() - started < 0.3 + _MARGIN_SECONDS
    started = time.monotonic()
    response = client.call_action("third", "marker", timeout=0.3)
    assert time.monotonic() - started < 0.15  # at once: far below the 0.3 s timeout
    assert isinstance(response.fallback_error, CircuitOpenError)  # type: ignore[attr-defined]


def test_a_bulkhead_keeps_a_slow_service_from_holding_every_thread(
    start_service: Callable[[str], Runner], redis_url: str
) -> None:
    """max_in_flight=1: while one thread waits 1 s on the slow service, another's call is refused at once."""
    start_service("third")
    client = make_client(redis_url, bulkhead={"max_in_flight": 1})
    done: list[float] = []
    thread = threading.Thread(
        target=lambda: done.append(client.call_action("third", "sleep", {"seconds": 1}, timeout=3).action == "sleep")
    )
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(BulkheadFullError):
        client.call_action("third", "marker", timeout=3)
    assert time.monotonic() - started < 0.15  # at once: far below the 1 s the other call holds
    thread.join(5)
    assert done == [True]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_call_to_a_full_queue_gives_up_within_its_timeout(redis_url: str, shape: str) -> None:
    """The queue is at capacity and nobody drains it: the queue-full retries stop at the call's 3.5 s timeout.

    PySOA (and pysoa_like before) slept through all ten retries, about 257 seconds, whatever the timeout (a
    parallel call's did until now).

    The retries come after 0.25-0.5 s, 0.5-0.75 s, 1-1.25 s and 2-2.25 s: with a 3.5 s timeout the last one is made
    1 s or more before the deadline, so even on a loaded machine its answer (full again) is in before the call
    times out. (A retry still unanswered at the deadline may have pushed the request: an AsyncClient's call then
    ends with the plain receive timeout, as it must; a 1 s timeout let a retry start just before the deadline.)
    """
    call = Caller(shape, redis_url, {"queue_capacity": 1})
    call.client.send_request("third", [{"action": "marker"}], suppress_response=True)
    started = time.monotonic()
    with pytest.raises(QueueFullSendError, match="was full after"):
        call("third", "marker", timeout=3.5)
    assert time.monotonic() - started < 3.5 + _MARGIN_SECONDS


@pytest.mark.parametrize("shape", SHAPES)
def test_a_full_queue_says_when_to_come_back_and_a_retry_waits_that_long(
    redis_url: str, raw_redis: redis.Redis, shape: str
) -> None:
    """The queue is at capacity (no retries in the transport); a worker takes one request 0.2 s later. The refusal
    says to come back in 0.375 s, and the retry waits that long (not its 10 ms backoff), so it finds room."""
    call = Caller(shape, redis_url, {"queue_capacity": 1, "queue_full_retries": 0}, retry={"attempts": 2})
    call.client.send_request("third", [{"action": "marker"}], suppress_response=True)
    taker = threading.Timer(0.2, lambda: raw_redis.lpop("pysoa:service.third"))
    taker.start()
    started = time.monotonic()
    try:
        assert call("third", "marker", {"tag": "retried"}, timeout=3, suppress_response=True) is None
    finally:
        taker.join(5)
    assert 0.375 <= time.monotonic() - started < 3
    assert raw_redis.llen("pysoa:service.third") == 1  # the retried request, pushed once there was room
