"""At-least-once delivery over a real Redis, with the real Client and Server classes in threads.

Dead workers are played by entries of the workers set whose advertisement ran out (the key layout is documented
in :mod:`pysoa_like.core.delivery`); the process-level tests (SIGKILL, SIGTERM) are in
``tests/functional/test_at_least_once.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.common.serializer import MsgpackSerializer
from pysoa_like.core.delivery import DELIVERY_COUNTS_TTL_MILLISECONDS, delivery_keys, request_identity
from pysoa_like.core.message import parse_message
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.integration.redis_transport._helpers import SUPPRESSES_QUIET_JOBS_PATH, servers_in_threads

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
SERVICE = "alo"
KEYS = delivery_keys(SERVICE)


class Runs:
    """How many times each action body ran (shared by the worker threads)."""

    lock = threading.Lock()
    counts: ClassVar[dict[str, int]] = {}

    @classmethod
    def note(cls, key: str) -> int:
        with cls.lock:
            cls.counts[key] = cls.counts.get(key, 0) + 1
            return cls.counts[key]


class ChargeAction(Action):
    """Not idempotent: counts its runs by ``body["key"]``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"runs": Runs.note(request.body["key"])}


class ReadAction(Action):
    """Idempotent: counts its runs by ``body["key"]``."""

    idempotent = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"runs": Runs.note(request.body["key"])}


class AloServer(Server):
    """The service under test."""

    service_name = SERVICE
    action_class_map = {"charge": ChargeAction, "read": ReadAction}


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    Runs.counts.clear()


def _hosts(redis: str | list[str]) -> list[str]:
    return [redis] if isinstance(redis, str) else redis


def _settings(redis: str | list[str], **at_least_once: Any) -> dict[str, Any]:
    transport_kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": _hosts(redis)},
        "receive_timeout_in_seconds": 0.2,
    }
    return {
        "transport": {"path": _SERVER_TRANSPORT, "kwargs": transport_kwargs},
        "delivery": "at_least_once",
        "at_least_once": {"worker_ttl_seconds": 2, **at_least_once},
    }


