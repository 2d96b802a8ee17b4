"""A caller gets its own reply from a real service, whatever else lands on its reply list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from pysoa_like.client.client import Client
from tests.functional.conftest import SERVICE, Runner, who
from tests.functional.hardening import REQUEST_QUEUE, raw_request
from tests.malformed_corpus import valid_envelope, valid_job


def _queued_request(raw_redis: redis.Redis) -> dict[str, Any]:
    """The envelope of the (only) request waiting in the service's queue, left in place."""
    [raw] = raw_redis.lrange(REQUEST_QUEUE, 0, -1)
    from pysoa_like.common.serializer import MsgpackSerializer
    from pysoa_like.common.transport.redis_gateway.protocol import parse_message

    envelope: dict[str, Any] = MsgpackSerializer().blob_to_dict(parse_message(raw).payload)
    return envelope


def _reply_to_request(envelope: dict[str, Any], **body: Any) -> bytes:
    """A well-formed reply to ``envelope`` (its id and whole meta echoed), as a server would push it."""
    reply = {
        "request_id": envelope["request_id"],
        "meta": envelope["meta"],
        "body": {"errors": [], "context": {}, "actions": [{"action": "who", "errors": [], "body": body}]},
    }
    return raw_request(reply)


def test_a_foreign_reply_ahead_of_ours_does_not_fail_the_call(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """A reply for another request id on our reply list is skipped: the call still gets the worker's answer."""
    future = client.call_action_future(SERVICE, "who", {}, timeout=10)
    request = _queued_request(raw_redis)
    stranger = {**request, "request_id": request["request_id"] + 1000}
    raw_redis.rpush("pysoa:" + request["meta"]["reply_to"], _reply_to_request(stranger, pid=-1))
    runner = start_runner(fork=1, wait_ready=False)
    assert future.result().body["pid"] == runner.pid


def test_a_duplicated_reply_does_not_break_later_calls(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """A copy of an answered call's reply, arriving later, is dropped; the calls after it get their own replies."""
    future = client.call_action_future(SERVICE, "who", {}, timeout=10)
    request = _queued_request(raw_redis)
    runner = start_runner(fork=1, wait_ready=False)
    assert future.result().body["pid"] == runner.pid
    # The same reply once more, as a server that sent it twice would.
    raw_redis.rpush("pysoa:" + request["meta"]["reply_to"], _reply_to_request(request, pid=-1))
    for _ in range(3):
        assert who(client)["pid"] == runner.pid


def test_a_reply_forged_through_the_service_is_refused(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """A request naming our reply list and request id (but not our nonce) makes the service answer into our list;
    the call ignores that answer and returns the one to its own request."""
    future = client.call_action_future(SERVICE, "who", {}, timeout=10)
    victim = _queued_request(raw_redis)
    reply_to, request_id = victim["meta"]["reply_to"], victim["request_id"]
    forged = valid_envelope(request_id, reply_to, valid_job("echo", pid="forged"))
    wrong_nonce = valid_envelope(request_id, reply_to, valid_job("echo", pid="forged"))
    wrong_nonce["meta"]["reply_nonce"] = "0123456789abcdef"
    # The attacker's requests are served first.
    raw_redis.lpush(REQUEST_QUEUE, raw_request(forged), raw_request(wrong_nonce))
    runner = start_runner(fork=1, wait_ready=False)
    assert future.result().body["pid"] == runner.pid


def test_a_timeout_of_zero_means_the_default_as_in_pysoa(start_runner: Callable[..., Runner], client: Client) -> None:
    """``timeout=0`` waits the transport's default time (it failed at once, stranding the reply)."""
    runner = start_runner(fork=1)
    assert client.call_action(SERVICE, "who", {}, timeout=0).body["pid"] == runner.pid
    assert client.call_action_future(SERVICE, "who", {}).result(0).body["pid"] == runner.pid
    assert who(client)["pid"] == runner.pid
