"""The look at the request queue that explains a timed-out call, on a ring whose masters are slow to answer: every
master is asked at once, and a look given up closes no connection the calls use (over real Redis servers)."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway import _aio_pushing, _call_timeout
from pysoa_like.common.transport.redis_gateway._call_timeout import QUEUE_CHECK_SECONDS
from pysoa_like.test.redis import RedisRing, RedisSentinelGroup, RedisServerProcess
from tests.integration._latency_proxy import LatencyProxy
from tests.integration.redis_transport._helpers import RecordingMetrics

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_CALL_TIMEOUT = 0.3
# A look's whole budget in the test of looks left without time: less than MINIMUM_LOOK_SECONDS (10 ms).
_TOO_SHORT_LOOK_SECONDS = 0.005
# What a look at a ring's queue took (from the receive timeout to the error) at most, on a loaded machine too.
_LOOK_SLACK_SECONDS = 0.1


class _Slowing:
    """What to run the moment a transport counts a receive timeout, right before its look at the queue; and when."""

    def __init__(self) -> None:
        self.slow_down: Callable[[], None] | None = None
        self.timed_out_at = 0.0
        #: How many times a Sentinel master was looked up.
        self.lookups = 0


class _SlowsRedisOnTimeout(RecordingMetrics):
    """A client's metrics recorder (configured by class) running its :class:`_Slowing` at a receive timeout."""

    def __init__(self, slowing: _Slowing) -> None:
        super().__init__()
        self.slowing = slowing

    def counter(self, name: str, **tags: Any) -> Any:
        slowing = self.slowing
        if name.endswith("receive.error.timeout") and slowing.slow_down is not None:
            slow_down, slowing.slow_down = slowing.slow_down, None
            slow_down()
            slowing.timed_out_at = time.monotonic()
        return super().counter(name, **tags)

    def timer(self, name: str, **tags: Any) -> Any:
        if name.endswith("backend.sentinel.populate_master_client"):
            self.slowing.lookups += 1
        return super().timer(name, **tags)


@pytest.fixture(scope="module")
def ring() -> Iterator[RedisRing]:
    """Two throwaway masters for this module."""
    with RedisRing(2) as group:
        yield group


@pytest.fixture
def proxies(ring: RedisRing) -> Iterator[list[LatencyProxy]]:
    """A latency proxy (no delay yet) in front of each master of the (flushed) ring."""
    ring.flush()
    with LatencyProxy(ring[0].address, 0.0) as first, LatencyProxy(ring[1].address, 0.0) as second:
        yield [first, second]


def _client(client_class: type[Client] | type[AsyncClient], hosts: list[Any], slowing: _Slowing, **layer: Any) -> Any:
    settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": hosts, **layer}}
    transport = {"path": _CLIENT_TRANSPORT, "kwargs": settings}
    metrics = {"object": _SlowsRedisOnTimeout, "kwargs": {"slowing": slowing}}
    return client_class({"echo": {"transport": transport, "metrics": metrics}})


def _calls(client: Client | AsyncClient) -> Callable[[int], Awaitable[list[str]]]:
    """A coroutine function making that many calls that no server answers, giving their messages (an ``AsyncClient``'s
    in the running loop, all on its connections)."""

    async def calls(count: int) -> list[str]:
        messages = []
        for _ in range(count):
            with pytest.raises(MessageReceiveTimeout) as raised:
                if isinstance(client, AsyncClient):
                    await client.call_action("echo", "anything", timeout=_CALL_TIMEOUT)
                else:
                    client.call_action("echo", "anything", timeout=_CALL_TIMEOUT)
            messages.append(str(raised.value))
        return messages

    return calls


