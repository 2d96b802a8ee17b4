"""Client -> Redis -> Server -> Redis -> Client, with the real Client and Server classes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.client.middleware import ClientMiddleware, GetResponseCallable, SendRequestCallable
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import ActionResponse, JobRequest, JobResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.integration.redis_transport._helpers import SERIALIZERS, SUPPRESSES_QUIET_JOBS_PATH, servers_in_threads

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


class EchoAction(Action):
    """Returns its request body."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class BigAction(Action):
    """Returns ``size`` copies of ``fill``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"data": request.body["fill"] * request.body["size"]}


class SleepAction(Action):
    """Sleeps ``seconds``, then answers."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {}


#: The bodies the ``record`` action ran with, in any server thread of this process.
RECORDED: list[dict[str, Any]] = []


class RecordAction(Action):
    """Remembers its request body in :data:`RECORDED`."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        RECORDED.append(dict(request.body))
        return {}


class E2EServer(Server):
    """The service under test."""

    service_name = "e2e"
    action_class_map = {"echo": EchoAction, "big": BigAction, "sleep": SleepAction, "record": RecordAction}


def _server_settings(redis_url: str, **kwargs: Any) -> dict[str, Any]:
    transport_kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [redis_url]},
        "receive_timeout_in_seconds": 0.2,
        **kwargs,
    }
    return {"transport": {"path": _SERVER_TRANSPORT, "kwargs": transport_kwargs}}


def _client(redis_url: str, middleware: list[dict[str, Any]] | None = None, **kwargs: Any) -> Client:
    transport_kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}, **kwargs}
    transport = {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs}
    return Client({"e2e": {"transport": transport, "middleware": middleware or []}})


@contextlib.contextmanager
def _serving(redis_url: str, workers: int = 1, **kwargs: Any) -> Iterator[list[Server]]:
    """Run ``workers`` servers, each in its own thread, until the block ends."""
    with servers_in_threads(
        [E2EServer(_server_settings(redis_url, **kwargs), forked_process_id=i + 1) for i in range(workers)]
    ) as servers:
        yield servers


def test_call_action_round_trip(redis_url: str) -> None:
    """A call_action over Redis reaches the server's action and returns its body."""
    with _serving(redis_url):
        response = _client(redis_url).call_action("e2e", "echo", {"x": [1, 2]}, timeout=5)
    assert response.body == {"x": [1, 2]}


def test_a_response_suppressed_by_job_middleware_is_not_sent(redis_url: str) -> None:
    """A job middleware setting ``suppress_response`` in the job's control header is honoured: nothing is pushed to
    the reply queue, and the client waiting for it times out; the next job is answered."""
    settings = dict(_server_settings(redis_url), middleware=[{"path": SUPPRESSES_QUIET_JOBS_PATH}])
    client = _client(redis_url)
    with servers_in_threads([E2EServer(settings)]):
        client.send_request("e2e", [{"action": "echo", "body": {"quiet": True}}])
        with pytest.raises(MessageReceiveTimeout):
            list(client.get_all_responses("e2e", receive_timeout_in_seconds=1))
        response = client.call_action("e2e", "echo", {"quiet": False}, timeout=5)
    assert response.body == {"quiet": False}


@pytest.mark.parametrize("concurrency", [1, 3], ids=["one_at_a_time", "concurrency_3"])
def test_a_watched_call_whose_response_is_suppressed_while_it_runs_times_out_and_its_liveness_key_ends(
    redis_url: str, concurrency: int
) -> None:
    """A client watching its requests' workers (``detect_dead_workers``) calls with a 3 s timeout an action that
    runs 1.5 s (so the client sees the liveness key), and a job middleware asks no response for the job: the call
    ends with its timeout (its worker did not die), and the
    request's liveness key, no longer refreshed, ends a few seconds after the request's deadline. The key was
    refreshed every second until the worker took its next request, or for ever when it ran jobs concurrently; and a
    key deleted at once made the waiting call end early with a false WORKER_DIED."""
    settings = dict(
        _server_settings(redis_url), middleware=[{"path": SUPPRESSES_QUIET_JOBS_PATH}], concurrency=concurrency
    )
    server = E2EServer(settings)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    raw = redis.Redis.from_url(redis_url)
    try:
        client = _client(redis_url, detect_dead_workers=True)
        with pytest.raises(MessageReceiveTimeout):
            client.call_action("e2e", "sleep", {"seconds": 1.5, "quiet": True}, timeout=3)
        # The key's last life is the request's deadline (now, about) plus 3 s; a refreshed key would live on.
        deadline = time.monotonic() + 8
        while raw.keys("pysoa:*.worker.*") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert raw.keys("pysoa:*.worker.*") == []
    finally:
        server.shutting_down = True
        thread.join(15)
        raw.close()


def test_parallel_chunked_responses_from_two_workers(redis_url: str) -> None:
    """call_actions_parallel gets every chunked response intact while two workers answer at once."""
    chunking = {"chunk_messages_larger_than_bytes": 102400, "maximum_message_size_in_bytes": 2_000_000}
    actions = [{"action": "big", "body": {"fill": letter, "size": 250_000}} for letter in "abcdef"]
    with _serving(redis_url, workers=2, **chunking) as servers:
        responses = list(_client(redis_url).call_actions_parallel("e2e", actions, timeout=10))
    assert [response.body["data"] for response in responses] == [letter * 250_000 for letter in "abcdef"]
    assert all(server.transport.instance_index == index + 1 for index, server in enumerate(servers))


