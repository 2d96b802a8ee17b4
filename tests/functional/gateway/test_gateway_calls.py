"""The gateway's call routes over HTTP against the real shop service: answers and every error mapping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pysoa_like.gateway import from_json_value
from tests.functional.gateway import shop
from tests.functional.gateway.conftest import GatewayFactory, shop_client_settings


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


def test_an_action_answers_its_response_body_as_json(gateway: httpx.Client) -> None:
    """POST /service/action with a JSON body answers 200 with the action's response body, and the correlation id."""
    response = gateway.post("/shop/square", json={"number": 7})
    assert response.status_code == 200
    assert response.json() == {"square": 49}
    assert response.headers["content-type"] == "application/json"
    assert len(response.headers["x-request-id"]) == 32


def test_an_empty_body_is_an_empty_request_body(gateway: httpx.Client) -> None:
    """No body at all calls the action with {} (no Content-Type needed)."""
    response = gateway.post("/shop/echo")
    assert response.status_code == 200
    assert response.json()["body"] == {}


def test_validation_errors_are_400_with_the_fields_at_fault(gateway: httpx.Client) -> None:
    """A body the action's schema refuses is 400, each error naming its field; nothing else of the server leaks."""
    response = gateway.post("/shop/square", json={"number": "seven", "extra": 1})
    assert response.status_code == 400
    errors = _errors(response)
    assert {(e["code"], e.get("field")) for e in errors} == {("INVALID", "number"), ("UNKNOWN", None)}, errors
    assert all(
        e["is_caller_error"] is True and set(e) == {"code", "message", "field", "is_caller_error"} for e in errors
    )
    assert response.json()["correlation_id"] == response.headers["x-request-id"]


def test_a_caller_error_of_the_action_is_400_and_not_found_is_404(gateway: httpx.Client) -> None:
    """An action's own caller error is 400 with its code; NOT_FOUND 404, ACCESS_DENIED 403."""
    refused = gateway.post("/shop/refuse", json={"code": "OUT_OF_STOCK"})
    assert refused.status_code == 400
    assert _errors(refused) == [
        {"code": "OUT_OF_STOCK", "message": "refused on purpose", "field": "code", "is_caller_error": True}
    ]
    assert gateway.post("/shop/refuse", json={"code": "NOT_FOUND"}).status_code == 404
    assert gateway.post("/shop/refuse", json={"code": "ACCESS_DENIED"}).status_code == 403


def test_an_unexposed_action_or_service_is_404_and_nothing_is_called(gateway: httpx.Client) -> None:
    """An action the allow-list does not name, the built-ins, and unknown services are 404 from the gateway."""
    for path in ("/shop/hidden", "/shop/status", "/shop/introspect", "/nowhere/echo"):
        response = gateway.post(path, json={})
        assert response.status_code == 404, path
        assert _errors(response)[0]["code"] == "NOT_FOUND"
    assert gateway.post("/nowhere", json={"actions": [{"action": "echo"}]}).status_code == 404


def test_with_every_action_exposed_an_action_the_service_lacks_is_404(make_gateway: GatewayFactory) -> None:
    """expose "*": every action but the built-ins goes through; the service's UNKNOWN action error is 404."""
    gateway = make_gateway(expose={"shop": "*"})
    assert gateway.post("/shop/hidden", json={}).status_code == 200
    assert gateway.post("/shop/status", json={}).status_code == 404
    missing = gateway.post("/shop/no_such_action", json={})
    assert missing.status_code == 404
    assert _errors(missing)[0]["code"] == "UNKNOWN" and _errors(missing)[0]["field"] == "action"


def test_a_server_error_is_500_without_its_traceback(gateway: httpx.Client) -> None:
    """An unexpected exception in the action is 500 SERVER_ERROR; the traceback and variables stay on the server."""
    response = gateway.post("/shop/fail", json={})
    assert response.status_code == 500
    (error,) = _errors(response)
    assert error["code"] == "SERVER_ERROR" and error["is_caller_error"] is False
    assert set(error) == {"code", "message", "field", "is_caller_error"}  # no traceback, no variables


def test_a_call_past_its_deadline_is_504(gateway: httpx.Client) -> None:
    """X-Timeout bounds the call: a slower action answers 504 TIMEOUT soon after it."""
    started = time.monotonic()
    response = gateway.post("/shop/slow", json={"seconds": 3}, headers={"X-Timeout": "0.5"})
    assert response.status_code == 504
    assert _errors(response)[0]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 2.5