def _connections(server: RedisServerProcess) -> dict[int, str]:
    """Each connection of ``server`` but the one asking, by id: the last command it ran."""
    with server.client() as inspector:
        me = inspector.client_id()
        return {int(entry["id"]): entry["cmd"] for entry in inspector.client_list() if int(entry["id"]) != me}


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_every_master_of_a_ring_is_asked_at_once(
    proxies: list[LatencyProxy], client_class: type[Client] | type[AsyncClient]
) -> None:
    """Both masters answer 0.2 s late (each less than the look's quarter second): both are asked before either
    answers, so the timeout still says the request waits, and the look took one master's delay, not the sum (the
    second master was asked once the first answered: the blocking client waited for both delays, the asyncio one
    gave up on the second with 0.05 s left and said nothing of the queue)."""
    slowing = _Slowing()
    client = _client(client_class, [proxy.address for proxy in proxies], slowing)

    def slow_down() -> None:
        for proxy in proxies:
            proxy.request_delay = 0.2

    # Given a ring whose masters become slow the moment a call times out
    slowing.slow_down = slow_down
    # When the call's look at the queue runs
    [message] = asyncio.run(_calls(client)(1))
    looked = time.monotonic() - slowing.timed_out_at
    # Then it tells where the request is, within the look's budget
    assert "no worker took the request" in message, message
    assert looked < QUEUE_CHECK_SECONDS + _LOOK_SLACK_SECONDS, looked


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_a_look_a_master_does_not_answer_in_time_closes_no_connection_of_the_calls(
    ring: RedisRing, proxies: list[LatencyProxy], client_class: type[Client] | type[AsyncClient]
) -> None:
    """The first master answers 0.6 s late from a call's timeout on: the look at it is given up (plain message),
    and the connections the calls push and wait on stay open: once that master answers again, the next requests go
    on the connections they had (the blocking client's look used to close the thread's own connection to it, which
    its next push opened again; the asyncio client's looks share its push connection, and give up without closing
    it)."""
    slowing = _Slowing()
    client = _client(client_class, [proxy.address for proxy in proxies], slowing)

    def slow_down() -> None:
        proxies[0].request_delay = 0.6

    async def scenario(calls: Callable[[int], Awaitable[list[str]]]) -> tuple[list[str], set[int], set[int]]:
        messages = await calls(2)  # both masters connected, pushed to and waited on
        before = set(_connections(ring[0]))
        # Given a first master that becomes slow the moment the next call times out
        slowing.slow_down = slow_down
        # When the look at it is given up
        messages += await calls(1)
        proxies[0].request_delay = 0.0
        await asyncio.sleep(0.8)  # (the late replies come)
        # And the next requests are pushed to each master again
        if isinstance(client, AsyncClient):
            messages += await calls(2)
            return messages, before, set(_connections(ring[0]))
        for _ in range(2):  # (sent without waiting: no look follows, so the pushes' connections are seen)
            client.send_request("echo", [{"action": "anything"}])
        pushed = {number for number, command in _connections(ring[0]).items() if command in ("evalsha", "eval")}
        return messages, before, pushed

    messages, before, used = asyncio.run(scenario(_calls(client)))
    # Then the look said nothing of the queue, the calls went on, and every connection of the calls is one of before
    assert messages[2].startswith("No message received for service echo within"), messages
    assert all("no worker took the request" in message for message in messages[3:]), messages
    assert used and used <= before, (used, before)


