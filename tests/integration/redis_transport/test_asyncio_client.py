"""AsyncClient over real Redis with the asyncio driver: many calls on shared connections, cancellation, the loop
never blocked, TLS, ACL users, Sentinel, unix sockets, full queues, chunked replies and a Redis restart."""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import threading
import time
import warnings
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
import redis

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import (
    MessageReceiveTimeout,
    MessageSendError,
    PySOATransportError,
    QueueFullSendError,
)
from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from pysoa_like.test.redis import RedisSentinelGroup, RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.integration._async_closing import closed_while_under_way
from tests.integration._latency_proxy import LatencyProxy
from tests.integration.redis_transport._helpers import tls_capable_redis

_T = TypeVar("_T")

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


class Square(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class Sleep(Action):
    def run(self, request: Any) -> dict[str, Any]:
        time.sleep(request.body["seconds"])
        return {"tag": request.body.get("tag")}


class Big(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"blob": "x" * request.body["size"]}


class ExampleServer(Server):
    service_name = "example"
    action_class_map = {"square": Square, "sleep": Sleep, "big": Big}


class CustomRedisTransport(RedisClientTransport):
    """A subclass of the Redis transport (its changes would be the blocking driver's only)."""


@contextmanager
def serving(transport_kwargs: dict[str, Any], workers: int = 1, **server_kwargs: Any) -> Iterator[None]:
    """The example service over Redis: ``workers`` servers, each in a thread, stopped at the end."""
    settings = {
        "transport": {
            "path": _SERVER_TRANSPORT,
            "kwargs": {**transport_kwargs, "receive_timeout_in_seconds": 0.2, **server_kwargs},
        }
    }
    servers = [ExampleServer(settings) for _ in range(workers)]
    threads = [threading.Thread(target=server.run, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for server in servers:
            server.shutting_down = True
        for thread in threads:
            thread.join(10)


def client_of(transport_kwargs: dict[str, Any], **settings: Any) -> AsyncClient:
    return AsyncClient({"example": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs}, **settings}})


@pytest.fixture
def kwargs(redis_url: str) -> dict[str, Any]:
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}


def _connections_named(raw: redis.Redis, name: str) -> int:
    return sum(1 for client in raw.client_list() if client.get("name") == name)


def test_the_redis_transport_path_selects_the_asyncio_driver(kwargs: dict[str, Any]) -> None:
    """RedisClientTransport settings give AsyncClient the asyncio driver; calls go through, also after aclose()."""

    async def call() -> tuple[Any, ActionResponse]:
        async with client_of(kwargs) as client:
            response = await client.call_action("example", "square", {"number": 7})
            transport = client.handlers["example"].transport
        # Closed (connections and reader), then used again: it reconnects.
        assert (await client.call_action("example", "square", {"number": 8})).body == {"square": 64}
        await client.aclose()
        return transport, response

    with serving(kwargs):
        transport, response = run(call())
    assert isinstance(transport, AsyncRedisClientTransport)
    assert response.body == {"square": 49}


def test_a_thousand_gathered_calls_share_few_connections_and_each_gets_its_answer(
    kwargs: dict[str, Any], raw_redis: redis.Redis
) -> None:
    """1,000 calls gathered at once on one client share its connections; every call gets its own reply."""
    named = {
        **kwargs,
        "backend_layer_kwargs": {**kwargs["backend_layer_kwargs"], "connection_kwargs": {"client_name": "asyncclient"}},
    }
    most_connections = 0

    async def calls() -> list[ActionResponse]:
        nonlocal most_connections
        async with client_of(named) as client:
            gathered = asyncio.gather(*(client.call_action("example", "square", {"number": i}) for i in range(1000)))
            while not gathered.done():
                await asyncio.sleep(0.02)
                most_connections = max(
                    most_connections, await asyncio.to_thread(_connections_named, raw_redis, "asyncclient")
                )
            return await gathered

    with serving(kwargs, workers=2):
        responses = run(calls())
    assert [response.body["square"] for response in responses] == [i * i for i in range(1000)]
    assert 1 <= most_connections <= 3


