"""The Sentinel backend against real Sentinels: master discovery, ring order, following a failover and master lookups
ended by close()."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.metrics import NoOpMetricsRecorder
from pysoa_like.common.transport.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    ReceiveAuthenticationError,
    TransientPySOATransportError,
)
from pysoa_like.common.transport.redis_gateway._backend_making import BACKEND_MAKING
from pysoa_like.common.transport.redis_gateway._backends import SharedBackends
from pysoa_like.common.transport.redis_gateway.backend.base import CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import reply_key_host_index
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.delivery import DeliveryOptions
from pysoa_like.test.redis import RedisSentinelGroup, RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.integration.redis_transport._helpers import RecordingMetrics, job_request, job_response


@pytest.fixture(scope="module")
def group() -> Iterator[RedisSentinelGroup]:
    """Two Sentinel services, each a master with one replica, watched by one Sentinel."""
    with RedisSentinelGroup(masters=["alpha", "beta"], replicas=1, sentinels=1) as sentinel_group:
        yield sentinel_group


@pytest.fixture(params=["nothing_listens", "monitors_no_master"])
def silent_sentinel(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """The address of a Sentinel whose SENTINEL MASTERS gives no service: a port where nothing listens, or a real
    Sentinel that monitors no master."""
    if request.param == "nothing_listens":
        yield ("127.0.0.1", pick_free_port())
    else:
        with RedisSentinelProcess([]) as sentinel:
            yield sentinel.address


def _discovering(*sentinels: tuple[str, int] | str) -> dict[str, Any]:
    """Sentinel settings without sentinel_services: the services are discovered."""
    return {"backend_type": "redis.sentinel", "backend_layer_kwargs": {"hosts": list(sentinels)}}


def _settings(group: RedisSentinelGroup, **layer: Any) -> dict[str, Any]:
    return {"backend_type": "redis.sentinel", "backend_layer_kwargs": {"hosts": group.sentinel_hosts, **layer}}


def _round_trip(client: RedisClientTransport, server: RedisServerTransport, request_id: int) -> dict[str, Any]:
    client.send_request_message(request_id, {}, job_request())
    for _ in range(4):  # the server polls one master per receive
        try:
            received_id, meta, _ = server.receive_request_message()
        except MessageReceiveTimeout:
            continue
        server.send_response_message(received_id, meta, job_response())
        assert client.receive_response_message(1).request_id == request_id
        return meta
    raise AssertionError("the request was never received")


def test_services_are_discovered(group: RedisSentinelGroup) -> None:
    """Without sentinel_services, the ring is every service SENTINEL MASTERS lists, and calls work."""
    settings = _settings(group)
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
    assert isinstance(client.core.backend_layer, SentinelRedisClient)
    assert sorted(client.core.backend_layer.services) == ["alpha", "beta"]
    _round_trip(client, server, 1)


def test_reply_lands_on_the_hashed_service(group: RedisSentinelGroup) -> None:
    """With explicit sentinel_services, the reply is on the master of the service its key hashes to."""
    settings = _settings(group, sentinel_services=["beta", "alpha"])
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
    client.send_request_message(1, {}, job_request())
    meta: dict[str, Any] | None = None
    for _ in range(4):
        try:
            request_id, meta, _ = server.receive_request_message()
            break
        except MessageReceiveTimeout:
            continue
    assert meta is not None
    server.send_response_message(request_id, meta, job_response())
    key = "pysoa:" + meta["reply_to"]
    service = ["beta", "alpha"][reply_key_host_index(key, 2)]
    with group.master_for(service).client() as master:
        assert master.llen(key) == 1
    assert client.receive_response_message(1).request_id == 1


def test_failover_is_followed(group: RedisSentinelGroup) -> None:
    """After a failover (and the old master's death), the next calls fail transiently, then reach the new master."""
    settings = _settings(group, sentinel_services=["alpha"], sentinel_failover_retries=3)
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
    _round_trip(client, server, 1)
    old_master = group.master_for("alpha")
    new_master = group.failover("alpha")
    old_master.kill()
    deadline = time.monotonic() + 20
    request_id = 2
    while True:
        try:
            _round_trip(client, server, request_id)
            break
        except (TransientPySOATransportError, AssertionError):
            if time.monotonic() > deadline:
                raise
            request_id += 1
            time.sleep(0.2)
    master_client = client.core.backend_layer.client_at(0)
    assert master_client.connection_pool.connection_kwargs["port"] == new_master.port


def test_idle_connections_follow_a_failover_without_a_failed_call(group: RedisSentinelGroup) -> None:
    """Once the old master is a replica, the first call of an idle client and server reaches the new master.

    Sentinel closes the old master's client connections when it demotes it (and a demoted master answers
    READONLY to a push): both are noticed before or at the first command, the master is looked up again and
    the command goes there. PySOA's redis-py pool did the same; a lane used to fail that first call.
    """
    settings = _settings(group, sentinel_services=["beta"], sentinel_failover_retries=3)
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
    _round_trip(client, server, 1)
    old_master = group.master_for("beta")
    new_master = group.failover("beta")
    deadline = time.monotonic() + 20
    with old_master.client() as old:
        while old.info("replication")["role"] != "slave":
            assert time.monotonic() < deadline, "the old master was never demoted"
            time.sleep(0.1)
    _round_trip(client, server, 2)
    master_client = client.core.backend_layer.client_at(0)
    assert master_client.connection_pool.connection_kwargs["port"] == new_master.port


def test_a_call_whose_services_cannot_be_discovered_fails_with_a_send_error(silent_sentinel: tuple[str, int]) -> None:
    """No Sentinel lists a service to discover: each call fails with MessageSendError naming the Sentinel asked and
    why (it was a ValueError from the backend), as with the asyncio driver."""
    host, port = silent_sentinel
    transport = {
        "path": f"{RedisClientTransport.__module__}:RedisClientTransport",
        "kwargs": _discovering(silent_sentinel),
    }
    client = Client({"echo": {"transport": transport}})
    for _ in range(2):  # the failure is not kept: the next call asks the Sentinels again
        with pytest.raises(MessageSendError) as failure:
            client.call_action("echo", "square", {}, timeout=2)
        message = str(failure.value)
        assert message.startswith("Redis error sending to service echo: No sentinel_services configured")
        assert f"{host}:{port}" in message


def test_a_server_receive_whose_services_cannot_be_discovered_fails_with_a_receive_error(
    silent_sentinel: tuple[str, int],
) -> None:
    """A server's first receive needs the services too: MessageReceiveError (a transient transport error the worker
    loop backs off on), naming the Sentinel asked."""
    host, port = silent_sentinel
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **_discovering(silent_sentinel))
    with pytest.raises(MessageReceiveError) as failure:
        server.receive_request_message()
    message = str(failure.value)
    assert message.startswith("Redis error receiving from service echo: No sentinel_services configured")
    assert f"{host}:{port}" in message


