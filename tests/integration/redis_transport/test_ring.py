"""With two Redis masters, requests go round-robin and replies land on the host their key hashes to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.metrics import NoOpMetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import reply_key_host_index
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.test.redis import RedisRing
from tests.integration.redis_transport._helpers import job_request, job_response


@pytest.fixture(scope="module")
def ring() -> Iterator[RedisRing]:
    """Two throwaway masters for this module."""
    with RedisRing(2) as group:
        yield group


@pytest.fixture
def ring_settings(ring: RedisRing) -> dict[str, object]:
    """Transport settings naming both masters as (host, port) tuples, flushed first."""
    ring.flush()
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": ring.hosts}}


def test_reply_lands_on_the_hashed_host(ring: RedisRing, ring_settings: dict[str, object]) -> None:
    """The reply list is on the master chosen by the CRC-32 hash of the full reply key, and the client finds it."""
    client = RedisClientTransport("echo", **ring_settings)  # type: ignore[arg-type]
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.2, **ring_settings)  # type: ignore[arg-type]
    client.send_request_message(1, {}, job_request())
    for _ in range(4):  # the server polls one host per receive
        try:
            request_id, meta, _ = server.receive_request_message()
            break
        except MessageReceiveTimeout:
            continue
    else:
        pytest.fail("the server never found the request")
    server.send_response_message(request_id, meta, job_response())
    key = "pysoa:" + meta["reply_to"]
    expected = reply_key_host_index(key, 2)
    lengths = [ring[index].client().llen(key) for index in range(2)]
    assert lengths[expected] == 1 and lengths[1 - expected] == 0
    assert client.receive_response_message(1).request_id == 1


def test_requests_are_spread_round_robin(ring: RedisRing, ring_settings: dict[str, object]) -> None:
    """Consecutive requests alternate between the two masters."""
    client = RedisClientTransport("echo", **ring_settings)  # type: ignore[arg-type]
    for request_id in range(4):
        client.send_request_message(request_id, {}, job_request())
    assert [ring[index].client().llen("pysoa:service.echo") for index in range(2)] == [2, 2]


_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


def _queued(ring: RedisRing) -> list[int]:
    return [ring[index].client().llen("pysoa:service.echo") for index in range(2)]


def test_blocking_calls_send_their_requests_to_each_master_in_turn(
    ring: RedisRing, ring_settings: dict[str, object]
) -> None:
    """A blocking call's push goes with its reply wait only when both lists are on one master; one that cannot
    is pushed to the master the round-robin chose for it, not the next one (each call then drew twice, so on
    two masters every request went to the reply list's master, and a worker polling the other waited out its
    receive timeout)."""
    client = Client({"echo": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": ring_settings}}})
    for _ in range(4):
        with pytest.raises(MessageReceiveTimeout):
            client.call_action("echo", "anything", timeout=0.2)
    assert _queued(ring) == [2, 2]


def test_asyncio_calls_send_their_requests_to_each_master_in_turn(
    ring: RedisRing, ring_settings: dict[str, object]
) -> None:
    """An ``AsyncClient``'s pushes follow the round-robin too, including a master's first push (which opens its
    connection: the slot was drawn again for it, so on two masters one master's connection was never opened and
    every request went to the other)."""
    client = AsyncClient({"echo": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": ring_settings}}})

    async def calls() -> None:
        for _ in range(4):
            with pytest.raises(MessageReceiveTimeout):
                await client.call_action("echo", "anything", timeout=0.2)

    asyncio.run(calls())
    assert _queued(ring) == [2, 2]


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_a_timed_out_call_on_a_ring_says_its_request_still_waits(
    ring: RedisRing, ring_settings: dict[str, object], client_class: type[Client] | type[AsyncClient]
) -> None:
    """A call that timed out looks at the service's queue on every master of the ring (its request went to one of
    them): with no server running, it says no worker took the request, whichever master has it."""
    client = client_class({"echo": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": ring_settings}}})
    for _ in range(2):
        with pytest.raises(MessageReceiveTimeout) as raised:
            if isinstance(client, AsyncClient):
                asyncio.run(client.call_action("echo", "anything", timeout=0.2))
            else:
                client.call_action("echo", "anything", timeout=0.2)
        assert "no worker took the request" in str(raised.value), str(raised.value)
    assert sum(_queued(ring)) == 2


def test_a_worker_receiving_after_each_reply_polls_each_master_in_turn(
    ring: RedisRing, ring_settings: dict[str, object]
) -> None:
    """A worker that announces its next receive with each reply (``receive_follows``, as a serial worker does)
    still polls the masters in turn: with four requests queued on each master it finds one at every poll. (The
    check whether the next wait could go with the reply drew a master; when it could not, the receive drew
    another, so on two masters the worker only ever waited on the reply list's master.)"""
    client = RedisClientTransport("echo", **ring_settings)  # type: ignore[arg-type]
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **ring_settings)  # type: ignore[arg-type]
    for request_id in range(8):
        client.send_request_message(request_id, {}, job_request())
    assert _queued(ring) == [4, 4]
    server.receive_follows(0.3)
    answered: list[int] = []
    empty_polls = 0
    while len(answered) < 8 and empty_polls < 4:
        try:
            request_id, meta, _ = server.receive_request_message()
        except MessageReceiveTimeout:
            empty_polls += 1
            continue
        server.send_response_message(request_id, meta, job_response())
        answered.append(request_id)
    assert (sorted(answered), empty_polls) == (list(range(8)), 0)