def test_clients_made_per_request_share_the_loops_connections(kwargs: dict[str, Any], raw_redis: redis.Redis) -> None:
    """Fifty short-lived clients (one per request, as a server makes them) calling at once share a few connections."""
    layer = {**kwargs["backend_layer_kwargs"], "connection_kwargs": {"client_name": "perrequest"}}
    named = {**kwargs, "backend_layer_kwargs": layer}

    async def one_request(number: int) -> int:
        client = client_of(named)
        square: int = (await client.call_action("example", "square", {"number": number})).body["square"]
        return square

    async def requests() -> tuple[list[int], int]:
        squares = await asyncio.gather(*(one_request(n) for n in range(50)))
        return squares, await asyncio.to_thread(_connections_named, raw_redis, "perrequest")

    with serving(kwargs, workers=2):
        squares, connections = run(requests())
    assert squares == [n * n for n in range(50)]
    assert connections <= 20


def test_the_event_loop_keeps_ticking_while_a_thousand_calls_are_in_flight(kwargs: dict[str, Any]) -> None:
    """While 1,000 calls are in flight the loop is never held long.

    The bound is generous (2 noisy cores, other test runs beside this one: 0.67 s was seen at load 10); a
    loop held by a blocking read would stall for the calls' whole run or their timeout instead.
    """

    async def measure() -> float:
        worst = 0.0
        async with client_of(kwargs) as client:
            gathered = asyncio.gather(*(client.call_action("example", "square", {"number": i}) for i in range(1000)))
            while not gathered.done():
                before = time.monotonic()
                await asyncio.sleep(0.005)
                worst = max(worst, time.monotonic() - before - 0.005)
            await gathered
        return worst

    with serving(kwargs, workers=2):
        assert run(measure()) < 1.5