def test_each_sentinel_asked_is_named_with_its_cause() -> None:
    """With several Sentinels and none listing a service, the error names each one asked and why it gave none."""
    closed = f"127.0.0.1:{pick_free_port()}"
    with RedisSentinelProcess([]) as empty:
        host, port = empty.address
        client = RedisClientTransport("echo", **_discovering(closed, empty.address))
        with pytest.raises(MessageSendError) as failure:
            client.send_request_message(1, {}, job_request())
    # (The refused connection's own text is the platform's.)
    assert re.search(rf"\(asked {re.escape(closed)}: .+; {host}:{port}: it monitors no master\)$", str(failure.value))


def test_calls_work_once_a_sentinel_answers_the_discovery() -> None:
    """The discovery is tried again on each send until a Sentinel answers; then calls go to the discovered master."""
    port = pick_free_port()
    settings = _discovering(("127.0.0.1", port))
    client = RedisClientTransport("echo", **settings)
    server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
    with pytest.raises(MessageSendError):
        client.send_request_message(1, {}, job_request())
    with pytest.raises(MessageReceiveError):
        server.receive_request_message()
    with RedisServerProcess() as master, RedisSentinelProcess([("alpha", *master.address)], port=port):
        _round_trip(client, server, 2)
        assert client.core.backend_layer.services == ["alpha"]


