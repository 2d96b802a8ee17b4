"""Which HTTP status each outcome of a call gets (the table of docs/gateway.rst)."""

from __future__ import annotations

import pytest

from pysoa_like.client.errors import BulkheadFullError, CircuitOpenError, DeadlineExceededError, ImproperlyConfigured
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import (
    ConnectionError,
    InvalidMessageError,
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    MessageTooLarge,
    QueueFullSendError,
)
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.fleet.errors import ServiceVersionError
from pysoa_like.gateway.status import Outcome, error_status, exception_outcome, job_outcome


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Error("INVALID", "Not an integer", field="number", is_caller_error=True), 400),
        (Error("MISSING", "Missing key", field="number", is_caller_error=True), 400),
        (Error("UNKNOWN", "Extra keys present: x", is_caller_error=True), 400),
        (Error("OUT_OF_STOCK", "none left", is_caller_error=True), 400),
        (Error("AUTH_REQUIRED", "no token", is_caller_error=True), 401),
        (Error("AUTH_INVALID", "refused", is_caller_error=True), 401),
        (Error("ACCESS_DENIED", "lacks scope", is_caller_error=True), 403),
        (Error("NOT_AUTHORIZED", "no", is_caller_error=True), 403),
        (Error("NOT_FOUND", "no order 7", is_caller_error=True), 404),
        (Error("UNKNOWN", "The action was not found", field="action", is_caller_error=True), 404),
        (Error("SERVER_ERROR", "boom"), 500),
        (Error("RESPONSE_TOO_LARGE", "too big"), 500),
        (Error("SOMETHING_ELSE", "server-side"), 500),
        (Error("WORKER_DIED", "died"), 502),
        (Error("OVERLOADED", "busy"), 503),
        (Error("ACTION_TIMEOUT", "harakiri"), 504),
        (Error("JOB_TIMEOUT", "harakiri"), 504),
        (Error("DEADLINE_EXCEEDED", "too late"), 504),
    ],
)
def test_each_error_maps_to_its_status(error: Error, status: int) -> None:
    """Codes with a meaning of their own map by code; others by whose fault the error is."""
    assert error_status(error) == status


def test_a_job_without_errors_is_200() -> None:
    """No job error and no action error: 200."""
    assert job_outcome(JobResponse(actions=[ActionResponse("a", body={"x": 1})])) == Outcome(200)


def test_job_errors_decide_before_action_errors() -> None:
    """Job-level errors give the status even when an action failed too."""
    response = JobResponse(
        errors=[Error("OVERLOADED", "busy")],
        actions=[ActionResponse("a", errors=[Error("INVALID", "x", is_caller_error=True)])],
        context={"retry_after_ms": 2500},
    )
    assert job_outcome(response) == Outcome(503, 3)


def test_the_first_failed_action_decides_and_a_server_error_is_never_hidden() -> None:
    """The first action with errors decides; among its errors a server-side one wins over caller errors."""
    first = ActionResponse("a", errors=[Error("INVALID", "x", is_caller_error=True), Error("SERVER_ERROR", "boom")])
    later = ActionResponse("b", errors=[Error("NOT_FOUND", "x", is_caller_error=True)])
    assert job_outcome(JobResponse(actions=[ActionResponse("ok"), first, later])).status == 500
    assert job_outcome(JobResponse(actions=[later, first])).status == 404


def test_a_503_without_a_pushback_time_says_retry_after_one_second() -> None:
    """OVERLOADED without retry_after_ms (or a bad one) still gives Retry-After: 1."""
    for context in ({}, {"retry_after_ms": "soon"}, {"retry_after_ms": 10}):
        response = JobResponse(errors=[Error("OVERLOADED", "busy")], context=context)
        assert job_outcome(response) == Outcome(503, 1)


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry_after"),
    [
        (MessageReceiveTimeout("no reply"), 504, "TIMEOUT", None),
        (DeadlineExceededError("too late"), 504, "TIMEOUT", None),
        (CircuitOpenError("shop", None, 7.2), 503, "CIRCUIT_OPEN", 8),
        (CircuitOpenError("shop", "pay", 0.01), 503, "CIRCUIT_OPEN", 1),
        (BulkheadFullError("shop", 4), 503, "BULKHEAD_FULL", 1),
        (ServiceVersionError("no instance of 2.0", "shop", "2.0"), 503, "NO_SUITABLE_INSTANCE", None),
        (MessageTooLarge(2000, "too big"), 413, "REQUEST_TOO_LARGE", None),
        (MessageSendError("queue full"), 502, "TRANSPORT_ERROR", None),
        (QueueFullSendError("Redis queue shop was full after 3 retries", 2.12), 503, "QUEUE_FULL", 3),
        (ConnectionError("refused"), 502, "TRANSPORT_ERROR", None),
        (MessageReceiveError("reset"), 502, "TRANSPORT_ERROR", None),
        (InvalidMessageError("garbled"), 502, "TRANSPORT_ERROR", None),
        (ImproperlyConfigured("no settings"), 500, "GATEWAY_MISCONFIGURED", None),
        (RuntimeError("bug"), 500, "GATEWAY_ERROR", None),
    ],
)
def test_each_client_exception_maps_to_its_status(
    exc: Exception, status: int, code: str, retry_after: int | None
) -> None:
    """Exceptions raised instead of a response: timeouts 504, refusals 503, transport 502, the rest 500."""
    outcome = exception_outcome(exc)
    assert (outcome.status, outcome.code, outcome.retry_after) == (status, code, retry_after)
    assert outcome.message
