"""A bad argument to a call is refused at once, naming the argument, and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from pysoa_like.client.client import Client
from pysoa_like.common.serializer.errors import InvalidField
from tests.functional.conftest import SERVICE
from tests.functional.hardening import REQUEST_QUEUE


def _cyclic() -> dict[str, Any]:
    body: dict[str, Any] = {"name": "loop"}
    body["self"] = body
    return body


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"context": "abc"}, TypeError, "context must be a mapping"),
        ({"control_extra": [1]}, TypeError, "control_extra must be a mapping"),
        ({"switches": 5}, TypeError, "switches must be a list"),
        ({"switches": "12"}, TypeError, "switches must be a list"),
        ({"switches": [2.9]}, TypeError, "switches: 2.9 is not a switch"),
        ({"switches": [True]}, TypeError, "switches: True is not a switch"),
        ({"context": {"switches": [1.5]}}, TypeError, 'context["switches"]: 1.5 is not a switch'),
        ({"correlation_id": 5}, TypeError, "correlation_id must be a string"),
        ({"timeout": "5"}, TypeError, "timeout must be a number of seconds"),
        ({"timeout": True}, TypeError, "timeout must be a number of seconds"),
        ({"timeout": float("nan")}, ValueError, "timeout must be a finite number"),
        ({"timeout": float("inf")}, ValueError, "timeout must be a finite number"),
        ({"timeout": -1}, ValueError, "timeout must be a finite number"),
        ({"message_expiry_in_seconds": "x"}, TypeError, "message_expiry_in_seconds must be a number"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else "",
)
def test_a_bad_argument_is_refused_naming_it_and_nothing_is_sent(
    client: Client, raw_redis: redis.Redis, kwargs: dict[str, Any], error: type[Exception], text: str
) -> None:
    """Each mistake raises a TypeError or ValueError saying which argument is wrong and why (float switches
    were silently truncated, the others raised whatever broke first)."""
    with pytest.raises(error) as failure:
        client.call_action(SERVICE, "who", {}, **kwargs)
    assert text in str(failure.value)
    assert raw_redis.llen(REQUEST_QUEUE) == 0


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"data": _cyclic()}, "actions.0.body.data.self: the value contains itself"),
        ({"data": _deep(5000)}, "nests more than 200 levels deep"),
    ],
    ids=["cyclic", "deep"],
)
def test_a_body_that_cannot_be_sent_is_refused_naming_the_path(
    client: Client, raw_redis: redis.Redis, body: dict[str, Any], text: str
) -> None:
    """A body that contains itself, or nests thousands deep, raises InvalidField naming where (a bare
    RecursionError before)."""
    with pytest.raises(InvalidField, match=text):
        client.call_action(SERVICE, "echo", body)
    assert raw_redis.llen(REQUEST_QUEUE) == 0


def test_switch_constants_and_enums_still_work(client: Client, raw_redis: redis.Redis) -> None:
    """Ints, int-like objects and objects with an int ``value`` are switches; the job carries them as ints."""
    import enum

    class Feature(enum.IntEnum):
        NEW_CHECKOUT = 7

    class Flag:
        value = 9

    client.call_action(SERVICE, "who", {}, switches=[3, Feature.NEW_CHECKOUT, Flag()], suppress_response=True)
    assert raw_redis.llen(REQUEST_QUEUE) == 1