def test_cancelled_and_timed_out_calls_leave_nothing_behind_and_never_get_anothers_reply(
    kwargs: dict[str, Any],
) -> None:
    """A cancelled call and one past asyncio.wait_for forget their requests: their late replies are dropped."""
    client = client_of(kwargs, metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"})

    async def calls() -> list[Any]:
        task = asyncio.ensure_future(client.call_action("example", "sleep", {"seconds": 0.3, "tag": "cancelled"}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.call_action("example", "sleep", {"seconds": 0.3, "tag": "timed out"}), 0.1)
        tags = [
            (await client.call_action("example", "sleep", {"seconds": 0.05, "tag": f"after {i}"})).body["tag"]
            for i in range(4)
        ]
        await client.aclose()
        return tags

    with serving(kwargs):
        assert run(calls()) == ["after 0", "after 1", "after 2", "after 3"]
    metrics = client.handlers["example"].metrics
    assert isinstance(metrics, CountingMetricsRecorder)
    assert metrics.get_count("client.transport.redis_gateway.receive.error.unknown_reply") == 2


def test_a_timeout_says_whether_any_worker_took_the_request(kwargs: dict[str, Any]) -> None:
    """With no server running, a call times out saying that no worker took the request."""
    with pytest.raises(MessageReceiveTimeout, match="no worker took the request"):
        run(client_of(kwargs).call_action("example", "square", {"number": 1}, timeout=0.3))


def test_a_full_queue_fails_the_send_after_its_retries(kwargs: dict[str, Any], raw_redis: redis.Redis) -> None:
    """A request list at capacity makes the call raise MessageSendError naming the queue."""
    full = {**kwargs, "queue_capacity": 1, "queue_full_retries": 1}
    raw_redis.rpush("pysoa:service.example", b"someone else's request")
    with pytest.raises(QueueFullSendError, match=r"service\.example was full") as info:
        run(client_of(full).call_action("example", "square", {"number": 1}, timeout=2))
    assert info.value.retry_after > 0  # when to come back


def test_a_wait_that_ends_while_the_queue_stays_full_says_the_request_was_not_sent(
    kwargs: dict[str, Any], raw_redis: redis.Redis
) -> None:
    """The request list stays full past the wait for the reply (the retries would go on for 5 s): the wait raises
    QueueFullSendError, so a caller knows the request never went and may send it again, not a receive timeout; and
    the retries stop, so the request is not pushed later once there is room."""
    transport = AsyncRedisClientTransport(
        "example", **kwargs, queue_capacity=1, queue_full_retries=10, receive_timeout_in_seconds=5
    )
    raw_redis.rpush("pysoa:service.example", b"someone else's request")
    job = {"control": {}, "context": {}, "actions": [{"action": "square", "body": {"number": 1}}]}

    async def call() -> None:
        try:
            await transport.send_request_message(1, {}, job)
            with pytest.raises(QueueFullSendError, match=r"service\.example was full after [1-9]"):
                await transport.receive_response_message(1, 0.4)
            raw_redis.lpop("pysoa:service.example")  # room now: a retry still going would push the request
            await asyncio.sleep(1.5)  # longer than the first backoffs
        finally:
            await transport.aclose()

    run(call())
    assert raw_redis.llen("pysoa:service.example") == 0


def test_a_wait_that_ends_while_a_retried_push_is_unanswered_is_a_plain_timeout(
    kwargs: dict[str, Any], raw_redis: redis.Redis, redis_server: RedisServerProcess
) -> None:
    """The push was refused as full; its next attempt is on its way to a Redis slow to answer (and there is room
    now) when the wait ends: the request may well be pushed, so the call gets the receive timeout, which says so,
    not QueueFullSendError, which would tell a caller it may safely send the request again. It was pushed."""
    raw_redis.rpush("pysoa:service.example", b"someone else's request")
    job = {"control": {}, "context": {}, "actions": [{"action": "square", "body": {"number": 1}}]}
    with LatencyProxy(redis_server.address, 0.0) as proxy:
        layer = {"hosts": [proxy.address], "connection_kwargs": {"socket_timeout": 20}}
        transport = AsyncRedisClientTransport(
            "example",
            backend_type="redis.standard",
            backend_layer_kwargs=layer,
            queue_capacity=1,
            queue_full_retries=10,
            receive_timeout_in_seconds=5,
        )

        async def call() -> None:
            try:
                await transport.send_request_message(1, {}, job)
                await asyncio.sleep(0.15)  # refused by now; the next attempt comes after a backoff of 0.25 s or more
                proxy.request_delay = 1.5
                raw_redis.lpop("pysoa:service.example")
                with pytest.raises(MessageReceiveTimeout):
                    await transport.receive_response_message(1, 0.5)
            finally:
                await transport.aclose()

        run(call())
        deadline = time.monotonic() + 5
        while raw_redis.llen("pysoa:service.example") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert raw_redis.llen("pysoa:service.example") == 1  # the attempt in flight did push it


def test_a_chunked_reply_is_reassembled(kwargs: dict[str, Any]) -> None:
    """A server chunking big replies: the asyncio driver reassembles the chunks into one reply."""
    with serving(kwargs, chunk_messages_larger_than_bytes=102400, maximum_message_size_in_bytes=4 * 1024 * 1024):
        response = run(client_of(kwargs).call_action("example", "big", {"size": 500_000}))
    assert len(response.body["blob"]) == 500_000


def test_tls_with_password() -> None:
    """TLS (rediss:// or ssl=True with the CA in connection_kwargs) and a password work."""
    with RedisServerProcess(tls=True, password="s3cret", binary=tls_capable_redis()) as server:
        connection = {**server.tls_files.client_kwargs(), "password": "s3cret"}
        for hosts in ([f"rediss://{server.host}:{server.port}/0"], [server.address]):
            settings = {
                "backend_type": "redis.standard",
                "backend_layer_kwargs": {"hosts": hosts, "connection_kwargs": connection},
            }
            with serving(settings):
                assert run(client_of(settings).call_action("example", "square", {"number": 3})).body == {"square": 9}


def test_acl_users() -> None:
    """An ACL user and password in connection_kwargs authenticate; a wrong password fails the call clearly."""
    acl = ["--user", "default", "off", "--user", "svc", "on", ">pw", "~pysoa:*", "+@all"]
    with RedisServerProcess(extra_args=acl, client_kwargs={"username": "svc", "password": "pw"}) as server:
        good = {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {
                "hosts": [server.address],
                "connection_kwargs": {"username": "svc", "password": "pw"},
            },
        }
        with serving(good):
            assert run(client_of(good).call_action("example", "square", {"number": 4})).body == {"square": 16}
        bad = {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {
                "hosts": [server.address],
                "connection_kwargs": {"username": "svc", "password": "nope"},
            },
        }
        with pytest.raises(MessageSendError, match="refused the handshake"):
            run(client_of(bad).call_action("example", "square", {"number": 4}, timeout=2))


def test_unix_socket_hosts() -> None:
    """A unix:// URL works as a host."""
    with RedisServerProcess(unix_socket=True) as server:
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [server.unix_url]}}
        with serving(settings):
            assert run(client_of(settings).call_action("example", "square", {"number": 5})).body == {"square": 25}