def _llen_runs(ring: RedisRing) -> list[int]:
    """How many ``LLEN`` each master of ``ring`` ran (the send script's count too)."""
    runs = []
    for server in ring:
        with server.client() as inspector:
            runs.append(inspector.info("commandstats").get("cmdstat_llen", {}).get("calls", 0))
    return runs


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_a_look_left_without_time_is_not_started(
    ring: RedisRing,
    proxies: list[LatencyProxy],
    client_class: type[Client] | type[AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A look whose whole budget is less than ``MINIMUM_LOOK_SECONDS`` asks no master (the message is the plain one),
    although the connections it would ask on are open: an answer could hardly come in time (both drivers used to
    write the ``LLEN`` whatever time was left)."""
    slowing = _Slowing()
    client = _client(client_class, [proxy.address for proxy in proxies], slowing)
    before: list[list[int]] = []

    async def scenario(calls: Callable[[int], Awaitable[list[str]]]) -> list[str]:
        messages = await calls(1)  # (the connections the looks go on are opened)
        # Given looks left less time than a look needs
        for module in (_call_timeout, _aio_pushing):
            monkeypatch.setattr(module, "QUEUE_CHECK_SECONDS", _TOO_SHORT_LOOK_SECONDS)
        slowing.slow_down = lambda: before.append(_llen_runs(ring))
        # When the next call times out
        messages += await calls(1)
        await asyncio.sleep(0.1)  # (an LLEN written, if any, is run)
        return messages

    messages = asyncio.run(scenario(_calls(client)))
    # Then neither master was asked
    assert "no worker took the request" in messages[0], messages
    assert messages[1].startswith("No message received for service echo within"), messages
    assert before == [_llen_runs(ring)]


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_the_next_look_over_a_slow_link_tells_where_the_request_is(
    ring: RedisRing, client_class: type[Client] | type[AsyncClient]
) -> None:
    """Over a link of 0.14 s a round trip, a thread's first look also opens its connection (whose handshake names
    the client), which leaves the ``LLEN`` too little of the quarter second; the look given up leaves that
    connection open, so the next timed-out call's look is answered in time (it used to close it: every look
    connected anew, and none told where the request was)."""
    ring.flush()
    with LatencyProxy(ring[0].address, 0.07) as proxy:
        client = _client(client_class, [proxy.address], _Slowing(), connection_kwargs={"client_name": "far-away"})
        # Given a Redis far away
        # When three calls time out
        messages = asyncio.run(_calls(client)(3))
    # Then the looks after the first (the blocking driver's opened its connection) tell where the request is
    assert all("no worker took the request" in message for message in messages[1:]), messages


def test_a_look_connection_redis_closed_while_idle_is_opened_again_within_the_look(
    ring: RedisRing, proxies: list[LatencyProxy]
) -> None:
    """Redis closes connections idle for a second, the looks' too; once the masters are 0.2 s a round trip away,
    the next look opens its connections again within its quarter second (a closed connection was found only when
    the look was written, and opened again with a budget rounded up to a quarter second step: about 0.4 s)."""
    slowing = _Slowing()
    client = _client(Client, [proxy.address for proxy in proxies], slowing, connection_kwargs={"client_name": "idle"})

    def slow_down() -> None:
        for proxy in proxies:
            proxy.delay = 0.1

    def idle_timeout(seconds: int) -> None:
        for server in ring:
            with server.client() as configuring:
                configuring.config_set("timeout", seconds)

    idle_timeout(1)
    try:
        asyncio.run(_calls(client)(1))  # (the looks' connections are opened)
        # Given look connections that Redis closed while idle, and masters far away from the next timeout on
        time.sleep(2.5)
        slowing.slow_down = slow_down
        # When the next call's look runs
        asyncio.run(_calls(client)(1))
        looked = time.monotonic() - slowing.timed_out_at
    finally:
        idle_timeout(0)
    # Then it took no longer than its budget
    assert looked < QUEUE_CHECK_SECONDS + _LOOK_SLACK_SECONDS, looked


def test_a_look_a_sentinel_master_does_not_answer_in_time_keeps_the_process_on_that_master() -> None:
    """A Sentinel master pauses (``CLIENT PAUSE``, shorter than Sentinel's down-after) the moment a call times out:
    the look at it is given up, and that is not taken for a failover: the master is not looked up again and the
    other threads keep their connections to it (it used to be forgotten by the whole process, so every thread's
    next command asked the Sentinels and opened a new connection)."""
    with RedisSentinelGroup(masters=["alpha"], replicas=0, sentinels=1) as group:
        master = group.master_for("alpha")
        layer = {"hosts": group.sentinel_hosts, "sentinel_services": ["alpha"]}
        settings = {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer}
        transport = {"path": _CLIENT_TRANSPORT, "kwargs": settings}
        slowing = _Slowing()
        metrics = {"object": _SlowsRedisOnTimeout, "kwargs": {"slowing": slowing}}
        client = Client({"echo": {"transport": transport, "metrics": metrics}})
        other = Client({"echo": {"transport": transport, "metrics": metrics}})

        pushes: queue.Queue[bool] = queue.Queue()
        pushed: queue.Queue[set[int]] = queue.Queue()

        def another_thread() -> None:
            # (a thread that lives on: its connections close when it ends)
            while pushes.get():
                other.send_request("echo", [{"action": "anything"}])
                with master.client() as inspector:
                    me = inspector.client_id()
                    entries = inspector.client_list()
                pushed.put({int(e["id"]) for e in entries if int(e["id"]) != me and e["cmd"] in ("evalsha", "eval")})

        def pushed_by_another_thread() -> set[int]:
            pushes.put(True)
            return pushed.get(timeout=10)

        thread = threading.Thread(target=another_thread, daemon=True)
        thread.start()

        def pause() -> None:
            with master.client() as pausing:
                pausing.execute_command("CLIENT", "PAUSE", 500, "ALL")

        asyncio.run(_calls(client)(1))
        before = pushed_by_another_thread()
        lookups = slowing.lookups
        # Given a master that pauses the moment the next call times out
        slowing.slow_down = pause
        # When the look at it is given up
        [message] = asyncio.run(_calls(client)(1))
        time.sleep(0.6)  # (the pause ends)
        # Then the other thread pushes on the connection it had, and nobody asked the Sentinels again
        after = pushed_by_another_thread()
        assert message.startswith("No message received for service echo within"), message
        assert before and after <= before, (after, before)
        pushes.put(False)
        thread.join(10)
        assert slowing.lookups == lookups
