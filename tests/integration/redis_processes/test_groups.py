"""Tests of RedisRing and RedisSentinelGroup."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pysoa_like.test.redis import RedisRing, RedisSentinelGroup
from tests.integration.redis_processes._helpers import pid_is_gone


def test_ring_starts_n_independent_masters_and_stops_them_all() -> None:
    """RedisRing(n) runs n separate masters on distinct ports, and stop() ends every one of them."""
    with RedisRing(3) as ring:
        assert len(ring) == 3
        assert len({port for _, port in ring.hosts}) == 3
        pids = [server.pid for server in ring]
        clients = [server.client() for server in ring]
        for index, client in enumerate(clients):
            client.set("who", str(index).encode())
            assert client.info("replication")["role"] == "master"
        assert [client.get("who") for client in clients] == [b"0", b"1", b"2"]
        ring.flush()
        assert [client.dbsize() for client in clients] == [0, 0, 0]
        for client in clients:
            client.close()

    assert all(pid is not None and pid_is_gone(pid) for pid in pids)


def test_ring_needs_at_least_one_master() -> None:
    """A ring of zero masters is refused up front."""
    with pytest.raises(ValueError, match="at least one master"):
        RedisRing(0)


@pytest.fixture(scope="module")
def sentinel_group() -> Iterator[RedisSentinelGroup]:
    """Two Sentinel services (alpha, beta), one replica each, three Sentinels."""
    with RedisSentinelGroup(masters=["alpha", "beta"], replicas=1, sentinels=3) as group:
        yield group


def test_sentinel_group_reports_each_master(sentinel_group: RedisSentinelGroup) -> None:
    """Every Sentinel reports the first server of each service as its master, and redis-py can use it."""
    assert len(sentinel_group.sentinel_hosts) == 3
    for service in ("alpha", "beta"):
        master, replica = sentinel_group.servers_for(service)
        assert sentinel_group.master_address(service) == master.address
        assert sentinel_group.master_for(service) is master
        with replica.client(decode_responses=True) as client:
            assert client.info("replication")["role"] == "slave"
    discovered = sentinel_group.sentinel().discover_master("beta")  # type: ignore[no-untyped-call]
    assert discovered == sentinel_group.servers_for("beta")[0].address


def test_forced_failover_promotes_the_replica(sentinel_group: RedisSentinelGroup) -> None:
    """failover() switches the master to the replica within seconds, and the new master takes writes."""
    _old_master, replica = sentinel_group.servers_for("alpha")
    started = time.monotonic()

    new_master = sentinel_group.failover("alpha", timeout=15.0)

    assert time.monotonic() - started < 15.0
    assert new_master is replica
    assert sentinel_group.master_address("alpha") == replica.address
    with sentinel_group.sentinel().master_for("alpha") as client:  # type: ignore[no-untyped-call]
        client.set("after-failover", b"1")
        assert client.info("replication")["role"] == "master"


def test_killed_master_is_replaced_by_sentinel(sentinel_group: RedisSentinelGroup) -> None:
    """When a master dies, the Sentinels promote its replica on their own within a few seconds."""
    old_master, replica = sentinel_group.servers_for("beta")
    old_master.kill()

    deadline = time.monotonic() + 15.0
    while sentinel_group.master_address("beta") != replica.address and time.monotonic() < deadline:
        time.sleep(0.05)

    assert sentinel_group.master_for("beta") is replica


def test_sentinel_group_stop_leaves_no_process() -> None:
    """Stopping a Sentinel group ends every master, replica and Sentinel it started."""
    group = RedisSentinelGroup(masters=["solo"], replicas=1, sentinels=1).start()
    pids = [server.pid for server in group.servers_for("solo")] + [sentinel.pid for sentinel in group.sentinels]
    assert len(pids) == 3 and all(pid is not None for pid in pids)

    group.stop()

    assert all(pid is not None and pid_is_gone(pid) for pid in pids)
