"""At-least-once delivery over a ring of two standalone masters: each master holds its own part of everything."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis

from pysoa_like.core.keys import reply_key_host_index
from pysoa_like.test.redis import RedisRing
from tests.integration.redis_transport.test_at_least_once import (
    KEYS,
    SERVICE,
    Runs,
    client_of,
    dead_worker,
    reply_to_of,
    serving,
)


@pytest.fixture(scope="module")
def ring() -> Iterator[RedisRing]:
    """Two throwaway masters for this module."""
    with RedisRing(2) as group:
        yield group


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    Runs.counts.clear()


@pytest.fixture
def hosts(ring: RedisRing) -> list[str]:
    """The masters' URLs, flushed first."""
    ring.flush()
    return ring.urls


@pytest.fixture
def masters(ring: RedisRing) -> Iterator[list[redis.Redis]]:
    """A plain client of each master, in ring order (closed at the end)."""
    clients = [server.client() for server in ring.servers]
    yield clients
    for client in clients:
        client.close()


def test_calls_over_a_ring_are_answered_and_acknowledged_on_their_master(
    masters: list[redis.Redis], hosts: list[str]
) -> None:
    """Requests spread over both masters are all answered; each worker advertises on both; nothing stays held."""
    client = client_of(hosts)
    with serving(hosts, workers=2) as servers:
        for n in range(12):
            assert client.call_action(SERVICE, "read", {"key": f"k{n}"}, timeout=10).body == {"runs": 1}
        worker_ids = {server.transport._delivery.worker_id for server in servers}  # type: ignore[attr-defined]
        for master in masters:
            assert {worker.decode() for worker in master.zrange(KEYS.workers, 0, -1)} == worker_ids
    for master in masters:
        assert all(master.llen(KEYS.in_progress(worker)) == 0 for worker in worker_ids)
        assert master.zcard(KEYS.workers) == 0
    assert len(Runs.counts) == 12


def test_a_dead_workers_requests_on_each_master_go_back_to_that_master(
    masters: list[redis.Redis], hosts: list[str]
) -> None:
    """A dead worker holding one request on each master: both are delivered again and answered."""
    client = client_of(hosts)
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


def test_a_finished_non_idempotent_request_is_answered_again_from_its_master(
    masters: list[redis.Redis], hosts: list[str]
) -> None:
    """A non-idempotent request delivered twice on each master in turn runs once, and its second delivery is
    answered from the reply kept on that master, whether the reply list is on the same master or the other."""
    client = client_of(hosts)
    for index, master in enumerate(masters):
        request_id = client.send_request(SERVICE, [{"action": "charge", "body": {"key": f"once{index}"}}])
        message = next(m.lpop(KEYS.queue) for m in masters if m.llen(KEYS.queue))
        assert isinstance(message, bytes)
        with serving(hosts):
            master.rpush(KEYS.queue, message)
            [(first_id, first)] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
            master.rpush(KEYS.queue, message)  # delivered again, as after its worker died before acknowledging it
            reply_key = "pysoa:" + reply_to_of(message)
            again = masters[reply_key_host_index(reply_key, len(masters))].blpop([reply_key], 10)
        assert first_id == request_id
        assert first.actions[0].body == {"runs": 1}
        assert again is not None
    assert Runs.counts == {"once0": 1, "once1": 1}


def test_acknowledgements_refused_on_each_master_are_logged_naming_each_master(
    ring: RedisRing, masters: list[redis.Redis], hosts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose Redis user may not remove answered requests from its in-progress list (no ``LREM``) on
    either master says so for each master, naming it, and not once per job (the lines did not say which master
    failed, and the first master's lines used up the allowance of all)."""
    # Given requests waiting on both masters, and a worker whose Redis user may do all but LREM on both
    client = client_of(hosts)
    jobs = 20
    for n in range(jobs):
        client.send_request(SERVICE, [{"action": "read", "body": {"key": f"k{n}"}}], message_expiry_in_seconds=60)
    waiting = [message for master in masters for message in master.lrange(KEYS.queue, 0, -1)]
    for n, master in enumerate(masters):
        master.delete(KEYS.queue)
        master.rpush(KEYS.queue, *waiting[n :: len(masters)])
    for master in masters:
        master.execute_command("ACL", "SETUSER", "noack", "reset", "on", ">pw", "~*", "&*", "+@all", "-lrem")
    worker_hosts = [url.replace("redis://", "redis://noack:pw@", 1) for url in hosts]
    try:
        # When the worker answers them all
        with caplog.at_level(logging.ERROR, logger="pysoa_like.transport"), serving(worker_hosts):
            responses = list(client.get_all_responses(SERVICE, receive_timeout_in_seconds=10))
    finally:
        for master in masters:
            master.execute_command("ACL", "DELUSER", "noack")
    assert len(responses) == jobs
    # Then each master's failure has lines of its own, naming it, and there are far fewer lines than jobs
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.getMessage().startswith("Could not remove answered requests from the in-progress list")
    ]
    for server in ring.servers:
        assert any(f" on 127.0.0.1:{server.port}: " in line and "lrem" in line for line in lines), lines
    assert len(lines) < jobs, lines
