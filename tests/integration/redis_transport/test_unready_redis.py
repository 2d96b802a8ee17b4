"""A real Redis that answers LOADING or NOAUTH: clear transport errors, nothing pushed twice, recovery after.

These replies are ones redis-py counts as connection errors: the lane must raise them (not take them as
a push's outcome), close its connection so no later reply is read for the wrong command, and work again
once Redis does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.redis_protocol import TRANSACTION_PUSH_BYTES
from pysoa_like.test.redis import RedisServerProcess, redis_server_version
from tests.integration.redis_transport._helpers import job_request

_SMALL = job_request()
# A request big enough to be pushed in a transaction rather than through the send script.
_BIG = {**job_request(), "actions": [{"action": "a", "body": {"blob": "b" * TRANSACTION_PUSH_BYTES}}]}
# Keys in the dump that DEBUG RELOAD reads back, each slowed down by key-load-delay (microseconds), and the
# size of their values: Redis 6.2 answers other clients while loading only every 2 MiB of the dump (7.0 and
# later can be told to, see the fixture), so the dump spans several of those.
_KEYS, _KEY_LOAD_DELAY_US, _VALUE_BYTES = 4000, 500, 16384  # a dump of 64 MiB


def _transports(server: RedisServerProcess) -> tuple[RedisClientTransport, RedisServerTransport]:
    kwargs: dict[str, Any] = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [server.address]},
    }
    return RedisClientTransport("unready", **kwargs), RedisServerTransport("unready", **kwargs)


def _is_loading(raw: redis.Redis) -> bool:
    info: Any = raw.info("persistence")
    return bool(info.get("loading"))


@pytest.fixture
def slow_reload() -> Iterator[tuple[RedisServerProcess, threading.Thread]]:
    """A Redis with a dump that takes about two seconds to load, and a started ``DEBUG RELOAD`` of it."""
    # Redis 7 and later refuse DEBUG unless enabled; 6.2 has no such switch (and allows it).
    debug = ["--enable-debug-command", "yes"] if redis_server_version() >= (7, 0, 0) else []
    with RedisServerProcess(extra_args=debug) as server, server.client() as raw:
        with raw.pipeline(transaction=False) as pipe:
            for number in range(_KEYS):
                pipe.set(f"filler:{number}", os.urandom(_VALUE_BYTES))  # random: the dump cannot compress it
            pipe.execute()
        raw.config_set("key-load-delay", _KEY_LOAD_DELAY_US)
        if redis_server_version() >= (7, 0, 0):
            # Redis answers other clients while loading only between chunks of this many bytes (fixed at 2 MiB
            # before 7.0).
            raw.config_set("loading-process-events-interval-bytes", 1024)
        reloader = server.client(socket_timeout=60)
        thread = threading.Thread(target=reloader.execute_command, args=("DEBUG", "RELOAD"), daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not _is_loading(raw):
            assert time.monotonic() < deadline, "Redis never started loading"
            time.sleep(0.01)
        try:
            yield server, thread
        finally:
            thread.join(30)
            reloader.close()


@pytest.mark.parametrize("body", [_SMALL, _BIG], ids=["small", "big"])
def test_sends_and_receives_while_redis_loads_fail_clearly_and_recover(
    slow_reload: tuple[RedisServerProcess, threading.Thread], body: dict[str, Any]
) -> None:
    server, reload_thread = slow_reload
    client, server_transport = _transports(server)
    with pytest.raises(MessageSendError, match="loading"):
        client.send_request_message(1, {}, body)
    with pytest.raises(MessageReceiveError, match="loading"):
        server_transport.receive_request_message()
    reload_thread.join(30)
    with server.client() as raw:
        assert not _is_loading(raw)
        assert raw.llen("pysoa:service.unready") == 0  # the refused send left nothing behind
        assert raw.dbsize() == _KEYS
    # The same transports work again: the lanes reconnected in step with Redis.
    client.send_request_message(2, {}, body)
    received = server_transport.receive_request_message()
    assert received.request_id == 2 and received.body == body


@pytest.fixture
def password_server() -> Iterator[RedisServerProcess]:
    """A Redis of its own: the test sets ``requirepass`` on it."""
    with RedisServerProcess() as server:
        yield server


def _kill_clients_of(raw: redis.Redis) -> None:
    me = raw.client_id()
    for entry in raw.client_list():
        if int(entry["id"]) != me:
            raw.client_kill_filter(_id=entry["id"])


@pytest.mark.parametrize("body", [_SMALL, _BIG], ids=["small", "big"])
def test_a_redis_that_starts_asking_for_a_password_fails_clearly_and_recovers(
    password_server: RedisServerProcess, body: dict[str, Any]
) -> None:
    """Lanes connected before ``requirepass`` was set, then cut: they reconnect and get NOAUTH."""
    client, server_transport = _transports(password_server)
    client.send_request_message(1, {}, body)
    assert server_transport.receive_request_message().request_id == 1
    with password_server.client() as raw:
        raw.config_set("requirepass", "s3cret")
        raw.execute_command("AUTH", "s3cret")
        _kill_clients_of(raw)
        with pytest.raises(MessageSendError):
            client.send_request_message(2, {}, body)  # the lane finds its connection cut
        with pytest.raises(MessageSendError, match=r"(?i)auth"):
            client.send_request_message(2, {}, body)
        with pytest.raises(MessageReceiveError):
            server_transport.receive_request_message()
        with pytest.raises(MessageReceiveError, match=r"(?i)auth"):
            server_transport.receive_request_message()
        assert raw.llen("pysoa:service.unready") == 0
        raw.config_set("requirepass", "")
    client.send_request_message(3, {}, body)
    received = server_transport.receive_request_message()
    assert received.request_id == 3 and received.body == body
