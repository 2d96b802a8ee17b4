"""A running service survives hostile requests: one request's problem never stalls or stops a worker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from pysoa_like.client.client import Client
from tests.functional.conftest import SERVICE, Runner, who
from tests.functional.hardening import (
    REQUEST_QUEUE,
    job_error_codes,
    raw_request,
    read_reply,
    request_to,
    wait_until_empty,
)
from tests.malformed_corpus import (
    FULL_REPLY_QUEUE,
    NOT_A_LIST_KEY,
    REPLY_TO,
    nested_request,
    prepare_redis,
    valid_envelope,
)


def test_replies_to_a_key_that_is_not_a_list_never_stop_the_worker(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """Requests whose reply_to names a hash are served, their replies refused and logged; the worker goes on."""
    # Given: eight such requests waiting before a single-process service starts (its first pushes are refused).
    prepare_redis(raw_redis)
    raw_redis.rpush(REQUEST_QUEUE, *[request_to(NOT_A_LIST_KEY, request_id=i) for i in range(8)])
    runner = start_runner(fork=0, wait_ready=False)
    # Then: a valid call behind them is answered promptly, by the same process.
    assert who(client, timeout=8)["pid"] == runner.pid
    assert runner.process.poll() is None
    log = runner.log()
    assert "Could not deliver a reply to 'service.functional.not-a-list!0'" in log
    assert "Transport unavailable" not in log
    assert raw_redis.type("pysoa:" + NOT_A_LIST_KEY) == b"hash"


def test_replies_to_a_full_list_are_dropped_at_once(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """A reply to a list holding 10,000 replies is not retried for minutes: it is dropped, and the next call served."""
    prepare_redis(raw_redis)
    runner = start_runner(fork=1)
    raw_redis.rpush(REQUEST_QUEUE, *[request_to(FULL_REPLY_QUEUE, request_id=i) for i in range(3)])
    assert who(client, timeout=4)["pid"] == runner.pid
    assert raw_redis.llen("pysoa:" + FULL_REPLY_QUEUE) == 10_000
    assert "the reply list is full" in runner.log()


@pytest.mark.parametrize("reply_to", ["service.functional", "service.other", "service.functional.no-marker"])
def test_a_reply_queue_name_without_the_marker_is_never_answered(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis, reply_to: str
) -> None:
    """A reply_to naming a request queue (even the service's own) is refused: no service answers itself forever."""
    runner = start_runner(fork=1)
    raw_redis.rpush(REQUEST_QUEUE, request_to(reply_to))
    wait_until_empty(raw_redis)
    who(client)
    wait_until_empty(raw_redis)
    assert not raw_redis.exists("pysoa:" + reply_to) or reply_to == "service.functional"
    log = runner.log()
    assert log.count("invalid_reply_queue") == 1
    # The refused request never ran (its correlation id is the corpus').
    assert "'correlation_id': 'corpus'" not in log


@pytest.mark.parametrize("body", [[1, 2], "job", 42], ids=["list", "string", "int"])
def test_a_request_whose_body_is_not_a_map_is_answered(
    start_runner: Callable[..., Runner], raw_redis: redis.Redis, body: object
) -> None:
    """A body that is not a map gets an INVALID job error on the request's reply queue (PySOA sent nothing)."""
    start_runner(fork=1)
    raw_redis.rpush(REQUEST_QUEUE, raw_request(valid_envelope(body=body)))
    reply = read_reply(raw_redis)
    assert reply is not None
    assert reply["request_id"] == 7
    assert job_error_codes(reply) == ["INVALID"]
    [error] = reply["body"]["errors"]
    assert "body is not a map" in error["message"]
    assert error["is_caller_error"] is True
    assert error["traceback"] is None


@pytest.mark.parametrize("expiry", ["soon", [1]], ids=["string", "list"])
def test_a_request_whose_expiry_is_not_a_number_is_answered(
    start_runner: Callable[..., Runner], raw_redis: redis.Redis, expiry: object
) -> None:
    """An ``__expiry__`` that is not a number gets an INVALID job error naming the field (JSON requests too)."""
    start_runner(fork=1)
    envelope = valid_envelope()
    envelope["meta"]["__expiry__"] = expiry
    raw_redis.rpush(REQUEST_QUEUE, raw_request(envelope, "application/json"))
    reply = read_reply(raw_redis)
    assert reply is not None
    assert job_error_codes(reply) == ["INVALID"]
    assert "__expiry__" in reply["body"]["errors"][0]["message"]


@pytest.mark.parametrize("value", [[1, 2], "text", 3], ids=["list", "string", "int"])
def test_an_action_returning_a_non_dict_gets_a_server_error(
    start_runner: Callable[..., Runner], client: Client, value: object
) -> None:
    """An action whose body is not a dict answers SERVER_ERROR naming the action and the type (PySOA sent it on)."""
    start_runner(fork=1)
    response = client.call_action(SERVICE, "returns", {"value": value}, timeout=5, raise_action_errors=False)
    [error] = response.errors
    assert error.code == "SERVER_ERROR"
    assert '"returns"' in error.message
    assert type(value).__name__ in error.message
    assert response.body == {}
    assert REPLY_TO  # the corpus' reply queue is not involved here


def test_a_deeply_nested_request_is_refused_briefly_without_a_traceback(
    start_runner: Callable[..., Runner], raw_redis: redis.Redis
) -> None:
    """900 nested lists (1 kB) get a short INVALID caller error, not a 200 kB traceback, and one short log line."""
    runner = start_runner(fork=1)
    logged_before = len(runner.log())
    request = nested_request(900, action="echo")
    assert len(request) < 1200
    raw_redis.rpush(REQUEST_QUEUE, request)
    reply = read_reply(raw_redis)
    assert reply is not None
    assert job_error_codes(reply) == ["INVALID"]
    [error] = reply["body"]["errors"]
    assert "more than 100 levels deep" in error["message"]
    assert error["is_caller_error"] is True and error["traceback"] is None
    assert reply["body"]["actions"] == []
    assert len(raw_request(reply)) < 1000
    runner.wait_for_log("(too_deep)")
    assert len(runner.log()) - logged_before < 1000
