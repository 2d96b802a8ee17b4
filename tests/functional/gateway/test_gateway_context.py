"""What the gateway passes on from the HTTP request: correlation id, trace context, switches, API token."""

from __future__ import annotations

import httpx
import pytest

from tests.functional.gateway import shop
from tests.functional.gateway.conftest import GatewayFactory

_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
_TRACEPARENT = f"00-{_TRACE_ID}-00f067aa0ba902b7-01"


def test_x_request_id_is_the_correlation_id_and_is_echoed(gateway: httpx.Client) -> None:
    """The service sees X-Request-ID as the correlation id; the answer carries it back."""
    response = gateway.post("/shop/echo", json={}, headers={"X-Request-ID": "order-42:attempt-1"})
    assert response.json()["correlation_id"] == "order-42:attempt-1"
    assert response.headers["x-request-id"] == "order-42:attempt-1"


def test_traceparent_goes_along_and_gives_the_correlation_id(gateway: httpx.Client) -> None:
    """A valid traceparent (and tracestate) reaches the service's context; its trace id is the correlation id."""
    headers = {"traceparent": _TRACEPARENT, "tracestate": "vendor=abc"}
    echoed = gateway.post("/shop/echo", json={}, headers=headers).json()
    assert echoed["traceparent"] == _TRACEPARENT and echoed["tracestate"] == "vendor=abc"
    assert echoed["correlation_id"] == _TRACE_ID
    both = gateway.post("/shop/echo", json={}, headers={**headers, "X-Request-ID": "mine"}).json()
    assert both["correlation_id"] == "mine" and both["traceparent"] == _TRACEPARENT


def test_an_invalid_traceparent_is_ignored(gateway: httpx.Client) -> None:
    """A malformed traceparent is not passed on (W3C: start afresh), and the call still succeeds."""
    zeros = f"00-{'0' * 32}-00f067aa0ba902b7-01"
    for value in ("garbage", zeros, f"ff-{_TRACE_ID}-00f067aa0ba902b7-01"):
        response = gateway.post("/shop/echo", json={}, headers={"traceparent": value})
        assert response.status_code == 200
        assert response.json()["traceparent"] is None
        assert len(response.json()["correlation_id"]) == 32