def test_sentinel_backends_discover_their_masters() -> None:
    """With Sentinel, the masters are asked of the Sentinels (services configured or discovered)."""
    with RedisSentinelGroup(masters=["alpha", "beta"], replicas=0, sentinels=1) as group:
        for layer in (
            {"hosts": group.sentinel_hosts},
            {"hosts": group.sentinel_hosts, "sentinel_services": ["beta", "alpha"]},
        ):
            settings = {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer}

            async def calls(client: AsyncClient) -> list[ActionResponse]:
                async with client:
                    # A generous timeout: the default 5 s was once not enough on a machine running 3 CI gates.
                    return await asyncio.gather(
                        *(client.call_action("example", "square", {"number": i}, timeout=30) for i in range(20))
                    )

            with serving(settings, workers=2):
                responses = run(calls(client_of(settings)))
            assert [r.body["square"] for r in responses] == [i * i for i in range(20)]


@pytest.mark.parametrize("control", [{}, {"suppress_response": True}], ids=["awaited", "suppress_response"])
def test_a_send_whose_sentinels_list_no_service_fails_with_a_send_error(control: dict[str, Any]) -> None:
    """With no sentinel_services configured and no Sentinel answering (a closed port), a send fails with
    MessageSendError naming the Sentinel asked, not with the driver's own connection error (an OSError)."""
    port = pick_free_port()
    layer = {"hosts": [("127.0.0.1", port)]}
    transport = AsyncRedisClientTransport("example", backend_type="redis.sentinel", backend_layer_kwargs=layer)

    async def send() -> None:
        try:
            body = {"control": control, "context": {}, "actions": [{"action": "square"}]}
            await transport.send_request_message(1, {}, body)
        finally:
            await transport.aclose()

    # The Sentinel asked is named with its cause, as by the blocking driver.
    expected = "Redis error sending to service example: No sentinel_services configured and none could be discovered"
    with pytest.raises(MessageSendError, match=rf"^{expected} with SENTINEL MASTERS \(asked 127\.0\.0\.1:{port}: "):
        run(send())


def test_a_master_no_sentinel_knows_fails_with_an_error_naming_each_sentinel() -> None:
    """With sentinel_services configured and no Sentinel knowing a master of it, a send fails with MessageSendError
    naming the service and each Sentinel asked with its cause, as with the blocking driver (it named no Sentinel)."""
    port = pick_free_port()
    layer = {"hosts": [("127.0.0.1", port)], "sentinel_services": ["main"]}
    transport = AsyncRedisClientTransport("example", backend_type="redis.sentinel", backend_layer_kwargs=layer)

    async def send() -> None:
        try:
            await transport.send_request_message(1, {}, {"control": {}, "context": {}, "actions": [{"action": "a"}]})
        finally:
            await transport.aclose()

    expected = "Redis error sending to service example: Cannot get connection: no Sentinel knows a master for service"
    with pytest.raises(MessageSendError, match=rf"^{expected} 'main' \(asked 127\.0\.0\.1:{port}: [^;]+\)$"):
        run(send())