def test_sentinels_refusing_the_credentials_stop_a_server_and_fail_a_send() -> None:
    """A Sentinel that refuses the credentials while discovering the services is not an outage: a server's receive
    raises ``ReceiveAuthenticationError`` (a worker stops on it, exit 2, as when Redis refuses them), a client's send
    ``MessageSendError`` naming the refusal."""
    with RedisServerProcess(password="right") as guarded:
        settings = _discovering(guarded.address)
        settings["backend_layer_kwargs"]["sentinel_kwargs"] = {"password": "wrong"}
        server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
        with pytest.raises(ReceiveAuthenticationError, match="the credentials are refused"):
            server.receive_request_message()
        client = RedisClientTransport("echo", **settings)
        with pytest.raises(MessageSendError, match="the credentials are refused"):
            client.send_request_message(1, {}, job_request())


def test_a_sentinel_host_that_is_not_a_sentinel_is_named_so() -> None:
    """A plain Redis given as a Sentinel answers SENTINEL MASTERS with an error: the message says so."""
    with RedisServerProcess() as plain:
        client = RedisClientTransport("echo", **_discovering(plain.address))
        with pytest.raises(MessageSendError, match=r"is it a Sentinel\? it answered: .*(?i:unknown command)"):
            client.send_request_message(1, {}, job_request())


def test_a_master_no_sentinel_knows_fails_with_a_short_error_naming_each_sentinel() -> None:
    """With sentinel_services configured and no Sentinel knowing a master of it (one not listening, one monitoring
    nothing), a send fails with a short MessageSendError naming the service and each Sentinel asked with its cause
    (it held redis-py's repr of each Sentinel's connection pool: several hundred characters per Sentinel)."""
    closed = f"127.0.0.1:{pick_free_port()}"
    with RedisSentinelProcess([]) as empty:
        host, port = empty.address
        layer = {"hosts": [closed, empty.address], "sentinel_services": ["main"]}
        client = RedisClientTransport("echo", backend_type="redis.sentinel", backend_layer_kwargs=layer)
        with pytest.raises(MessageSendError) as failure:
            client.send_request_message(1, {}, job_request())
    message = str(failure.value)
    expected = "Cannot get connection: no Sentinel knows a master for service 'main'"
    # (The refused connection's own text is the platform's.)
    assert re.search(
        rf"{expected} \(asked {re.escape(closed)}: [^;]+; {host}:{port}: it monitors no master named 'main'\)$", message
    ), message
    assert len(message) < 300, message


@pytest.mark.parametrize("sentinel", ["nothing_listens", "monitors_no_master"])
def test_a_failed_master_lookup_names_the_service_like_the_other_transport_errors(sentinel: str) -> None:
    """A master no Sentinel knows fails a client's send and a server's receive with the prefix every other Redis
    failure of theirs carries, naming the transport's service ("Redis error sending to service echo: ..."), as the
    asyncio driver words it (it was the Sentinel's text alone)."""
    with contextlib.ExitStack() as stack:
        if sentinel == "nothing_listens":
            address: tuple[str, int] = ("127.0.0.1", pick_free_port())
        else:
            address = stack.enter_context(RedisSentinelProcess([])).address
        layer = {"hosts": [address], "sentinel_services": ["main"]}
        settings: dict[str, Any] = {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer}
        lookup = "Cannot get connection: no Sentinel knows a master for service 'main' (asked "
        client = RedisClientTransport("echo", **settings)
        with pytest.raises(MessageSendError, match=rf"^Redis error sending to service echo: {re.escape(lookup)}"):
            client.send_request_message(1, {}, job_request())
        server = RedisServerTransport("echo", receive_timeout_in_seconds=0.3, **settings)
        receiving = rf"^Redis error receiving from service echo: {re.escape(lookup)}"
        with pytest.raises(MessageReceiveError, match=receiving):
            server.receive_request_message()


@pytest.mark.parametrize("lookup", ["master", "services"])
def test_an_at_least_once_worker_finding_no_master_says_so_once(lookup: str) -> None:
    """An at-least-once worker that cannot advertise itself because no Sentinel names a master (or, without
    sentinel_services, lists a service) fails its receive with one 'Redis error ...' prefix, the advertising one,
    then the Sentinels' answer (it read 'Redis error advertising a worker of echo: Redis error sending to service
    echo: ...')."""
    with RedisSentinelProcess([]) as sentinel:
        layer: dict[str, Any] = {"hosts": [sentinel.address]}
        if lookup == "master":
            layer["sentinel_services"] = ["main"]
        server = RedisServerTransport(
            "echo", receive_timeout_in_seconds=0.3, backend_type="redis.sentinel", backend_layer_kwargs=layer
        )
        server.enable_at_least_once(DeliveryOptions(), lambda action: True)
        with pytest.raises(MessageReceiveError) as failure:
            server.receive_request_message()
    answer = {
        "master": "Cannot get connection: no Sentinel knows a master for service 'main' (asked ",
        "services": "No sentinel_services configured and none could be discovered with SENTINEL MASTERS (asked ",
    }[lookup]
    assert str(failure.value).startswith(f"Redis error advertising a worker of echo: {answer}"), str(failure.value)


