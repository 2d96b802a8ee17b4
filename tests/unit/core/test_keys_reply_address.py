"""Which reply queue names a server may push to, and where it can answer a message it cannot serve."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.transport.redis_gateway.protocol import (
    MAXIMUM_REPLY_TO_LENGTH,
    reply_address,
    reply_to_problem,
)

GOOD = "service.echo.0123456789abcdef0123456789abcdef!7f9c5f051b80"


def test_a_pysoa_reply_queue_name_is_accepted() -> None:
    """A reply queue name as PySOA clients build it has no problem."""
    assert reply_to_problem(GOOD) is None


@pytest.mark.parametrize(
    ("reply_to", "problem"),
    [
        (None, "missing"),
        (5, "not a string"),
        (["x!"], "not a string"),
        ("", "empty"),
        ("service.echo", "not a reply queue"),
        ("service.other.no-marker", "not a reply queue"),
        ("x!" + "y" * MAXIMUM_REPLY_TO_LENGTH, "longer than"),
    ],
)
def test_names_that_are_not_reply_queues_are_refused(reply_to: Any, problem: str) -> None:
    """Missing, non-string, empty, marker-less (request queues) and overlong names each say what is wrong."""
    found = reply_to_problem(reply_to)
    assert found is not None and problem in found


def test_the_address_of_a_message_with_a_bad_body_is_readable() -> None:
    """Only the request id and a valid reply queue are needed to answer; the body may be anything."""
    message = {"request_id": 3, "meta": {"reply_to": GOOD, "__expiry__": "soon"}, "body": [1]}
    assert reply_address(message) == (3, message["meta"])


@pytest.mark.parametrize(
    "message",
    [
        [1],
        {"meta": {"reply_to": GOOD}},
        {"request_id": None, "meta": {"reply_to": GOOD}},
        {"request_id": 1, "meta": [GOOD]},
        {"request_id": 1, "meta": {"reply_to": "service.echo"}},
        {"request_id": 1},
    ],
    ids=["not-a-map", "no-id", "null-id", "meta-not-a-map", "request-queue", "no-meta"],
)
def test_a_message_without_a_usable_address_cannot_be_answered(message: Any) -> None:
    """Without a request id and a valid reply queue there is nobody to answer."""
    assert reply_address(message) is None
