"""At-least-once delivery over a ring of two standalone masters: each master holds its own part of everything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pysoa_like.test.redis import RedisRing
from tests.integration.redis_transport.test_at_least_once import (
    KEYS,
    SERVICE,
    Runs,
    client_of,
    dead_worker,
    serving,
)


@pytest.fixture(scope="module")
def ring() -> Iterator[RedisRing]:
    """Two throwaway masters for this module."""
    with RedisRing(2) as group:
        yield group


@pytest.fixture
def hosts(ring: RedisRing) -> list[str]:
    """The masters' URLs, flushed first."""
    ring.flush()
    return ring.urls


def test_calls_over_a_ring_are_answered_and_acknowledged_on_their_master(ring: RedisRing, hosts: list[str]) -> None:
    """Requests spread over both masters are all answered; each worker advertises on both; nothing stays held."""
    client = client_of(hosts)
    with serving(hosts, workers=2) as servers:
        for n in range(12):
            assert client.call_action(SERVICE, "read", {"key": f"k{n}"}, timeout=10).body == {"runs": 1}
        worker_ids = {server.transport._delivery.worker_id for server in servers}  # type: ignore[attr-defined]
        masters = [server.client() for server in ring.servers]
        for master in masters:
            assert {worker.decode() for worker in master.zrange(KEYS.workers, 0, -1)} == worker_ids
    for master in masters:
        assert all(master.llen(KEYS.in_progress(worker)) == 0 for worker in worker_ids)
        assert master.zcard(KEYS.workers) == 0
    assert len(Runs.counts) == 12


def test_a_dead_workers_requests_on_each_master_go_back_to_that_master(ring: RedisRing, hosts: list[str]) -> None:
    """A dead worker holding one request on each master: both are delivered again and answered."""
    client = client_of(hosts)
    masters = [server.client() for server in ring.servers]
    sent = []
    for index in range(len(masters)):
        request_id = client.send_request(SERVICE, [{"action": "read", "body": {"key": f"m{index}"}}])
        message = next(master.lpop(KEYS.queue) for master in masters if master.llen(KEYS.queue))
        assert isinstance(message, bytes)
        sent.append((request_id, message))
        dead_worker(masters[index], "gone:9:x", message)  # held on master `index`, whichever got it first
    with serving(hosts):
        responses = list(client.get_all_responses(SERVICE, receive_timeout_in_seconds=10))
    assert sorted(request_id for request_id, _ in responses) == sorted(request_id for request_id, _ in sent)
    for master in masters:
        assert master.exists(KEYS.in_progress("gone:9:x")) == 0