_LOOKUP_CLOSED = "Cannot get connection: the lookup of the master of service 'main' was closed"


def test_a_master_lookup_waiting_for_one_that_close_ends_ends_too() -> None:
    """A master lookup asked for before close() while another thread's runs (asking a Sentinel that never answers)
    ends, as that one does, with the error saying it was closed, asking no Sentinel: it ran in full after close()
    returned, keeping a master and a connection to the Sentinel that named it."""
    with (
        RedisServerProcess() as master,
        RedisSentinelProcess([("main", *master.address)]) as sentinel,
        socket.socket() as silent,  # takes the connection (the kernel's backlog), never answers
    ):
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        backend = SentinelRedisClient(
            hosts=[silent.getsockname(), sentinel.address],
            sentinel_services=["main"],
            sentinel_kwargs={"socket_connect_timeout": 3.0, "socket_timeout": 3.0},
        )
        silent.settimeout(5)
        outcomes: dict[str, Any] = {}
        # Given a lookup asking the silent Sentinel (its connection taken), and a second one asked for meanwhile,
        # waiting for the first (given a second, well within the 3 s the first waits, to start waiting)
        first = _looking_up(backend, "first", outcomes)
        asked, _ = silent.accept()
        second = _looking_up(backend, "second", outcomes)
        time.sleep(1.0)
        # When the backend is closed
        backend.close()
        first.join(5)
        second.join(5)
        asked.close()
        sentinel_clients = sentinel.client().client_list()
    # Then both lookups ended saying so, and no connection to the real Sentinel stayed open but the test's own
    closed = f"{_LOOKUP_CLOSED} before a Sentinel named one"
    assert {name: str(outcome) for name, outcome in outcomes.items()} == {"first": closed, "second": closed}
    # (Redis 7 names the command "client|list", Redis 6.2 "client".)
    assert [client["cmd"].split("|")[0] for client in sentinel_clients] == ["client"]


def test_a_master_lookup_closed_once_a_sentinel_named_the_master_says_so() -> None:
    """close() after a Sentinel named the master and before the lookup keeps it (here, as the lookup's timer stops)
    fails the lookup saying a Sentinel named that master and it is not kept (it said the lookup was closed before
    a Sentinel named one)."""
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        backend = SentinelRedisClient(hosts=[sentinel.address], sentinel_services=["main"])
        named = f"127.0.0.1:{master.port}"
        # When the lookup's timer closes the backend as it stops
        with pytest.raises(CannotGetConnectionError) as failure:
            backend.client_at(0, _ClosingAsTheLookupEnds(backend))
    # Then the lookup says what it found and that it is not kept
    assert str(failure.value) == f"{_LOOKUP_CLOSED} after a Sentinel named one ({named}), which is not kept"


_LOOKUP_TIMED_OUT = re.compile(
    r"^Redis error sending to service echo: Cannot get connection: no Sentinel had named the master of service 'main' "
    r"when the call's time was up \(after [0-9.]+ s; the lookup goes on for the next calls\)$"
)


def test_calls_waiting_for_a_master_lookup_that_hangs_end_at_their_deadline_and_share_it() -> None:
    """Calls in three threads whose master lookup asks a Sentinel that takes the connection and never answers (8 s
    socket timeout) end within their timeout and its one-second margin, with a MessageSendError saying no Sentinel had
    named the master when the call's time was up; they share one lookup (one connection to the Sentinel). The first
    waited for the Sentinel's socket timeout, the others for it in turn."""
    # When three threads call at once, the Sentinel answering none
    outcomes, asked = _three_calls_to_a_silent_sentinel({"sentinel_services": ["main"]})
    # Then each call ended within its 1 s and the margin (bound generous for a loaded machine), saying why
    assert sorted(outcomes) == ["caller 0", "caller 1", "caller 2"]
    for name, (failure, elapsed) in outcomes.items():
        assert isinstance(failure, MessageSendError), (name, failure)
        assert _LOOKUP_TIMED_OUT.match(str(failure)), str(failure)
        assert elapsed < 3.0, (name, elapsed)
    # And the Sentinel was asked once
    assert asked == 1