@pytest.mark.parametrize("lookup", ["asking a silent Sentinel", "between failover retries"])
def test_closing_the_client_ends_a_master_lookup_under_way(lookup: str) -> None:
    """AsyncClient.aclose() while a call's master lookup asks a Sentinel that never answers (6 s socket timeout), or
    waits to ask again (sentinel_failover_retries, no master known), ends the lookup at once: the call fails with a
    MessageSendError saying the lookup was closed, and no connection to the Sentinel is left. The lookup went on
    after the close (to the timeout, or through the backoffs, asking again) and failed saying no Sentinel knew a
    master. The call's reply future, failed by the close while its send was under way, is not reported by asyncio
    as an exception never retrieved (it was, once the send failed)."""
    with RedisSentinelProcess([]) as sentinel, socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # takes the connection (the kernel's backlog), never answers
        layer: dict[str, Any] = {
            "hosts": [silent.getsockname()] if lookup == "asking a silent Sentinel" else [sentinel.address],
            "sentinel_services": ["main"],
            "sentinel_failover_retries": 5,  # the backoffs end by 0.5, 1.25, 2.5, 4.75 s, the next by 9 s or so
            "sentinel_kwargs": {"socket_connect_timeout": 6.0, "socket_timeout": 6.0},
        }
        client = client_of({"backend_type": "redis.sentinel", "backend_layer_kwargs": layer})

        reported: list[dict[str, Any]] = []

        async def closed_during_the_lookup() -> tuple[BaseException | None, float]:
            asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
            call = client.call_action("example", "square", {"number": 2}, timeout=30)
            return await closed_while_under_way(client, call, 1.5)

        failure, ended = run(closed_during_the_lookup())
        sentinel_clients = sentinel.client().client_list()
    # Then the call ended at once (the lookup had 4.5 s or more to go), saying why
    assert ended < 3, ended
    assert isinstance(failure, MessageSendError)
    assert str(failure) == (
        "Redis error sending to service example: Cannot get connection: the lookup of the master of service 'main' "
        "was closed before a Sentinel named one"
    )
    assert [client["cmd"] for client in sentinel_clients] in (["client|list"], ["client"])
    assert [context["message"] for context in reported] == []


def test_calls_waiting_for_a_master_lookup_that_hangs_end_at_their_deadline_and_share_it() -> None:
    """Five calls gathered whose master lookup asks a Sentinel that takes the connection and never answers (8 s socket
    timeout) end within their timeout and its one-second margin, with the MessageSendError the blocking driver raises
    (no Sentinel had named the master when the call's time was up), and share one lookup: one connection to the
    Sentinel. Each call waited for the Sentinel's socket timeout, over a connection of its own."""
    # When five calls are gathered, the Sentinel answering none
    outcomes, asked = _five_calls_to_a_silent_sentinel({"sentinel_services": ["main"]})
    # Then each call ended within its 1 s and the margin (bound generous for a loaded machine), saying why
    expected = (
        r"^Redis error sending to service example: Cannot get connection: no Sentinel had named the master of service "
        r"'main' when the call's time was up \(after [0-9.]+ s; the lookup goes on for the next calls\)$"
    )
    _each_failed_in_time(outcomes, expected)
    # And the Sentinel was asked once
    assert asked == 1


def test_calls_waiting_for_a_discovery_of_the_services_that_hangs_end_at_their_deadline_and_share_it() -> None:
    """Five calls gathered, without sentinel_services, whose one Sentinel takes the connection and never answers (8 s
    socket timeout) end within their timeout and its one-second margin, with the MessageSendError the blocking driver
    raises (no Sentinel had listed the services when the call's time was up), and share one discovery: one connection
    to the Sentinel. Each call waited for the Sentinel's socket timeout, over a connection of its own."""
    # When five calls are gathered, the Sentinel answering none
    outcomes, asked = _five_calls_to_a_silent_sentinel({})
    # Then each call ended within its 1 s and the margin (bound generous for a loaded machine), saying why
    expected = (
        r"^Redis error sending to service example: Cannot get connection: no Sentinel had listed the services "
        r"\(SENTINEL MASTERS; no sentinel_services configured\) when the call's time was up \(after [0-9.]+ s; the "
        r"discovery goes on for the next calls\)$"
    )
    _each_failed_in_time(outcomes, expected)
    # And the Sentinel was asked once
    assert asked == 1


