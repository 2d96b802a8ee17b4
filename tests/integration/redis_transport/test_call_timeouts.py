"""A call that times out says whether any worker took its request (over a real Redis)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.test.redis import RedisServerProcess
from tests.integration._latency_proxy import LatencyProxy
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


@pytest.fixture
def client(transport_kwargs: dict[str, Any]) -> Client:
    """A client of the ``billing`` service on the session's (flushed) Redis."""
    return Client({"billing": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs}}})


_CALLS: dict[str, Callable[[Client], Any]] = {
    "call_action": lambda client: client.call_action("billing", "charge", {"cents": 5}, timeout=1),
    "future": lambda client: client.call_action_future("billing", "charge", {"cents": 5}, timeout=1).result(),
    "parallel": lambda client: client.call_actions_parallel("billing", [{"action": "charge"}], timeout=1),
}


@pytest.fixture
def watched_over_a_proxy(
    redis_url: str, redis_server: RedisServerProcess
) -> Iterator[tuple[LatencyProxy, dict[str, Any]]]:
    """A latency proxy (no delay yet) in front of the flushed Redis, and the settings of a ``billing`` client over
    it with ``detect_dead_workers`` on and a 20 s socket timeout."""
    with LatencyProxy(redis_server.address, 0.0) as proxy:
        layer = {"hosts": [proxy.address], "connection_kwargs": {"socket_timeout": 20}}
        transport_kwargs = {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": layer,
            "detect_dead_workers": True,
        }
        yield proxy, {"billing": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs}}}


@pytest.mark.parametrize("call", sorted(_CALLS))
def test_a_request_nobody_took_says_no_worker_took_it(client: Client, call: str) -> None:
    """No server of the service on this Redis: the timeout says no worker took the request, and asks about it."""
    with pytest.raises(MessageReceiveTimeout) as info:
        _CALLS[call](client)
    # The seconds are those the receive waited (what was left of the call's 1 s), to a tenth: 0.8 or less when a
    # loaded machine was slow to send.
    assert re.fullmatch(
        r"No reply from service billing: no worker took the request within (1|0\.[5-9]) s: is a `billing` server "
        r"running on this Redis\? \(1 request waits in its queue pysoa:service\.billing; if its workers are running, "
        r"they are all busy\)",
        str(info.value),
    )
    assert info.value.queue_length == 1  # what the message says, for code (the CLI) that must not parse it


def test_a_request_a_worker_took_says_the_worker_did_not_reply(client: Client, redis_client: redis.Redis) -> None:
    """A worker popped the request (a raw consumer standing for a stuck worker) but never replied: said so."""
    future = client.call_action_future("billing", "charge", {"cents": 5}, timeout=1)
    assert redis_client.blpop(["pysoa:service.billing"], timeout=5) is not None
    with pytest.raises(MessageReceiveTimeout) as info:
        future.result()
    assert re.fullmatch(
        r"No reply from service billing within (1|0\.[5-9]) s: a worker took the request but did not reply in time "
        r"\(the service's queue is empty\)",
        str(info.value),
    )
    assert info.value.queue_length == 0


def test_a_timeout_whose_queue_cannot_be_read_keeps_the_plain_message(
    client: Client, redis_client: redis.Redis
) -> None:
    """When the queue cannot be checked (here: the key holds a string, so LLEN fails), the plain message stays."""
    future = client.call_action_future("billing", "charge", {}, timeout=1)
    redis_client.delete("pysoa:service.billing")
    redis_client.set("pysoa:service.billing", "not a list")
    with pytest.raises(
        MessageReceiveTimeout, match=r"^No message received for service billing within (1|0\.[5-9]) s$"
    ) as info:
        future.result()
    assert info.value.queue_length is None