def test_the_gateways_default_deadline_applies_without_x_timeout(make_gateway: GatewayFactory) -> None:
    """Without X-Timeout the gateway's own timeout bounds the call."""
    gateway = make_gateway(timeout=0.5)
    started = time.monotonic()
    assert gateway.post("/shop/slow", json={"seconds": 3}).status_code == 504
    assert time.monotonic() - started < 2.5
    assert gateway.post("/shop/slow", json={"seconds": 0}).status_code == 200


def test_an_overloaded_service_is_503_with_retry_after(gateway: httpx.Client) -> None:
    """A service's pushback (OVERLOADED, retry after 2.5 s) is 503 with Retry-After: 3."""
    response = gateway.post("/shop/busy", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert _errors(response)[0]["code"] == "OVERLOADED"


def test_an_open_circuit_is_503_with_retry_after(make_gateway: GatewayFactory, shop_redis_url: str) -> None:
    """After failures open the client's breaker, calls are refused at once: 503 CIRCUIT_OPEN with Retry-After."""
    breaker = {"failure_ratio": 0.5, "minimum_calls": 2, "window_seconds": 30, "cool_down_seconds": 20}
    gateway = make_gateway(client_settings=shop_client_settings(shop_redis_url, circuit_breaker=breaker))
    assert [gateway.post("/shop/fail", json={}).status_code for _ in range(2)] == [500, 500]
    refused = gateway.post("/shop/square", json={"number": 2})
    assert refused.status_code == 503
    assert _errors(refused)[0]["code"] == "CIRCUIT_OPEN"
    assert 1 <= int(refused.headers["retry-after"]) <= 20


def test_a_full_bulkhead_and_a_full_gateway_are_503(make_gateway: GatewayFactory, shop_redis_url: str) -> None:
    """A call beyond the client's bulkhead is 503 BULKHEAD_FULL; beyond the gateway's own bound, 503 GATEWAY_BUSY."""
    for settings, code in (
        ({"client_settings": shop_client_settings(shop_redis_url, bulkhead={"max_in_flight": 1})}, "BULKHEAD_FULL"),
        ({"max_concurrent_calls": 1}, "GATEWAY_BUSY"),
    ):
        gateway = make_gateway(**settings)
        slow = threading.Thread(target=gateway.post, args=("/shop/slow",), kwargs={"json": {"seconds": 1.5}})
        slow.start()
        try:
            time.sleep(0.5)
            response = gateway.post("/shop/square", json={"number": 2}, headers={"X-Timeout": "0.3"})
        finally:
            slow.join(10)
        assert response.status_code == 503, code
        assert _errors(response)[0]["code"] == code
        assert response.headers["retry-after"] == "1"


def test_calls_beyond_the_waiting_room_are_503_at_once(make_gateway: GatewayFactory) -> None:
    """With max_concurrent_calls in flight and max_waiting_calls waiting for a place, one more request is 503
    GATEWAY_BUSY at once, so bodies held by waiting calls stay bounded; it waited for its whole deadline before,
    however many came. The one waiting gets its place and its answer."""
    gateway = make_gateway(max_concurrent_calls=1, max_waiting_calls=1)
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=gateway.post, args=("/shop/slow",), kwargs={"json": {"seconds": 1.5}})
    waiting = threading.Thread(
        target=lambda: answers.append(gateway.post("/shop/square", json={"number": 3}, headers={"X-Timeout": "8"}))
    )
    slow.start()
    time.sleep(0.4)
    waiting.start()
    time.sleep(0.4)
    try:
        started = time.monotonic()
        refused = gateway.post("/shop/square", json={"number": 2}, headers={"X-Timeout": "8"})
        elapsed = time.monotonic() - started
    finally:
        slow.join(10)
        waiting.join(10)
    assert refused.status_code == 503, refused.text
    assert _errors(refused)[0]["code"] == "GATEWAY_BUSY" and refused.headers["retry-after"] == "1"
    assert elapsed < 2, elapsed  # at once: not after the 8 s a place could be waited for
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"square": 9})]


