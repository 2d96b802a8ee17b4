"""The gateway's request limits, body rules, CORS, allowed hosts and health endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from tests.functional.gateway.conftest import GatewayFactory

_ORIGIN = "https://shop.example.com"


def test_a_body_over_the_limit_is_413_with_or_without_a_length(make_gateway: GatewayFactory) -> None:
    """A declared or streamed (chunked) body past max_body_bytes is 413; one just under it goes through."""
    gateway = make_gateway(max_body_bytes=1000)
    big = json.dumps({"text": "x" * 1000}).encode()
    declared = gateway.post("/shop/echo", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and declared.json()["errors"][0]["code"] == "BODY_TOO_LARGE"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    streamed = gateway.post("/shop/echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    fits = gateway.post("/shop/echo", json={"text": "x" * 900})
    assert fits.status_code == 200


def test_a_body_that_does_not_arrive_within_the_deadline_is_408(gateway: httpx.Client) -> None:
    """The call's deadline (X-Timeout) covers receiving its body: a body still trickling in when it passes is
    refused with 408 REQUEST_TIMEOUT, nothing called (the gateway waited for the body however long it took)."""

    def trickle() -> Iterator[bytes]:
        yield b'{"text": "'
        time.sleep(2)
        yield b'late"}'

    response = gateway.post(
        "/shop/echo", content=trickle(), headers={"Content-Type": "application/json", "X-Timeout": "0.5"}
    )
    assert response.status_code == 408, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "REQUEST_TIMEOUT" and "0.5" in error["message"]
    assert response.headers["connection"] == "close"  # the rest of the body is not read (RFC 9110)


def test_a_body_that_is_not_json_is_415_and_malformed_json_400(gateway: httpx.Client) -> None:
    """Form data is 415; invalid JSON, NaN literals, numbers too large for a float (1e400 was read as Infinity) and
    a non-object body are 400."""
    form = gateway.post("/shop/echo", content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.json()["errors"][0]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    for raw in (b"{", b'{"a": NaN}', b"[1, 2]", b'"text"', b"[" * 100_000, b'{"a": 1e400}', b'{"a": [-1E999]}'):
        response = gateway.post("/shop/echo", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, raw[:20]
        assert response.json()["errors"][0]["code"] == "BAD_REQUEST"
    for raw, field in ((b'{"a": 1e400}', "a"), (b'{"a": [-1E999]}', "a.0")):
        (error,) = gateway.post("/shop/echo", content=raw, headers={"Content-Type": "application/json"}).json()[
            "errors"
        ]
        assert error["field"] == field and "out of the range of a float" in error["message"], error
    vendor = gateway.post("/shop/echo", content=b'{"a": 1}', headers={"Content-Type": "application/vnd.api+json"})
    assert vendor.status_code == 200


def test_cors_allows_the_configured_origins_only(make_gateway: GatewayFactory) -> None:
    """A listed origin passes the preflight and reads X-Request-ID; another origin's preflight is refused."""
    gateway = make_gateway(cors_origins=[_ORIGIN])
    preflight = {
        "Origin": _ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-timeout",
    }
    allowed = gateway.options("/shop/echo", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == _ORIGIN
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = gateway.options("/shop/echo", headers={**preflight, "Origin": "https://evil.example"})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert refused.headers["content-type"] == "application/json"  # was Starlette's plain text
    (error,) = refused.json()["errors"]
    assert (error["code"], error["field"], error["message"]) == ("BAD_REQUEST", "Origin", "Disallowed CORS origin")
    bad_header = gateway.options("/shop/echo", headers={**preflight, "Access-Control-Request-Headers": "x-other"})
    assert bad_header.status_code == 400
    assert bad_header.json()["errors"][0]["field"] == "Access-Control-Request-Headers"
    assert allowed.headers["content-type"] == "application/json" and allowed.json() == {"ok": True}
    call = gateway.post("/shop/echo", json={}, headers={"Origin": _ORIGIN})
    assert call.headers["access-control-allow-origin"] == _ORIGIN
    assert "x-request-id" in call.headers["access-control-expose-headers"].lower()


def test_without_cors_origins_no_cross_origin_headers_are_sent(gateway: httpx.Client) -> None:
    """By default browsers get no CORS permission at all."""
    call = gateway.post("/shop/echo", json={}, headers={"Origin": _ORIGIN})
    assert call.status_code == 200
    assert "access-control-allow-origin" not in call.headers


def test_allowed_hosts_refuse_other_host_names(make_gateway: GatewayFactory) -> None:
    """With allowed_hosts, a request for another Host is a JSON 400 naming the header (no DNS rebinding);
    a wildcard allows subdomains, ports aside."""
    gateway = make_gateway(allowed_hosts=["127.0.0.1", "*.shop.example"])
    assert gateway.get("/healthz").status_code == 200
    assert gateway.get("/healthz", headers={"Host": "api.shop.example:8080"}).status_code == 200
    for host in ("evil.example", "shop.example", "127.0.0.1.evil.example", ""):
        refused = gateway.post("/shop/echo", json={}, headers={"Host": host})
        assert refused.status_code == 400, host
        assert refused.headers["content-type"] == "application/json"  # was Starlette's plain text
        (error,) = refused.json()["errors"]
        assert (error["code"], error["field"]) == ("BAD_REQUEST", "Host"), host


def test_the_health_endpoint_answers_without_calling_services(gateway: httpx.Client) -> None:
    """GET /healthz says the gateway is up and what it exposes."""
    response = gateway.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "services": ["shop"]}
