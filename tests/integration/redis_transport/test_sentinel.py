"""The Sentinel backend against real Sentinels: master discovery, ring order and following a failover."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.common.transport.errors import MessageReceiveTimeout, TransientPySOATransportError
from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.protocol import reply_key_host_index
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.test.redis import RedisSentinelGroup
from tests.integration.redis_transport._helpers import job_request, job_response


@pytest.fixture(scope="module")
def group() -> Iterator[RedisSentinelGroup]:
    """Two Sentinel services, each a master with one replica, watched by one Sentinel."""
    with RedisSentinelGroup(masters=["alpha", "beta"], replicas=1, sentinels=1) as sentinel_group:
        yield sentinel_group


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