@pytest.fixture(scope="module")
def ring_of_three() -> Iterator[RedisRing]:
    """Three throwaway masters for this module."""
    with RedisRing(3) as group:
        yield group


def test_a_serial_client_and_worker_stay_in_step_on_three_masters(ring_of_three: RedisRing) -> None:
    """Once a worker (announcing its receives, as a serial worker does) found a client's first request, each
    next request goes to the master it waits on next: every transport walks the ring the same way from its own
    random start. (Round-robins over random orders of three masters could walk opposite ways, and then every call
    waited out a receive timeout; several client and worker pairs are tried, each drawing its own starts.)"""
    ring_of_three.flush()
    settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": ring_of_three.hosts}}
    missed: list[int] = []
    for _pair in range(6):
        client = RedisClientTransport("echo", **settings)  # type: ignore[arg-type]
        server = RedisServerTransport("echo", receive_timeout_in_seconds=0.2, **settings)  # type: ignore[arg-type]
        server.receive_follows(0.2)
        empty_polls_after_the_first = 0
        for request_id in range(6):
            client.receive_follows(5)
            client.send_request_message(request_id, {}, job_request())
            for _poll in range(4):
                try:
                    received_id, meta, _ = server.receive_request_message()
                    break
                except MessageReceiveTimeout:
                    empty_polls_after_the_first += 1 if request_id else 0
            else:
                pytest.fail(f"the worker never found request {request_id}")
            server.send_response_message(received_id, meta, job_response())
            assert client.receive_response_message(5).request_id == request_id
        missed.append(empty_polls_after_the_first)
    assert missed == [0] * 6


def test_servers_sharing_a_backend_each_poll_every_host(ring: RedisRing, ring_settings: dict[str, object]) -> None:
    """Two server transports of one process (one shared backend) each poll both masters, never starving one."""
    servers = {
        name: RedisServerTransport(name, receive_timeout_in_seconds=0.1, **ring_settings)  # type: ignore[arg-type]
        for name in ("a", "b")
    }
    assert servers["a"].core.backend_layer is servers["b"].core.backend_layer
    for name in ("a", "b"):
        client = RedisClientTransport(name, **ring_settings)  # type: ignore[arg-type]
        client.send_request_message(1, {}, job_request())
        client.send_request_message(2, {}, job_request())
    received: dict[str, list[int]] = {"a": [], "b": []}
    for _ in range(3):
        for name, server in servers.items():
            with contextlib.suppress(MessageReceiveTimeout):
                received[name].append(server.receive_request_message().request_id)
    assert {name: sorted(ids) for name, ids in received.items()} == {"a": [1, 2], "b": [1, 2]}


def test_a_push_goes_with_its_reply_wait_only_when_both_lists_are_on_one_master(ring: RedisRing) -> None:
    """On two masters a request goes round-robin and its reply list is hashed: the push and the wait go in one
    write only when they land on the same master; otherwise nothing is written, and the push its caller then
    makes the usual way goes to the master the round-robin chose (each push takes one turn)."""
    ring.flush()
    core = RedisTransportCore("echo", NoOpMetricsRecorder(), "", "redis.standard", {"hosts": ring.hosts})
    core.send_messages("service.echo", [b"warm"], 60)  # (each master runs the send script once)
    core.send_messages("service.echo", [b"warm"], 60)
    reply_key = "pysoa:service.echo.0123456789abcdef!"
    host = reply_key_host_index(reply_key, 2)
    fused = []
    for attempt in range(4):
        message = b"m%d" % attempt
        fused.append(core.send_then_pop("pysoa:service.echo", message, 60, reply_key, 0.05))
        if fused[-1]:
            ring[host].client().rpush(reply_key, b"reply %d" % attempt)
            assert core.take_messages(reply_key, 1)[1] == [b"reply %d" % attempt]
        else:
            core.send_messages("service.echo", [message], 60)  # what its caller does then
    assert fused in ([True, False, True, False], [False, True, False, True])
    pushed = [ring[index].client().lrange("pysoa:service.echo", 1, -1) for index in range(2)]
    assert sorted(pushed[host]) == [b"m%d" % attempt for attempt in range(4) if fused[attempt]]
    assert sorted(pushed[1 - host]) == [b"m%d" % attempt for attempt in range(4) if not fused[attempt]]