def client_of(redis: str | list[str]) -> Client:
    """A client of the service over one Redis (a URL) or a ring (a list of URLs)."""
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": _hosts(redis)}}
    return Client({SERVICE: {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": kwargs}}})


@contextlib.contextmanager
def serving(redis: str | list[str], workers: int = 1, **at_least_once: Any) -> Iterator[list[Server]]:
    """Run ``workers`` servers in threads until the block ends, then stop them as the worker loop does."""

    def stopped(server: Server) -> None:
        server.transport.flush_responses()
        server.stop_delivery()

    servers = [AloServer(_settings(redis, **at_least_once), forked_process_id=i + 1) for i in range(workers)]
    with servers_in_threads(servers, stopped):
        yield servers


def dead_worker(raw: redis.Redis, worker_id: str, *requests: bytes) -> None:
    """A worker that advertised long ago and still holds ``requests`` in its in-progress list."""
    raw.zadd(KEYS.workers, {worker_id: 1})
    if requests:
        raw.rpush(KEYS.in_progress(worker_id), *requests)


def _sent_request(raw: redis.Redis, client: Client, action: str, body: dict[str, Any]) -> tuple[Any, bytes]:
    """Send a request with no worker running and take its bytes off the queue (as a worker's BLMOVE would)."""
    request_id = client.send_request(SERVICE, [{"action": action, "body": body}], message_expiry_in_seconds=30)
    message = raw.lpop(KEYS.queue)
    assert isinstance(message, bytes)
    return request_id, message


def reply_to_of(message: bytes) -> str:
    """The reply queue a request message names."""
    reply_to: str = MsgpackSerializer().blob_to_dict(parse_message(message).payload)["meta"]["reply_to"]
    return reply_to


def test_answered_requests_leave_nothing_in_progress(redis_url: str, redis_client: redis.Redis) -> None:
    """Calls are answered as usual; the worker is in the workers set while it serves, and leaves it when it stops."""
    client = client_of(redis_url)
    with serving(redis_url) as [server]:
        for key in ("a", "b", "c"):
            assert client.call_action(SERVICE, "read", {"key": key}, timeout=5).body == {"runs": 1}
        worker_id = server.transport._delivery.worker_id  # type: ignore[attr-defined]
        assert redis_client.zscore(KEYS.workers, worker_id) is not None
        time.sleep(0.5)  # the last acknowledgement goes with the next wait for a request
        assert redis_client.llen(KEYS.in_progress(worker_id)) == 0
    assert redis_client.zscore(KEYS.workers, worker_id) is None
    assert redis_client.llen(KEYS.in_progress(worker_id)) == 0


def test_a_dead_workers_request_is_delivered_again_and_answered(redis_url: str, redis_client: redis.Redis) -> None:
    """A request held by a worker that stopped advertising goes back on the queue; a live worker answers it."""
    client = client_of(redis_url)
    request_id, message = _sent_request(redis_client, client, "read", {"key": "k"})
    dead_worker(redis_client, "gone:1:x", message)
    with serving(redis_url):
        [response] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
    assert response[0] == request_id
    assert response[1].actions[0].body == {"runs": 1}
    assert redis_client.exists(KEYS.in_progress("gone:1:x")) == 0
    assert redis_client.zscore(KEYS.workers, "gone:1:x") is None


def test_the_last_allowed_delivery_goes_to_the_dead_letter_list(redis_url: str, redis_client: redis.Redis) -> None:
    """A request whose deliveries all ended with a dead worker is dead-lettered; its caller gets DEAD_LETTERED."""
    client = client_of(redis_url)
    _request_id, message = _sent_request(redis_client, client, "read", {"key": "poison"})
    # Two deliveries failed already; the dead worker held the third and last one.
    redis_client.hset(KEYS.deliveries, hashlib.sha1(message).hexdigest(), 2)
    dead_worker(redis_client, "gone:2:x", message)
    with serving(redis_url, max_deliveries=3):
        [(_, response)] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
    [error] = response.errors
    assert error.code == "DEAD_LETTERED"
    assert "delivered 3 times" in error.message
    assert redis_client.lrange(KEYS.dead_letter, 0, -1) == [message]
    assert Runs.counts == {}


def test_failed_delivery_counts_are_forgotten_an_hour_after_their_last_failure(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """Redeliveries going on all the time do not keep every count for ever: a recovery forgets the counts whose last
    failed delivery is older than the counts' lifetime, keeps recent ones, and the counts still expire as a whole."""
    client = client_of(redis_url)
    _request_id, message = _sent_request(redis_client, client, "read", {"key": "k"})
    # Given the count of a request that last failed two hours ago (answered since), and one that failed a minute ago
    now_ms = int(redis_client.time()[0]) * 1000
    redis_client.hset(KEYS.deliveries, mapping={"old": 2, "recent": 1})
    redis_client.zadd(KEYS.delivery_times, {"old": now_ms - 2 * 3_600_000, "recent": now_ms - 60_000})
    # When a dead worker's request is delivered again
    dead_worker(redis_client, "gone:3:x", message)
    with serving(redis_url):
        [(_, response)] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
    assert response.actions[0].body == {"runs": 1}
    # Then the old count is gone, the recent one and the new one are kept, each with its time
    field = hashlib.sha1(message).hexdigest()
    assert redis_client.hgetall(KEYS.deliveries) == {b"recent": b"1", field.encode(): b"1"}
    assert set(redis_client.zrange(KEYS.delivery_times, 0, -1)) == {b"recent", field.encode()}
    for key in (KEYS.deliveries, KEYS.delivery_times):
        assert 0 < redis_client.pttl(key) <= DELIVERY_COUNTS_TTL_MILLISECONDS


def test_a_finished_non_idempotent_request_is_answered_again_without_running(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The same request delivered twice (its first worker died after replying) runs once; both replies agree."""
    client = client_of(redis_url)
    request_id, message = _sent_request(redis_client, client, "charge", {"key": "once"})
    with serving(redis_url, workers=2):
        redis_client.rpush(KEYS.queue, message)
        [first] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
        redis_client.rpush(KEYS.queue, message)  # delivered again, as after a worker died before acknowledging
        again = redis_client.blpop(["pysoa:" + reply_to_of(message)], 10)
    assert first[0] == request_id
    assert first[1].actions[0].body == {"runs": 1}
    assert again is not None
    assert Runs.counts == {"once": 1}


def test_a_non_idempotent_request_running_on_a_live_worker_is_not_run_again(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """A request claimed by a live worker is given back, not run, until that worker finishes it."""
    client = client_of(redis_url)
    request_id, message = _sent_request(redis_client, client, "charge", {"key": "busy"})
    redis_client.rpush(KEYS.queue, message)
    state = KEYS.request_state(request_identity(reply_to_of(message), request_id))
    redis_client.zadd(KEYS.workers, {"alive:3:x": time.time() * 1000 + 60_000})
    redis_client.set(state, "run:alive:3:x", px=60_000)
    with serving(redis_url):
        time.sleep(1.5)
        assert Runs.counts == {}
        # Given back, waiting: the worker takes it again every 0.2 s or so and gives it back at once, so a look
        # may fall in that moment (on a loaded machine); it must be back within a few looks.
        deadline = time.monotonic() + 5
        while redis_client.llen(KEYS.queue) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert redis_client.llen(KEYS.queue) == 1
    assert Runs.counts == {}


def test_a_non_idempotent_request_whose_worker_died_running_it_gets_worker_died(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """A request claimed by a worker that died is not run again: its caller gets WORKER_DIED."""
    client = client_of(redis_url)
    request_id, message = _sent_request(redis_client, client, "charge", {"key": "died"})
    redis_client.set(KEYS.request_state(request_identity(reply_to_of(message), request_id)), "run:gone:4:x", px=60_000)
    dead_worker(redis_client, "gone:4:x", message)
    with serving(redis_url):
        [(_, response)] = client.get_all_responses(SERVICE, receive_timeout_in_seconds=10)
    [error] = response.errors
    assert error.code == "WORKER_DIED"
    assert "not run again" in error.message
    assert Runs.counts == {}


def test_at_least_once_needs_the_redis_transport() -> None:
    """delivery at_least_once with the local transport fails at startup, saying what to do."""
    settings = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}
    with pytest.raises(ValueError, match="needs the Redis transport"):
        AloServer({**settings, "delivery": "at_least_once"})


def test_unknown_delivery_modes_are_refused(redis_url: str) -> None:
    """A misspelt delivery fails at startup naming the key."""
    with pytest.raises(ValueError, match="delivery"):
        AloServer({**_settings(redis_url), "delivery": "exactly_once"})


def test_a_concurrent_worker_acknowledges_each_request_after_its_own_reply(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """A worker holding several requests (``concurrency`` above 1) keeps each in its in-progress list until that
    request's reply is pushed and confirmed, in any order, from another thread than the receiving one; a request it
    is done with unanswered goes back on the queue, its failed delivery counted."""
    client = client_of(redis_url)
    server = AloServer({**_settings(redis_url), "concurrency": 4})
    transport: Any = server.transport
    transport.hold_many_requests()
    try:
        # Given four requests taken, none answered yet
        request_ids = [client.send_request(SERVICE, [{"action": "read", "body": {"key": f"k{n}"}}]) for n in range(4)]
        received = [transport.receive_request_message(2) for _ in range(4)]
        assert sorted(request_id for request_id, _, _ in received) == sorted(request_ids)
        in_progress = transport._delivery.in_progress
        assert redis_client.llen(in_progress) == 4

        def answer(*positions: int) -> None:
            for position in positions:
                request_id, meta, _ = received[position]
                transport.send_response_message(request_id, meta, {"actions": [], "errors": [], "context": {}})
                transport.request_done(meta)
            transport.flush_responses()

        # When the last one is answered from another thread
        replier = threading.Thread(target=answer, args=(3,))
        replier.start()
        replier.join(5)
        # Then only that one left the in-progress list, and its caller has the reply
        assert redis_client.llen(in_progress) == 3
        reply_id, _ = next(iter(client.get_all_responses(SERVICE, receive_timeout_in_seconds=5)))
        assert reply_id == received[3][0]
        # Two answered together leave together
        answer(0, 2)
        assert redis_client.llen(in_progress) == 1
        # And the one the worker gives up on goes back on the queue, counted as a failed delivery
        transport.request_done(received[1][1])
        transport.flush_responses()
        assert redis_client.llen(in_progress) == 0
        assert redis_client.llen(KEYS.queue) == 1
        assert list(redis_client.hvals(KEYS.deliveries)) == [b"1"]
    finally:
        server.stop_delivery()


class QuietAction(Action):
    """Not idempotent: counts its runs by ``body["key"]`` and asks, in its job's control header, for no response."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        request.control["suppress_response"] = True
        return {"runs": Runs.note(request.body["key"])}


class QuietAloServer(AloServer):
    """The service under test, with an action that suppresses its job's response."""

    action_class_map = {**AloServer.action_class_map, "quiet": QuietAction}


@pytest.mark.parametrize(
    ("action", "middleware"),
    [("read", True), ("charge", True), ("quiet", False)],
    ids=["job_middleware_idempotent", "job_middleware_not_idempotent", "action"],
)
@pytest.mark.parametrize("concurrency", [1, 3], ids=["one_at_a_time", "concurrency_3"])
def test_a_job_whose_response_is_suppressed_while_it_runs_runs_once_and_is_acknowledged(
    redis_url: str, redis_client: redis.Redis, action: str, middleware: bool, concurrency: int
) -> None:
    """A job middleware or an action asking for no response once the job was received makes the worker send
    nothing; the request is done all the same: it runs once and leaves the in-progress list, not given back."""
    client = client_of(redis_url)
    settings: dict[str, Any] = {**_settings(redis_url), "concurrency": concurrency}
    if middleware:
        settings["middleware"] = [{"path": SUPPRESSES_QUIET_JOBS_PATH}]
    server = QuietAloServer(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        client.send_request(SERVICE, [{"action": action, "body": {"key": "q", "quiet": True}}])
        # A call answered after it: the worker has moved on from the quiet job
        assert client.call_action(SERVICE, "read", {"key": "loud"}, timeout=5).body == {"runs": 1}
        time.sleep(1.0)  # a given-back request would be taken and run again by now
        assert Runs.counts.get("q") == 1
        assert redis_client.llen(KEYS.queue) == 0
        in_progress = redis_client.keys(KEYS.in_progress("*"))
        assert [redis_client.llen(key) for key in in_progress] == [0] * len(in_progress)
        assert redis_client.hlen(KEYS.deliveries) == 0
        assert redis_client.llen(KEYS.dead_letter) == 0
    finally:
        server.shutting_down = True
        thread.join(15)