def test_a_discovery_of_the_services_a_call_stopped_waiting_for_goes_on_for_the_next_calls() -> None:
    """A call without sentinel_services that stopped waiting for the discovery of the services (the first Sentinel
    takes the connection and never answers, 3 s socket timeout) leaves it going: it asks the next Sentinel, which lists
    the service, and a call after it, with time enough, is answered; the silent Sentinel was asked twice (the one
    discovery, then the master lookup). The first call waited for the socket timeout, and each call discovered anew."""
    with (
        RedisServerProcess() as master,
        RedisSentinelProcess([("example", *master.address)]) as sentinel,
        socket.socket() as silent,
    ):
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        layer: dict[str, Any] = {
            "hosts": [silent.getsockname(), sentinel.address],
            "sentinel_kwargs": {"socket_connect_timeout": 3.0, "socket_timeout": 3.0},
        }
        transport = {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer}
        with serving({**transport, "backend_layer_kwargs": {**layer, "hosts": [sentinel.address]}}):
            client = client_of(transport)

            async def calls() -> tuple[BaseException | None, float, Any]:
                # Given a call (0.3 s, and its one-second margin) that stopped waiting for the discovery
                started = time.monotonic()
                failure: BaseException | None = None
                try:
                    await client.call_action("example", "square", {"number": 3}, timeout=0.3)
                except Exception as exc:
                    failure = exc
                gave_up = time.monotonic() - started
                # When another call follows, with time enough for the discovery and the master lookup to end
                response = await client.call_action("example", "square", {"number": 4}, timeout=15)
                await client.aclose()
                return failure, gave_up, response

            failure, gave_up, response = run(calls())
        asked = _connections_taken(silent)
    # Then the first said why at its deadline (bound generous for a loaded machine), the second was answered, and the
    # silent Sentinel was asked by one discovery and one master lookup
    assert isinstance(failure, MessageSendError), failure
    assert "no Sentinel had listed the services" in str(failure), str(failure)
    assert gave_up < 2.5, gave_up
    assert response.body == {"square": 16}
    assert asked == 2


def _five_calls_to_a_silent_sentinel(layer: dict[str, Any]) -> tuple[list[tuple[BaseException | None, float]], int]:
    """Five ``AsyncClient`` calls (timeout 1 s) gathered, whose one Sentinel (with ``layer``'s other settings) takes the
    connection and never answers (8 s socket timeout): what each raised and took, and how many connections the
    Sentinel took."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # takes the connections (the kernel's backlog), never answers
        sentinels = {"socket_connect_timeout": 8.0, "socket_timeout": 8.0}
        layer = {"hosts": [silent.getsockname()], "sentinel_kwargs": sentinels, **layer}
        client = client_of({"backend_type": "redis.sentinel", "backend_layer_kwargs": layer})

        async def call() -> tuple[BaseException | None, float]:
            started = time.monotonic()
            try:
                await client.call_action("example", "square", {"number": 2}, timeout=1)
            except Exception as exc:
                return exc, time.monotonic() - started
            return None, time.monotonic() - started

        async def calls() -> tuple[list[tuple[BaseException | None, float]], int]:
            outcomes = await asyncio.gather(*(call() for _ in range(5)))
            await client.aclose()
            return outcomes, _connections_taken(silent)

        return run(calls())


def _each_failed_in_time(outcomes: list[tuple[BaseException | None, float]], expected: str) -> None:
    """Each call raised a MessageSendError matching ``expected`` within 3 s (its 1 s and the one-second margin, the
    bound generous for a loaded machine)."""
    for failure, elapsed in outcomes:
        assert isinstance(failure, MessageSendError), failure
        assert re.match(expected, str(failure)), str(failure)
        assert elapsed < 3.0, elapsed


def _connections_taken(listening: socket.socket) -> int:
    """How many connections wait in ``listening``'s backlog (accepted and closed here)."""
    listening.setblocking(False)
    taken = 0
    while True:
        try:
            listening.accept()[0].close()
        except BlockingIOError:
            return taken
        taken += 1


