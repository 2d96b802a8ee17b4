"""Tests of envelope building and checking, reading a request's envelope, expiry values and size limits (PROTOCOL.md
sections 3, 6, 10)."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout, MessageTooLarge
from pysoa_like.common.transport.redis_gateway.protocol import (
    check_envelope,
    envelope_to_send,
    frame_for_sending,
    is_expired,
)
from pysoa_like.core.deadlines import DeadlineExpiry
from pysoa_like.core.message import MessageTooDeep, ReceivedRequest, deadline_of, read_request, reply_to_problem
from pysoa_like.core.nesting import MAXIMUM_NESTING_DEPTH, too_deep_message

NOW = 1_700_000_000.25


def _expiry(default: float, explicit: float | None = None) -> tuple[int, float]:
    """The Redis EXPIRE and the envelope's ``__expiry__`` of a message sent at ``NOW``."""
    envelope, redis_expiry = envelope_to_send(1, {}, {}, NOW, default, explicit)
    return redis_expiry, envelope["meta"]["__expiry__"]


def test_expiry_from_setting() -> None:
    """Without an explicit expiry, the setting gives both EXPIRE and ``__expiry__``."""
    assert _expiry(60) == (60, NOW + 60)


@pytest.mark.parametrize("explicit", [None, 0])
def test_expiry_without_explicit_value_uses_setting(explicit: float | None) -> None:
    """An explicit expiry of None or 0 falls back to the setting, as in PySOA."""
    assert _expiry(30, explicit) == (30, NOW + 30)


def test_explicit_expiry_adds_grace_to_redis_expiry() -> None:
    """An explicit T gives EXPIRE T + 10 and ``__expiry__ = now + T`` (observed: timeout=2 -> EXPIRE 12)."""
    assert _expiry(60, 2) == (12, NOW + 2)


def test_float_explicit_expiry_rounds_redis_expiry_up() -> None:
    """A float T keeps its exact envelope expiry and gives an integer EXPIRE rounded up."""
    redis_expiry, envelope_expiry = _expiry(60, 2.5)
    assert (redis_expiry, envelope_expiry) == (13, NOW + 2.5)
    assert type(redis_expiry) is int


def test_float_setting_rounds_redis_expiry_up() -> None:
    """A float setting also gives an integer EXPIRE, rounded up."""
    assert _expiry(0.2) == (1, NOW + 0.2)


def test_an_expiry_worked_out_from_a_deadline_is_stamped_no_later_than_that_deadline() -> None:
    """Seconds left worked out 0.5 s before the stamping give ``__expiry__`` = the deadline, not 0.5 s later; the
    EXPIRE still comes from the seconds."""
    # Given 2 s left until a deadline, worked out at NOW - 0.5 (middleware, serialization in between)
    expiry = DeadlineExpiry(2.0, deadline=NOW - 0.5 + 2.0)
    # When the envelope is stamped at NOW
    # Then its expiry is the deadline itself
    assert _expiry(60, expiry) == (12, NOW + 1.5)


def test_a_deadline_expiry_shorter_than_its_deadline_is_kept() -> None:
    """An expiry that ends before the deadline it carries (a call's own shorter timeout) is stamped as it is."""
    assert _expiry(60, DeadlineExpiry(1.0, deadline=NOW + 5)) == (11, NOW + 1)


@pytest.mark.parametrize(("default", "explicit"), [(60, -1), (0, None), (-5, 0)])
def test_non_positive_expiry_is_refused(default: float, explicit: float | None) -> None:
    """A negative explicit expiry or a non-positive setting is refused instead of deleting the queue."""
    with pytest.raises(ValueError, match="positive"):
        envelope_to_send(1, {}, {}, NOW, default, explicit)