def test_futures_and_parallel_jobs(redis_url: str) -> None:
    """Two futures on one service and a parallel job call each get their own responses."""
    client = _client(redis_url)
    with _serving(redis_url, workers=2):
        first = client.call_action_future("e2e", "echo", {"n": 1}, timeout=5)
        second = client.call_action_future("e2e", "echo", {"n": 2}, timeout=5)
        assert second.result().body == {"n": 2}
        assert first.result().body == {"n": 1}
        jobs = [{"service_name": "e2e", "actions": [{"action": "echo", "body": {"j": i}}]} for i in range(3)]
        results = client.call_jobs_parallel(jobs, timeout=5)
    assert [result.actions[0].body for result in results] == [{"j": 0}, {"j": 1}, {"j": 2}]


def test_too_large_error_keeps_the_client_framing(redis_url: str) -> None:
    """A too-large response becomes RESPONSE_TOO_LARGE, readable by a v1 JSON client (PySOA sent v3 msgpack)."""
    client = _client(redis_url, protocol_version=1, default_serializer_config=SERIALIZERS["json"])
    with _serving(redis_url, maximum_message_size_in_bytes=5000, default_serializer_config=SERIALIZERS["json"]):
        response = client.call_actions(
            "e2e", [{"action": "big", "body": {"fill": "x", "size": 10_000}}], raise_job_errors=False, timeout=5
        )
    assert [error.code for error in response.errors] == ["RESPONSE_TOO_LARGE"]


def test_worker_survives_garbage_and_serves_next(redis_url: str, redis_client: redis.Redis) -> None:
    """Garbage in the service queue does not stop a worker; the following call is served."""
    redis_client.rpush("pysoa:service.e2e", b"\xc1garbage", b"pysoa-redis/7//junk")
    with _serving(redis_url):
        response = _client(redis_url).call_action("e2e", "echo", {"ok": True}, timeout=5)
    assert response.body == {"ok": True}


class AnswersPing(ClientMiddleware):
    """Answers the action ``ping`` itself, without sending the request (a cache would do the same)."""

    def __init__(self) -> None:
        self.answered: list[int] = []

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job_request: JobRequest, expiry: float | None) -> None:
            if job_request.actions[0].action == "ping":
                self.answered.append(request_id)
                return
            send_request(request_id, meta, job_request, expiry)

        return handler

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        def handler(timeout: float | None) -> tuple[Any, JobResponse | None]:
            if self.answered:
                return self.answered.pop(0), JobResponse(actions=[ActionResponse(action="ping", body={"pong": 1})])
            return get_response(timeout)

        return handler


def test_a_call_that_middleware_answered_without_sending_leaves_nothing_behind(redis_url: str) -> None:
    """After a call answered by client middleware, a future's send does not start a wait for its reply: the next
    send on the connection is not held up until that reply comes (it waited the 1 s the first job took)."""
    client = _client(redis_url, middleware=[{"path": f"{__name__}:AnswersPing"}])
    with _serving(redis_url, workers=2):
        assert client.call_action("e2e", "echo", {"n": 1}, timeout=5).body == {"n": 1}
        # Given a call that the middleware answers without sending
        assert client.call_action("e2e", "ping", timeout=5).body == {"pong": 1}
        # When a future is sent, then another request on the same thread
        slow = client.call_action_future("e2e", "sleep", {"seconds": 1.0}, timeout=5)
        started = time.monotonic()
        quick = client.call_action_future("e2e", "echo", {"n": 2}, timeout=5)
        sent_after = time.monotonic() - started
        # Then the second send goes out at once, and both replies arrive
        assert quick.result().body == {"n": 2}
        assert slow.result().body == {}
    assert sent_after < 0.5


class SuppressesRecords(ClientMiddleware):
    """Sets ``suppress_response`` in the control of every ``record`` job, in place."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job_request: JobRequest, expiry: float | None) -> None:
            if job_request.actions[0].action == "record":
                job_request.control["suppress_response"] = True
            send_request(request_id, meta, job_request, expiry)

        return handler


def test_a_request_that_middleware_suppressed_in_place_is_not_waited_for(redis_url: str) -> None:
    """send_request then get_all_responses: a job whose control a request middleware set to suppress_response is
    sent but not waited for, even while a future's reply is still due (the collection used to wait for it)."""
    client = _client(redis_url, middleware=[{"path": f"{__name__}:SuppressesRecords"}])
    RECORDED.clear()
    with _serving(redis_url, workers=2):
        slow = client.call_action_future("e2e", "sleep", {"seconds": 1.0}, timeout=5)
        client.send_request("e2e", [{"action": "record", "body": {"n": 1}}])
        started = time.monotonic()
        assert list(client.get_all_responses("e2e", receive_timeout_in_seconds=3)) == []
        collected_in = time.monotonic() - started
        assert slow.result().body == {}
        for _attempt in range(50):
            if RECORDED:
                break
            time.sleep(0.02)
    assert collected_in < 0.5
    assert RECORDED == [{"n": 1}]