def test_a_master_lookup_a_call_stopped_waiting_for_goes_on_for_the_next_calls() -> None:
    """A send that stopped waiting for its master lookup (the first Sentinel takes the connection and never answers,
    3 s socket timeout) leaves it going: it asks the next Sentinel, which names the master, and a send after it, with
    time enough, gets that master from the same lookup and pushes there, the silent Sentinel asked once. The first
    send waited for the socket timeout (and then pushed)."""
    with _behind_a_silent_sentinel() as (master, silent, client):
        # Given a send (0.5 s, and its one-second margin) that stopped waiting for the lookup
        started = time.monotonic()
        with pytest.raises(MessageSendError) as failure:
            client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=0.5)
        gave_up = time.monotonic() - started
        # When another send follows, with time enough for the lookup to end
        client.send_request_message(2, {}, job_request(), message_expiry_in_seconds=10)
        asked = _connections_taken(silent)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then the first said why at its deadline (bound generous for a loaded machine), the second pushed to the master
    # the lookup found, and the silent Sentinel was asked once
    assert _LOOKUP_TIMED_OUT.match(str(failure.value)), str(failure.value)
    assert gave_up < 2.5, gave_up
    assert waiting == 1
    assert asked == 1


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # (the lookup's thread)
@pytest.mark.parametrize("services_configured", [True, False], ids=["master_lookup", "services_discovery"])
def test_a_forked_child_starts_its_own_master_lookup_when_its_parent_forked_during_one(
    services_configured: bool,
) -> None:
    """A process that forks while a master lookup (or, without sentinel_services, the discovery of the services) is
    under way (a send stopped waiting for it: the first Sentinel takes the connection and never answers, 3 s socket
    timeout) leaves its child a backend that looks the master up itself (the parent's thread is not in the child): the
    child's send, with time enough, pushes to the master."""
    with _behind_a_silent_sentinel(services_configured) as (master, _silent, client):
        # Given a send that stopped waiting for the lookup, still under way
        with pytest.raises(MessageSendError):
            client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=0.1)

        def send_and_close() -> None:
            try:
                client.send_request_message(2, {}, job_request(), message_expiry_in_seconds=12)
            finally:
                client.core.backend_layer.close()  # (the child's copies of the connections)

        # When the process forks and the child sends, with time enough for a lookup (or discovery) of its own
        child_said = _in_forked_child(send_and_close)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then the child's send pushed to the master
    assert child_said == "sent"
    assert waiting == 1


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # (the lock's holder)
@pytest.mark.parametrize("discovered", [False, True], ids=["standard", "services_discovery"])
def test_a_forked_child_makes_its_backend_when_its_parent_forked_while_a_thread_held_the_backend_cache_lock(
    discovered: bool,
) -> None:
    """A process that forks while another of its threads holds the backend cache's lock (a discovery's thread keeping
    the backend it made does, briefly) leaves its child a lock of its own: the child's first send makes its backend
    (the standard one, or a Sentinel one whose services it discovers) and pushes. The child's copy of the lock stayed
    held by a thread it does not have: the standard backend's making hung, the discovery's keeping never ended."""
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        if discovered:
            client = RedisClientTransport("echo", **_discovering(sentinel.address))
        else:
            client = RedisClientTransport(
                "echo", backend_type="redis.standard", backend_layer_kwargs={"hosts": [master.address]}
            )

        def send_and_close() -> None:
            try:
                client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=5)
            finally:
                client.core.backend_layer.close()  # (the child's connections)

        # Given another thread holding the backend cache's lock
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with SharedBackends._backend_cache_lock:
                held.set()
                release.wait(60)

        holder = threading.Thread(target=hold, name="holding-the-backend-cache-lock", daemon=True)
        holder.start()
        assert held.wait(10)
        try:
            # When the process forks and the child sends (its time and margin: 6 s)
            child_said = _in_forked_child(send_and_close, within=20)
        finally:
            release.set()
            holder.join(10)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then the child's send pushed to the master
    assert child_said == "sent"
    assert waiting == 1