def test_a_body_still_being_sent_holds_no_place(make_gateway: GatewayFactory) -> None:
    """A request whose body trickles in is not counted in max_concurrent_calls + max_waiting_calls until its body
    is read: other calls go through meanwhile (a few slow uploads could make every call 503 otherwise)."""
    gateway = make_gateway(max_concurrent_calls=1, max_waiting_calls=0)
    answers: list[httpx.Response] = []

    def trickle() -> Iterator[bytes]:
        yield b'{"number": '
        time.sleep(1.5)
        yield b"4}"

    upload = threading.Thread(
        target=lambda: answers.append(
            gateway.post("/shop/square", content=trickle(), headers={"Content-Type": "application/json"})
        )
    )
    upload.start()
    try:
        time.sleep(0.5)
        meanwhile = gateway.post("/shop/square", json={"number": 2})
    finally:
        upload.join(10)
    assert (meanwhile.status_code, meanwhile.json()) == (200, {"square": 4})
    assert [(answer.status_code, answer.json()) for answer in answers] == [(200, {"square": 16})]


def test_an_unreachable_transport_is_502(make_gateway: GatewayFactory) -> None:
    """When the service's Redis cannot be reached the answer is 502 TRANSPORT_ERROR."""
    with __import__("socket").socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # a port nothing listens on
        port = placeholder.getsockname()[1]
    gateway = make_gateway(client_settings=shop_client_settings(f"redis://127.0.0.1:{port}/0"))
    response = gateway.post("/shop/square", json={"number": 2}, headers={"X-Timeout": "3"})
    assert response.status_code == 502
    assert _errors(response)[0]["code"] == "TRANSPORT_ERROR"


def test_values_json_lacks_come_back_tagged_and_decode_to_the_services_values(gateway: httpx.Client) -> None:
    """Date-times, Decimals, Amounts, bytes, infinities, int-keyed maps... come tagged; decoding restores them."""
    response = gateway.post("/shop/typed", json={})
    assert response.status_code == 200
    body = response.json()
    assert body["price"] == {"$decimal": "12.3400"}
    assert body["total"] == {"$amount": {"currency": "EUR", "minor": 1250}}
    assert body["literal"] == {"$object": {"$date": "not a tag"}}
    assert from_json_value(body) == shop.TYPED_VALUES


def test_tagged_values_in_a_request_reach_the_action_as_python_values(gateway: httpx.Client) -> None:
    """The gateway decodes tags in request bodies, so the action gets datetime, Decimal, Amount, bytes values."""
    sent = {
        "when": {"$datetime": "2026-12-06T02:02:03+01:00"},
        "price": {"$decimal": "1.10"},
        "total": {"$amount": {"currency": "USD", "minor": 5}},
        "blob": {"$bytes": "AAE="},
        "day": {"$date": "2026-12-06"},
        "plain": {"$unknown": 1},
    }
    response = gateway.post("/shop/echo", json=sent)
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["types"] == {
        "when": "datetime",
        "price": "Decimal",
        "total": "Amount",
        "blob": "bytes",
        "day": "date",
        "plain": "dict",
    }
    assert echoed["body"]["when"] == {"$datetime": "2026-12-06T01:02:03+00:00"}  # the same instant, in UTC
    assert echoed["body"]["price"] == {"$decimal": "1.10"}


def test_a_malformed_tag_is_400_naming_where(gateway: httpx.Client) -> None:
    """A tagged value that cannot be read is the caller's error, with its path."""
    response = gateway.post("/shop/echo", json={"items": [{"$date": "06/12/2026"}]})
    assert response.status_code == 400
    (error,) = _errors(response)
    assert error["field"] == "items.0" and "ISO 8601" in error["message"]


def test_a_job_runs_several_actions_and_answers_the_job_response(gateway: httpx.Client) -> None:
    """POST /service with several actions answers 200 with every action's response."""
    job = {"actions": [{"action": "square", "body": {"number": 3}}, {"action": "typed"}]}
    response = gateway.post("/shop", json=job, headers={"X-Request-ID": "job-1"})
    assert response.status_code == 200
    body = response.json()
    assert body["correlation_id"] == "job-1" and body["errors"] == []
    assert [a["action"] for a in body["actions"]] == ["square", "typed"]
    assert body["actions"][0] == {"action": "square", "body": {"square": 9}, "errors": []}
    assert body["actions"][1]["body"]["day"] == {"$date": "2026-12-06"}


def test_a_failing_job_stops_unless_continue_on_error(gateway: httpx.Client) -> None:
    """A failed action stops the job (status of its error); with continue_on_error the rest runs too."""
    actions = [{"action": "square", "body": {"number": "x"}}, {"action": "square", "body": {"number": 4}}]
    stopped = gateway.post("/shop", json={"actions": actions})
    assert stopped.status_code == 400
    assert [a["action"] for a in stopped.json()["actions"]] == ["square"]
    assert stopped.json()["actions"][0]["errors"][0]["field"] == "number"
    went_on = gateway.post("/shop", json={"actions": actions, "continue_on_error": True})
    assert went_on.status_code == 400
    assert [a["body"] for a in went_on.json()["actions"]] == [{}, {"square": 16}]