def test_switches_come_from_x_switches(gateway: httpx.Client) -> None:
    """X-Switches lists the request's switches."""
    echoed = gateway.post("/shop/echo", json={}, headers={"X-Switches": "5, 1 12"}).json()
    assert echoed["switches"] == [1, 5, 12]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Switches", "one"),
        ("X-Timeout", "soon"),
        ("X-Timeout", "-1"),
        ("X-Timeout", "nan"),
        ("X-Timeout", "61"),
        ("X-Request-ID", "has space"),
        ("X-Request-ID", "x" * 201),
    ],
)
def test_a_malformed_header_is_400_naming_it(gateway: httpx.Client, header: str, value: str) -> None:
    """A header the gateway cannot read is 400, the error's field naming the header; nothing is called."""
    response = gateway.post("/shop/echo", json={}, headers={header: value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == header


def test_a_private_action_without_a_token_is_401(gateway: httpx.Client) -> None:
    """No Authorization header: the service's AUTH_REQUIRED is 401 with WWW-Authenticate: Bearer."""
    response = gateway.post("/shop/cancel_order", json={"order_id": 7})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["code"] == "AUTH_REQUIRED"


def test_a_refused_token_is_401_and_a_token_without_the_scope_403(gateway: httpx.Client) -> None:
    """An unknown token is AUTH_INVALID (401); a valid token lacking orders:write is ACCESS_DENIED (403)."""
    unknown = gateway.post("/shop/cancel_order", json={"order_id": 7}, headers={"Authorization": "Bearer nope" * 3})
    assert unknown.status_code == 401 and unknown.json()["errors"][0]["code"] == "AUTH_INVALID"
    partner = {"Authorization": f"Bearer {shop.PARTNER_TOKEN}"}
    denied = gateway.post("/shop/cancel_order", json={"order_id": 7}, headers=partner)
    assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "ACCESS_DENIED"
    assert shop.PARTNER_TOKEN not in denied.text


def test_a_bearer_token_with_the_scope_calls_the_private_action(gateway: httpx.Client) -> None:
    """Authorization: Bearer goes into the request context as api_token; the action sees its subject."""
    response = gateway.post(
        "/shop/cancel_order", json={"order_id": 7}, headers={"Authorization": f"bearer  {shop.ADMIN_TOKEN}"}
    )
    assert response.status_code == 200
    assert response.json() == {"cancelled": 7, "by": "admin"}


def test_another_authorization_scheme_is_401_from_the_gateway(gateway: httpx.Client) -> None:
    """Authorization: Basic (or Bearer without a token) is refused by the gateway itself."""
    for value in ("Basic dXNlcjpwYXNz", "Bearer"):
        response = gateway.post("/shop/echo", json={}, headers={"Authorization": value})
        assert response.status_code == 401
        assert response.json()["errors"][0]["code"] == "AUTH_INVALID"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_public_actions_get_the_token_too(gateway: httpx.Client) -> None:
    """The token travels with every call (the service decides which actions need it)."""
    echoed = gateway.post("/shop/echo", json={}, headers={"Authorization": f"Bearer {shop.PARTNER_TOKEN}"}).json()
    assert echoed["has_token"] is True
    assert gateway.post("/shop/echo", json={}).json()["has_token"] is False


def test_a_job_carries_the_context_to_each_action(gateway: httpx.Client) -> None:
    """A job's actions all see the headers' correlation id, switches and token."""
    job = {"actions": [{"action": "echo"}, {"action": "cancel_order", "body": {"order_id": 1}}]}
    headers = {"X-Request-ID": "job-ctx", "X-Switches": "3", "Authorization": f"Bearer {shop.ADMIN_TOKEN}"}
    body = gateway.post("/shop", json=job, headers=headers).json()
    assert body["actions"][0]["body"]["correlation_id"] == "job-ctx"
    assert body["actions"][0]["body"]["switches"] == [3]
    assert body["actions"][1]["body"] == {"cancelled": 1, "by": "admin"}


def test_refusals_before_any_call_carry_the_request_id_too(make_gateway: GatewayFactory) -> None:
    """Every answer carries X-Request-ID and its body the correlation id, refusals made before any call included
    (an action not exposed, a malformed header, another method, no such route, another host, a refused CORS
    preflight): the caller's X-Request-ID when it is valid, else a new one. They carried none."""
    gateway = make_gateway(timeout=5, allowed_hosts=["127.0.0.1"], cors_origins=["https://shop.example"])
    mine = {"X-Request-ID": "refused-1"}
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST", **mine}
    for refused in (
        gateway.post("/shop/hidden", json={}, headers=mine),
        gateway.post("/nowhere", json={}, headers=mine),
        gateway.post("/shop/echo", json={}, headers={**mine, "X-Timeout": "soon"}),
        gateway.post("/shop/echo", json={}, headers={**mine, "Authorization": "Basic x"}),
        gateway.get("/shop/echo", headers=mine),
        gateway.post("/a/b/c", json={}, headers=mine),
        gateway.post("/shop/echo", json={}, headers={**mine, "Host": "evil.example"}),
        gateway.options("/shop/echo", headers=preflight),
    ):
        assert refused.status_code >= 400, refused.request.url
        assert refused.headers.get("x-request-id") == "refused-1", (refused.request.url, refused.status_code)
        assert refused.json()["correlation_id"] == "refused-1"
    bad_id = gateway.post("/shop/echo", json={}, headers={"X-Request-ID": "has spaces"})
    assert bad_id.status_code == 400 and bad_id.json()["errors"][0]["field"] == "X-Request-ID"
    assert (
        len(bad_id.headers["x-request-id"]) == 32 and bad_id.json()["correlation_id"] == bad_id.headers["x-request-id"]
    )