def test_a_discovery_started_after_a_clear_of_the_backend_cache_keeps_its_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A send without sentinel_services that began before a clear of the backend cache but starts the discovery of the
    services after it (the clear coming in between) gets the backend that discovery made, which is cached, and pushes.
    It counted the clears as it began, so the backend was closed as made across the clear and the send failed
    saying the discovery was closed."""
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        client = RedisClientTransport("echo", **_discovering(sentinel.address))
        # Given a clear of the backend cache just before the send's discovery starts
        start_making = BACKEND_MAKING.backend

        def cleared_first(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(BACKEND_MAKING, "backend", start_making)
            RedisTransportCore.clear_backend_cache()
            return start_making(*args, **kwargs)

        monkeypatch.setattr(BACKEND_MAKING, "backend", cleared_first)
        # When the send follows, and another
        client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=5)
        other = RedisClientTransport("echo", **_discovering(sentinel.address))
        other.send_request_message(2, {}, job_request(), message_expiry_in_seconds=5)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then both pushed, the second on the backend the first's discovery made (cached)
    assert waiting == 2
    assert other.core.backend_layer is client.core.backend_layer


@pytest.mark.parametrize(
    ("services", "thread_name", "what"),
    [
        (["main"], "pysoa-like-sentinel-lookup-main", "the lookup of the master of service 'main'"),
        (None, "pysoa-like-sentinel-discovery", "the discovery of the Sentinel services"),
    ],
    ids=["master_lookup", "services_discovery"],
)
def test_a_master_lookup_whose_thread_cannot_start_fails_the_call_and_the_next_call_looks_up_again(
    monkeypatch: pytest.MonkeyPatch, services: list[str] | None, thread_name: str, what: str
) -> None:
    """When no thread can be started for a master lookup (or, without sentinel_services, the discovery of the
    services: the OS refuses one; the interpreter is shutting down), the send fails with the MessageSendError of a
    failed lookup saying so, and the next send looks the master up and pushes."""
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        layer: dict[str, Any] = {"hosts": [sentinel.address]}
        if services:
            layer["sentinel_services"] = services
        client = RedisClientTransport("echo", backend_type="redis.sentinel", backend_layer_kwargs=layer)
        # Given the OS refusing the next lookup's thread
        start = threading.Thread.start

        def refused_once(thread: threading.Thread) -> None:
            if thread.name == thread_name:
                monkeypatch.setattr(threading.Thread, "start", start)
                raise RuntimeError("can't start new thread")
            start(thread)

        monkeypatch.setattr(threading.Thread, "start", refused_once)
        # When two sends follow
        with pytest.raises(MessageSendError) as failure:
            client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=2)
        client.send_request_message(2, {}, job_request(), message_expiry_in_seconds=2)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then the first said why, and the second pushed
    assert str(failure.value) == (
        f"Redis error sending to service echo: Cannot get connection: {what} could not start a thread (can't start "
        "new thread)"
    )
    assert waiting == 1


_DISCOVERY_TIMED_OUT = re.compile(
    r"^Redis error sending to service echo: Cannot get connection: no Sentinel had listed the services \(SENTINEL "
    r"MASTERS; no sentinel_services configured\) when the call's time was up \(after [0-9.]+ s; the discovery goes on "
    r"for the next calls\)$"
)


def test_calls_waiting_for_a_discovery_of_the_services_that_hangs_end_at_their_deadline_and_share_it() -> None:
    """Calls in three threads, without sentinel_services, whose one Sentinel takes the connection and never answers
    (8 s socket timeout) end within their timeout and its one-second margin, with a MessageSendError saying no Sentinel
    had listed the services when the call's time was up; they share one discovery (one connection to the Sentinel).
    The first waited for the Sentinel's socket timeout under the backend cache's lock, the others behind it."""
    # When three threads call at once, the Sentinel answering none
    outcomes, asked = _three_calls_to_a_silent_sentinel({})
    # Then each call ended within its 1 s and the margin (bound generous for a loaded machine), saying why
    assert sorted(outcomes) == ["caller 0", "caller 1", "caller 2"]
    for name, (failure, elapsed) in outcomes.items():
        assert isinstance(failure, MessageSendError), (name, failure)
        assert _DISCOVERY_TIMED_OUT.match(str(failure)), str(failure)
        assert elapsed < 3.0, (name, elapsed)
    # And the Sentinel was asked once
    assert asked == 1


def test_a_discovery_of_the_services_a_call_stopped_waiting_for_goes_on_for_the_next_calls() -> None:
    """A send without sentinel_services that stopped waiting for the discovery of the services (the first Sentinel
    takes the connection and never answers, 3 s socket timeout) leaves it going: it asks the next Sentinel, which lists
    the service, and a send after it, with time enough, gets the backend it made and pushes to the master. The first
    send waited for the socket timeout (and then pushed)."""
    with _behind_a_silent_sentinel(services_configured=False) as (master, _silent, client):
        # Given a send (0.5 s, and its one-second margin) that stopped waiting for the discovery
        started = time.monotonic()
        with pytest.raises(MessageSendError) as failure:
            client.send_request_message(1, {}, job_request(), message_expiry_in_seconds=0.5)
        gave_up = time.monotonic() - started
        # When another send follows, with time enough for the discovery (and the master lookup) to end
        client.send_request_message(2, {}, job_request(), message_expiry_in_seconds=12)
        with master.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then the first said why at its deadline (bound generous for a loaded machine), and the second pushed
    assert _DISCOVERY_TIMED_OUT.match(str(failure.value)), str(failure.value)
    assert gave_up < 2.5, gave_up
    assert waiting == 1


def test_making_a_backend_whose_services_are_discovered_is_timed_once() -> None:
    """A transport without sentinel_services times the making of its backend, the discovery of the services included
    (``backend.initialize``), once, however many sends follow."""
    with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)]) as sentinel:
        metrics = RecordingMetrics()
        client = RedisClientTransport("echo", metrics=metrics, **_discovering(sentinel.address))
        # When two sends follow
        for request_id in (1, 2):
            client.send_request_message(request_id, {}, job_request(), message_expiry_in_seconds=5)
    # Then the making was timed once
    assert metrics.timers["client.transport.redis_gateway.backend.initialize"] == 1


def test_a_discovery_of_the_services_that_hangs_does_not_hold_up_the_calls_of_another_backend() -> None:
    """While a send without sentinel_services waits for a Sentinel that takes the connection and never answers (8 s
    socket timeout), a first send in another thread to another Redis (the standard backend) pushes at once. It waited
    for the discovery, behind the process's backend cache lock."""
    with _silent_listener() as silent, RedisServerProcess() as other:
        layer = {
            "hosts": [silent.getsockname()],
            "sentinel_kwargs": {"socket_connect_timeout": 8.0, "socket_timeout": 8.0},
        }
        discovering = RedisClientTransport("echo", backend_type="redis.sentinel", backend_layer_kwargs=layer)
        elsewhere = RedisClientTransport(
            "echo", backend_type="redis.standard", backend_layer_kwargs={"hosts": [other.address]}
        )
        outcome: list[BaseException] = []

        def send_discovering() -> None:
            try:
                discovering.send_request_message(1, {}, job_request(), message_expiry_in_seconds=1)
            except BaseException as exc:
                outcome.append(exc)

        # Given a send under way whose services are being discovered
        sender = threading.Thread(target=send_discovering, daemon=True)
        sender.start()
        time.sleep(0.3)
        # When another thread sends elsewhere
        started = time.monotonic()
        elsewhere.send_request_message(1, {}, job_request(), message_expiry_in_seconds=5)
        took = time.monotonic() - started
        sender.join(30)
        _connections_taken(silent)
        with other.client() as raw:
            waiting = raw.llen("pysoa:service.echo")
    # Then that send pushed at once (bound generous for a loaded machine), and the first failed at its deadline
    assert waiting == 1
    assert took < 0.5, took
    assert len(outcome) == 1 and _DISCOVERY_TIMED_OUT.match(str(outcome[0])), outcome