def test_envelope_to_send_key_order_and_expiry() -> None:
    """The envelope has request_id, meta, body in that order, with ``__expiry__`` added to meta."""
    meta = {"reply_to": "service.echo.x!1", "client_version": [1, 4, 9]}
    body: dict[str, Any] = {"actions": []}
    envelope, _redis_expiry = envelope_to_send(7, meta, body, NOW, 60)
    assert list(envelope) == ["request_id", "meta", "body"]
    assert envelope["meta"] == {"reply_to": "service.echo.x!1", "client_version": [1, 4, 9], "__expiry__": NOW + 60}
    assert envelope["body"] is body


def test_envelope_to_send_does_not_modify_meta() -> None:
    """The caller's meta dict is left untouched."""
    meta: dict[str, Any] = {"a": 1}
    envelope_to_send(1, meta, {}, NOW, 60)
    assert meta == {"a": 1}


def test_envelope_to_send_requires_request_id() -> None:
    """A None request id is refused before sending."""
    with pytest.raises(InvalidMessageError, match="No request ID"):
        envelope_to_send(None, {}, {}, NOW, 60)


def test_check_envelope_unpacks_message() -> None:
    """A valid envelope unpacks into a ReceivedMessage holding the received meta dict."""
    meta = {"__expiry__": NOW + 1, "reply_to": "r!1"}
    received = check_envelope({"request_id": 5, "meta": meta, "body": {"x": 1}}, NOW, "echo")
    assert received == ReceivedMessage(5, meta, {"x": 1})
    assert received.meta is meta


def test_check_envelope_ignores_extra_keys_and_missing_meta() -> None:
    """Extra top-level keys are ignored and a missing or null meta becomes an empty dict."""
    assert check_envelope({"request_id": 1, "body": {}, "extra": 2}, NOW, "s") == ReceivedMessage(1, {}, {})
    assert check_envelope({"request_id": 1, "meta": None}, NOW, "s") == ReceivedMessage(1, {}, None)


@pytest.mark.parametrize("request_id", [0, "abc", 1.5])
def test_check_envelope_echoes_any_request_id(request_id: Any) -> None:
    """Any non-null request id is accepted, falsy ones included."""
    assert check_envelope({"request_id": request_id, "meta": {}, "body": {}}, NOW, "s").request_id == request_id


@pytest.mark.parametrize("message", [{"meta": {}, "body": {}}, {"request_id": None, "meta": {}}])
def test_check_envelope_requires_request_id(message: dict[str, Any]) -> None:
    """A missing or null request id raises PySOA's error message."""
    with pytest.raises(InvalidMessageError, match=r"^No request ID for service echo$"):
        check_envelope(message, NOW, "echo")


def test_check_envelope_expired_message_is_a_timeout() -> None:
    """An ``__expiry__`` before now makes the message a receive timeout, checked before the request id."""
    with pytest.raises(MessageReceiveTimeout, match="Message expired for service echo"):
        check_envelope({"meta": {"__expiry__": NOW - 0.001}}, NOW, "echo")


@pytest.mark.parametrize("expiry", [None, 0, NOW, NOW + 5])
def test_not_expired(expiry: float | None) -> None:
    """A missing, zero, equal-to-now or future expiry does not expire the message."""
    meta = {} if expiry is None else {"__expiry__": expiry}
    assert not is_expired(meta, NOW)
    assert check_envelope({"request_id": 1, "meta": meta}, NOW, "s").request_id == 1


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ([1, 2, 3], "not a map"),
        (None, "not a map"),
        ({"request_id": 1, "meta": [1]}, "meta is not a map"),
        ({"request_id": 1, "meta": {}, "body": [1]}, "body is not a map"),
        ({"request_id": 1, "meta": {"__expiry__": "soon"}}, "not a number"),
    ],
)
def test_check_envelope_rejects_malformed_messages(message: Any, text: str) -> None:
    """Envelopes of the wrong shape raise InvalidMessageError instead of crashing."""
    with pytest.raises(InvalidMessageError, match=text):
        check_envelope(message, NOW, "s")


def test_message_size_limit() -> None:
    """A size equal to the maximum passes; one byte more raises PySOA's MessageTooLarge."""
    assert frame_for_sending(b"x" * 1000, "application/msgpack", 3, 1000)[0]
    with pytest.raises(MessageTooLarge) as info:
        frame_for_sending(b"x" * 1001, "application/msgpack", 3, 1000)
    assert info.value.message_size_in_bytes == 1001
    assert info.value.args == ("Message exceeds maximum message size",)