class _FreezeRedisOnTimeout(RecordingMetrics):
    """Stops a Redis (SIGSTOP) the moment the transport counts a receive timeout: right before its queue check."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.frozen = False

    def counter(self, name: str, **tags: Any) -> Any:
        if name.endswith("receive.error.timeout") and not self.frozen:
            os.kill(self.pid, signal.SIGSTOP)
            self.frozen = True
        return super().counter(name, **tags)


def test_a_redis_that_freezes_right_after_the_timeout_does_not_hold_the_caller() -> None:
    """Redis stops answering between the timeout and the look at the queue (socket_timeout 10 s): the call still
    ends about a quarter second after its timeout, with the plain message (it waited the whole 10 s)."""
    with RedisServerProcess() as server:
        pid = server.pid
        assert pid is not None
        metrics = _FreezeRedisOnTimeout(pid)
        transport = RedisClientTransport(
            "billing",
            metrics,
            backend_type="redis.standard",
            backend_layer_kwargs={"hosts": [server.url], "connection_kwargs": {"socket_timeout": 10}},
        )
        try:
            # Given a request that no worker takes
            transport.send_request_message(1, {}, job_request())
            started = time.monotonic()
            # When the receive times out and Redis freezes at that moment
            with pytest.raises(MessageReceiveTimeout) as info:
                transport.receive_response_message(0.5)
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
    # Then the caller gets its timeout with no second wait on top
    assert metrics.frozen
    assert str(info.value) == "No message received for service billing within 0.5 s"
    assert elapsed < 0.5 + 1.5


def test_a_watched_call_ends_near_its_timeout_when_redis_stops_answering_the_liveness_check(
    watched_over_a_proxy: tuple[LatencyProxy, dict[str, Any]],
) -> None:
    """With ``detect_dead_workers``, the liveness check made while waiting is bounded by the call's timeout.

    Given a watched call (timeout 2 s, ``socket_timeout`` 20 s) whose first wait ends with nothing, when Redis
    is slow to answer what the client sends next (the liveness check among it), then the call still ends with a
    transport error within a few seconds of its timeout, not after the socket timeout.
    """
    proxy, settings = watched_over_a_proxy
    client = Client(settings)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.call_action("billing", "charge", {"cents": 5}, timeout=2)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)  # the first wait (one second) is with Redis; what the client sends next is held up
    proxy.request_delay = 30.0
    caller.join(15)
    elapsed = time.monotonic() - started
    assert not caller.is_alive() and elapsed < 6, f"the call took {elapsed:.1f} s"
    [error] = outcome
    assert isinstance(error, PySOATransportError)


def test_a_watched_async_call_ends_near_its_timeout_when_redis_stops_answering_the_liveness_check(
    watched_over_a_proxy: tuple[LatencyProxy, dict[str, Any]],
) -> None:
    """AsyncClient with ``detect_dead_workers``: a Redis that stops answering (the liveness looks among what it
    is sent) does not hold a call past its timeout, and the event loop is never held meanwhile."""
    import asyncio

    from pysoa_like.client.async_client import AsyncClient

    proxy, settings = watched_over_a_proxy

    async def scenario() -> tuple[BaseException | None, float, float]:
        worst_lag = 0.0

        async def tick() -> None:
            nonlocal worst_lag
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                worst_lag, last = max(worst_lag, now - last - 0.01), now

        ticker = asyncio.ensure_future(tick())
        client = AsyncClient(settings)
        started = time.monotonic()
        call = asyncio.ensure_future(client.call_action("billing", "charge", {"cents": 5}, timeout=2.5))
        await asyncio.sleep(0.5)
        proxy.request_delay = 30.0  # the liveness look after the first second is held up, and all after it
        error = None
        try:
            await call
        except BaseException as exc:
            error = exc
        elapsed = time.monotonic() - started
        ticker.cancel()
        await asyncio.wait_for(client.aclose(), 10)
        return error, elapsed, worst_lag

    error, elapsed, worst_lag = asyncio.run(scenario())
    assert isinstance(error, PySOATransportError), error
    assert elapsed < 6, f"the call took {elapsed:.1f} s"
    assert worst_lag < 0.5, worst_lag