def test_a_redis_restart_fails_calls_with_transport_errors_then_they_work_again() -> None:
    """While Redis is down calls raise transport errors quickly; once it is back on the same port, calls work."""
    with RedisServerProcess() as server:
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [server.address]}}
        client = client_of(settings)

        async def call() -> ActionResponse:
            return await client.call_action("example", "square", {"number": 6}, timeout=3)

        with serving(settings):
            assert run(call()).body == {"square": 36}
            server.kill()
            started = time.monotonic()
            with pytest.raises(PySOATransportError):
                run(call())
            assert time.monotonic() - started < 3
            server.start()
            assert run(call()).body == {"square": 36}


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="TCP_KEEPIDLE is Linux's")
def test_a_socket_error_while_a_connection_is_set_up_fails_the_call_with_a_send_error(kwargs: dict[str, Any]) -> None:
    """An OSError raised on a new connection's socket after it connected (here by a keepalive option the system
    refuses) fails the call with MessageSendError, as with the blocking driver: never as a bare OSError."""
    options = {socket.TCP_KEEPIDLE: 0}  # Linux takes 1 to 32767 seconds
    layer = {**kwargs["backend_layer_kwargs"], "connection_kwargs": {"socket_keepalive_options": options}}
    settings = {"backend_type": "redis.standard", "backend_layer_kwargs": layer}
    with pytest.raises(MessageSendError, match="Invalid argument"):
        run(client_of(settings).call_action("example", "square", {"number": 1}, timeout=2))


def test_a_subclass_of_the_redis_transport_has_no_asyncio_driver_unless_it_says(kwargs: dict[str, Any]) -> None:
    """A RedisClientTransport subclass gets ImproperlyConfigured: its changes would not be in the asyncio driver."""

    client = AsyncClient({"example": {"transport": {"path": f"{__name__}:CustomRedisTransport", "kwargs": kwargs}}})
    with pytest.raises(ImproperlyConfigured, match="has no asyncio driver"):
        run(client.call_action("example", "square", {"number": 1}))


def test_a_connection_setting_the_driver_cannot_honour_is_named(kwargs: dict[str, Any]) -> None:
    """A connection_kwargs key the asyncio driver does not know is refused, naming it."""
    layer = {**kwargs["backend_layer_kwargs"], "connection_kwargs": {"ssl_warp_drive": True}}
    with pytest.raises(ValueError, match="ssl_warp_drive"):
        AsyncRedisClientTransport("example", backend_type="redis.standard", backend_layer_kwargs=layer)


def test_batched_replies_reach_their_own_calls_and_cancelled_calls_get_none(kwargs: dict[str, Any]) -> None:
    """With hundreds of calls in flight (replies popped in batches), cancelling some hands their replies to nobody.

    Every call that is not cancelled gets its own reply; the cancelled ones' replies are dropped and counted; calls
    made afterwards get their own replies too.
    """
    client = client_of(kwargs, metrics={"path": "pysoa_like.common.metrics:CountingMetricsRecorder"})
    cancelled = set(range(0, 300, 7))

    async def calls() -> tuple[dict[int, Any], list[Any]]:
        tasks = {
            i: asyncio.ensure_future(client.call_action("example", "sleep", {"seconds": 0.001, "tag": i}, timeout=30))
            for i in range(300)
        }
        await asyncio.sleep(0.05)
        for i in cancelled:
            tasks[i].cancel()
        await asyncio.wait(tasks.values())
        outcomes = {i: "cancelled" if task.cancelled() else task.result().body["tag"] for i, task in tasks.items()}
        after = [(await client.call_action("example", "sleep", {"seconds": 0, "tag": "after"})).body["tag"]]
        await client.aclose()
        return outcomes, after

    with serving(kwargs, workers=2):
        outcomes, after = run(calls())
    assert after == ["after"]
    # A call may have been answered before it was cancelled; all others have their own tag.
    assert all(outcomes[i] in ("cancelled", i) for i in cancelled)
    assert all(outcomes[i] == i for i in range(300) if i not in cancelled)
    gone = sum(1 for i in cancelled if outcomes[i] == "cancelled")
    assert gone > 0
    metrics = client.handlers["example"].metrics
    assert isinstance(metrics, CountingMetricsRecorder)
    # A cancelled call's request may not have been pushed yet: at most one dropped reply per cancelled call.
    assert metrics.get_count("client.transport.redis_gateway.receive.error.unknown_reply") <= gone