@pytest.mark.parametrize(("size", "threshold", "expected"), [(10, 0, False), (10, 10, False), (11, 10, True)])
def test_oversized_flag(size: int, threshold: int, expected: bool) -> None:
    """The oversized warning fires only above a non-zero threshold."""
    assert frame_for_sending(b"x" * size, "application/msgpack", 3, 1000, threshold)[1] is expected


# A request as PySOA clients send it: a reply queue, a client version and an expiry in the future.
_REPLY_TO = "service.echo.0123456789abcdef!7f9c5f051b80"
_META = {"reply_to": _REPLY_TO, "client_version": [1, 4, 9], "__expiry__": NOW + 5.0}


def _read(message: Any, payload: bytes = b"\x83") -> ReceivedRequest:
    return read_request(message, payload, "application/msgpack", NOW, "echo")


def test_read_request_gives_what_the_server_needs() -> None:
    """A good request's id, meta and body come back with its deadline, client version and no problem."""
    body = {"actions": []}
    request = _read({"request_id": 7, "meta": dict(_META), "body": body})
    assert request == ReceivedRequest(7, _META, body, NOW + 5.0, (1, 4, 9), None, None)
    assert request.body is body


def test_read_request_defaults_a_request_without_meta() -> None:
    """No meta: an empty one, no deadline, PySOA's 0.40.0 client, and a missing reply queue."""
    request = _read({"request_id": 1, "body": {}})
    assert (request.meta, request.deadline, request.client_version) == ({}, None, (0, 40, 0))
    assert request.reply_problem is not None and "missing" in request.reply_problem


def test_read_request_reports_a_bad_reply_queue_unless_the_response_is_suppressed() -> None:
    """A reply queue a server must not push to is reported, except when nothing will be sent back."""
    meta = dict(_META, reply_to="service.echo")
    assert _read({"request_id": 1, "meta": meta, "body": {}}).reply_problem == reply_to_problem("service.echo")
    suppressed = {"control": {"suppress_response": True}}
    assert _read({"request_id": 1, "meta": meta, "body": suppressed}).reply_problem is None


def test_read_request_reports_a_malformed_client_version() -> None:
    """A malformed client version is reported, and the request read as from PySOA's 0.40.0 client."""
    request = _read({"request_id": 1, "meta": dict(_META, client_version="1.4"), "body": {}})
    assert request.client_version == (0, 40, 0)
    assert request.client_version_problem is not None and "client_version" in request.client_version_problem


def test_read_request_checks_nesting_first_then_the_envelope() -> None:
    """Too deep nesting is refused before anything else; then the envelope's errors are check_envelope's."""
    deep: Any = 1
    for _ in range(MAXIMUM_NESTING_DEPTH):
        deep = [deep]
    with pytest.raises(MessageTooDeep, match=too_deep_message()):
        _read({"meta": {"__expiry__": NOW - 1}, "body": deep}, b"\x91" * (MAXIMUM_NESTING_DEPTH + 1))
    assert issubclass(MessageTooDeep, InvalidMessageError)
    with pytest.raises(MessageReceiveTimeout, match=r"^Message expired for service echo$"):
        _read({"meta": {"__expiry__": NOW - 1}})
    with pytest.raises(InvalidMessageError, match=r"^No request ID for service echo$"):
        _read({"meta": dict(_META), "body": {}})


@pytest.mark.parametrize(
    ("expiry", "deadline"),
    [(1795238405.5, 1795238405.5), (1795238405, 1795238405.0), (None, None), (0, None), (True, None), ("5", None)],
)
def test_a_request_expiry_gives_a_deadline_only_when_it_is_a_positive_number(expiry: object, deadline: object) -> None:
    """A number is the deadline; PySOA's "never expires" values (missing, zero) and non-numbers give none."""
    assert deadline_of(expiry) == deadline