def _three_calls_to_a_silent_sentinel(
    layer: dict[str, Any],
) -> tuple[dict[str, tuple[BaseException | None, float]], int]:
    """Three ``Client`` calls (timeout 1 s) made at once from three threads, whose one Sentinel (with ``layer``'s other
    settings) takes the connection and never answers (8 s socket timeout): what each raised and took, by caller, and
    how many connections the Sentinel took."""
    with _silent_listener() as silent:
        sentinels = {"socket_connect_timeout": 8.0, "socket_timeout": 8.0}
        layer = {"hosts": [silent.getsockname()], "sentinel_kwargs": sentinels, **layer}
        transport = {
            "path": f"{RedisClientTransport.__module__}:RedisClientTransport",
            "kwargs": {"backend_type": "redis.sentinel", "backend_layer_kwargs": layer},
        }
        outcomes: dict[str, tuple[BaseException | None, float]] = {}

        def call(name: str) -> None:
            client = Client({"echo": {"transport": transport}})
            started = time.monotonic()
            try:
                client.call_action("echo", "square", {}, timeout=1)
            except BaseException as exc:
                outcomes[name] = (exc, time.monotonic() - started)
            else:
                outcomes[name] = (None, time.monotonic() - started)

        callers = [threading.Thread(target=call, args=(f"caller {n}",), daemon=True) for n in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(30)
        return outcomes, _connections_taken(silent)


def _in_forked_child(action: Callable[[], object], within: float | None = None) -> str:
    """What a forked child doing ``action`` (which closes what it opened) reports: ``"sent"``, or the error it raised.
    The child leaves with os._exit once it has written its report, so that no teardown of the parent's (its Redis
    processes) runs in it. A child that reports nothing ``within`` seconds (``None``: no limit) is killed (by its
    PID), and the test fails saying it hung."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            try:
                action()
                report = "sent"
            except Exception as exc:
                report = f"{type(exc).__name__}: {exc}"
            os.write(write_end, report.encode())
            os.close(write_end)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    if within is not None and not select.select([read_end], [], [], within)[0]:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        raise AssertionError(f"the forked child reported nothing within {within} s (it hung, and was killed)")
    with os.fdopen(read_end, "rb") as reading:
        report = reading.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report
    return report


@contextlib.contextmanager
def _behind_a_silent_sentinel(
    services_configured: bool = True,
) -> Iterator[tuple[RedisServerProcess, socket.socket, RedisClientTransport]]:
    """A master, a listener that takes connections and never answers, and a client transport whose Sentinels are that
    listener (3 s socket timeout) and then a real Sentinel of the master (service ``main``, configured as
    ``sentinel_services`` unless ``services_configured`` is false: then discovered)."""
    with (
        RedisServerProcess() as master,
        RedisSentinelProcess([("main", *master.address)]) as sentinel,
        _silent_listener() as silent,
    ):
        layer: dict[str, Any] = {
            "hosts": [silent.getsockname(), sentinel.address],
            "sentinel_kwargs": {"socket_connect_timeout": 3.0, "socket_timeout": 3.0},
        }
        if services_configured:
            layer["sentinel_services"] = ["main"]
        yield master, silent, RedisClientTransport("echo", backend_type="redis.sentinel", backend_layer_kwargs=layer)


@contextlib.contextmanager
def _silent_listener() -> Iterator[socket.socket]:
    """A listening socket on 127.0.0.1 that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        yield silent


def _connections_taken(listening: socket.socket) -> int:
    """How many connections wait in ``listening``'s backlog (accepted and closed here)."""
    listening.setblocking(False)
    taken = 0
    while True:
        try:
            connection, _address = listening.accept()
        except BlockingIOError:
            return taken
        connection.close()
        taken += 1


def _looking_up(backend: SentinelRedisClient, name: str, outcomes: dict[str, Any]) -> threading.Thread:
    """A started thread getting ``backend``'s ring slot 0's client, what it got or raised kept as ``outcomes[name]``."""

    def look_up() -> None:
        try:
            outcomes[name] = backend.client_at(0)
        except BaseException as exc:
            outcomes[name] = exc

    looking_up = threading.Thread(target=look_up, name=name, daemon=True)
    looking_up.start()
    return looking_up


class _ClosingAsTheLookupEnds(NoOpMetricsRecorder):
    """Metrics whose master lookup timer closes ``backend`` as it stops (a Sentinel has named the master then)."""

    def __init__(self, backend: SentinelRedisClient) -> None:
        super().__init__()
        self.backend = backend

    def timer(self, name: str, **tags: Any) -> Any:
        if not name.endswith("populate_master_client"):
            return super().timer(name, **tags)
        return _closing(self.backend)


@contextlib.contextmanager
def _closing(backend: SentinelRedisClient) -> Iterator[None]:
    yield
    backend.close()