def test_replies_that_come_while_many_calls_wait_all_reach_their_calls(kwargs: dict[str, Any]) -> None:
    """Forty calls wait (the reader then pauses between pops to take replies in batches) before any worker runs:
    once workers start, every reply still reaches its own call."""

    async def calls() -> list[Any]:
        async with client_of(kwargs) as client:
            gathered = asyncio.gather(
                *(client.call_action("example", "square", {"number": i}, timeout=30) for i in range(40))
            )
            await asyncio.sleep(0.3)
            with serving(kwargs, workers=2):
                responses = await gathered
        return [response.body["square"] for response in responses]

    assert run(calls()) == [i * i for i in range(40)]


def test_many_calls_waiting_at_once_each_time_out_at_their_deadline(kwargs: dict[str, Any]) -> None:
    """Forty calls with no worker running all raise MessageReceiveTimeout at their timeout, not later."""

    async def calls() -> tuple[list[Any], float]:
        started = time.monotonic()
        async with client_of(kwargs) as client:
            outcomes = await asyncio.gather(
                *(client.call_action("example", "square", {"number": i}, timeout=0.3) for i in range(40)),
                return_exceptions=True,
            )
        return outcomes, time.monotonic() - started

    outcomes, elapsed = run(calls())
    assert all(isinstance(outcome, MessageReceiveTimeout) for outcome in outcomes)
    assert elapsed < 5  # generous: a shared, loaded machine


@pytest.mark.parametrize("close", ["aclose", "loop end"])
def test_a_call_given_up_while_its_connection_opens_leaves_no_socket_open(close: str) -> None:
    """A call cancelled while its connection is still being opened (a Redis that never answers the handshake)
    leaves no socket behind once the client is closed, or its loop ended."""
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        layer = {"hosts": [("127.0.0.1", silent.getsockname()[1])], "connection_kwargs": {"password": "pw"}}
        client = client_of({"backend_type": "redis.standard", "backend_layer_kwargs": layer})

        async def call() -> None:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.call_action("example", "square", {"number": 1}), 0.3)
            if close == "aclose":
                await client.aclose()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(call())
            gc.collect()
    assert [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)] == []


def test_a_command_redis_never_answers_fails_at_its_deadline_with_the_others_on_its_connection() -> None:
    """A push that waits for Redis' answer (a request with no reply awaited) to a Redis that stopped answering fails
    with MessageSendError at its deadline (the request's expiry plus a margin): the connection is then closed, and
    every command still waiting on it fails at once too."""
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        transport = AsyncRedisClientTransport(
            "example",
            backend_type="redis.standard",
            backend_layer_kwargs={"hosts": [("127.0.0.1", silent.getsockname()[1])]},
        )
        unanswered = {"control": {"suppress_response": True}, "context": {}, "actions": [{"action": "square"}]}

        async def push(request_id: int, expiry: float) -> float:
            started = time.monotonic()
            with pytest.raises(MessageSendError, match="did not answer"):
                await transport.send_request_message(request_id, {}, unanswered, message_expiry_in_seconds=expiry)
            return time.monotonic() - started

        async def pushes() -> list[float]:
            first = asyncio.ensure_future(push(1, 0.5))
            await asyncio.sleep(0.1)  # the second's own deadline would come later
            elapsed = await asyncio.gather(first, push(2, 2.0))
            await transport.aclose()
            return elapsed

        first, second = run(pushes())
    # The first push's deadline (0.5 s expiry + 1 s margin) ends both; bounds generous for a loaded machine.
    assert 1.4 < first < 1.5 + 2.5
    assert 1.3 < second < 2.9  # before its own deadline (2 s + 1 s, from 0.1 s later)