def test_a_job_with_an_unexposed_action_or_a_bad_shape_is_refused_before_any_call(gateway: httpx.Client) -> None:
    """A job naming an action not exposed is 404; a malformed job is 400 naming what is wrong."""
    hidden = gateway.post("/shop", json={"actions": [{"action": "echo"}, {"action": "hidden"}]})
    assert hidden.status_code == 404
    for job, field in (
        ({}, "actions"),
        ({"actions": []}, "actions"),
        ({"actions": [{"body": {}}]}, "actions.0"),
        ({"actions": [{"action": "echo", "body": []}]}, "actions.0.body"),
        ({"actions": [{"action": "echo"}], "continue_on_error": "yes"}, "continue_on_error"),
        ({"actions": [{"action": "echo"}], "extra": 1}, "extra"),
    ):
        response = gateway.post("/shop", json=job)
        assert response.status_code == 400, job
        assert _errors(response)[0]["field"] == field, job


def test_wrong_methods_and_routes_answer_json_errors(gateway: httpx.Client) -> None:
    """GET on a call route is 405, an unknown route 404, both as JSON errors."""
    wrong = gateway.get("/shop/square")
    assert wrong.status_code == 405 and _errors(wrong)[0]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in wrong.headers["allow"]
    unknown = gateway.get("/a/b/c")
    assert unknown.status_code == 404 and _errors(unknown)[0]["code"] == "NOT_FOUND"


def test_a_lone_surrogate_goes_through_and_comes_back_as_a_json_escape(gateway: httpx.Client) -> None:
    """A string with a lone UTF-16 surrogate (``\\ud800``, valid JSON, carried by MessagePack as PySOA writes it)
    reaches the action and is answered as a JSON escape; in an error's field too. It was a plain-text 500."""
    raw = b'{"text": "a\\ud800b"}'
    echoed = gateway.post("/shop/echo", content=raw, headers={"Content-Type": "application/json"})
    assert echoed.status_code == 200, echoed.text
    assert echoed.headers["content-type"] == "application/json"
    assert b"\\ud800" in echoed.content
    assert echoed.json()["body"] == {"text": "a\ud800b"}
    job = gateway.post(
        "/shop",
        content=b'{"actions": [{"action": "echo", "body": ' + raw + b"}]}",
        headers={"Content-Type": "application/json"},
    )
    assert job.status_code == 200 and job.json()["actions"][0]["body"]["body"] == {"text": "a\ud800b"}
    refused = gateway.post(
        "/shop/echo", content=b'{"\\udfff": {"$date": "x"}}', headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/json"
    assert _errors(refused)[0]["field"] == "\udfff"


def test_a_value_the_transport_cannot_carry_is_400_naming_where(
    gateway: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """An integer out of MessagePack's range (in the body, a job's action or X-Switches) is the caller's 400 with its
    field, and nothing is called; it was a 500 GATEWAY_ERROR with a traceback in the gateway's log."""
    too_big = {"Content-Type": "application/json"}
    response = gateway.post("/shop/echo", content=b'{"n": 18446744073709551616}', headers=too_big)
    assert response.status_code == 400, response.text
    (error,) = _errors(response)
    assert error["code"] == "BAD_REQUEST" and error["field"] == "n" and error["is_caller_error"] is True
    assert "18446744073709551616" in error["message"]
    nested = gateway.post("/shop/echo", content=b'{"items": [1, -9223372036854775809]}', headers=too_big)
    assert nested.status_code == 400 and _errors(nested)[0]["field"] == "items.1"
    job = b'{"actions": [{"action": "echo"}, {"action": "echo", "body": {"n": 1e2, "m": 99999999999999999999}}]}'
    in_job = gateway.post("/shop", content=job, headers=too_big)
    assert in_job.status_code == 400 and _errors(in_job)[0]["field"] == "actions.1.body.m"
    switches = gateway.post("/shop/echo", json={}, headers={"X-Switches": "5, 99999999999999999999"})
    assert switches.status_code == 400 and _errors(switches)[0]["field"] == "X-Switches"
    assert gateway.post("/shop/echo", json={"n": 2**64 - 1}).json()["body"] == {"n": 2**64 - 1}
    assert not [record for record in caplog.records if record.name == "pysoa_like.gateway"]
