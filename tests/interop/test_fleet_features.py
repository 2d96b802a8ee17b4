"""PySOA 1.4.9 clients call services that use the fleet features (registry, versions, deprecated actions,
events) unchanged, while those services' background threads run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pysoa_like.client.client import Client
from pysoa_like.events.envelope import decode_event
from pysoa_like.events.testing import wait_for_event_handled
from tests.interop._harness import Deployment, client_transport_kwargs
from tests.interop._like_service import INTEROP_API_TOKEN, TRANSPORT_PATHS, like_transport_kwargs


def _call(
    action: str, body: dict[str, Any] | None = None, method: str = "call_action", **kwargs: Any
) -> dict[str, Any]:
    if method == "call_actions":
        return {
            "method": method,
            "kwargs": {"service_name": "interop", "actions": [{"action": action, "body": body or {}}], **kwargs},
        }
    return {"method": method, "kwargs": {"service_name": "interop", "action": action, "body": body or {}, **kwargs}}


def test_pysoa_clients_call_a_service_using_the_fleet_features(
    deployment_factory: Callable[[str, str], Deployment],
) -> None:
    """A PySOA client calls actions, a deprecated one, status and introspect; each answer parses as before and
    carries the new information only where PySOA clients ignore it."""
    deployment = deployment_factory("like", "single")
    outcomes = deployment.call(
        "pysoa",
        {"interop": ("msgpack", 3)},
        [
            _call("square", {"number": 3}),
            _call("retired", method="call_actions"),
            _call("status"),
            _call("introspect", {"action_name": "retired"}),
        ],
    )
    square, retired, status, introspect = (outcome["result"] for outcome in outcomes)
    assert square["body"] == {"square": 9}
    assert retired["actions"][0]["body"] == {"retired": True}
    assert retired["context"]["deprecated_actions"] == {"retired": "use square instead"}
    assert status["errors"] == [] and status["body"]["version"] == "2.0.0"
    assert set(status["body"]) == {"conformity", "pysoa", "python", "version", "healthcheck"}
    registry = status["body"]["healthcheck"]["diagnostics"]["registry"]
    assert registry["name"] == "interop" and registry["versions"] == ["2.0.0"]
    described = introspect["body"]["actions"]["retired"]
    assert described["deprecated"] == "use square instead"
    assert described["documentation"].startswith("DEPRECATED: use square instead")


def test_events_flow_while_pysoa_clients_call(deployment_factory: Callable[[str, str], Deployment]) -> None:
    """The interop services handle an event published by a pysoa_like client (each once, chaining its context
    into the event they publish back), and answer a PySOA client meanwhile."""
    deployment = deployment_factory("like", "single")
    config = client_transport_kwargs(deployment.hosts, "msgpack", 3)
    client = Client(
        {"interop": {"transport": {"path": TRANSPORT_PATHS["client"], "kwargs": like_transport_kwargs(config)}}}
    )
    try:
        (service,) = client.list_services(["interop"])
        assert ("interop.ping", "pool") in service.events
        assert service.instances[0].periodic_tasks == ("tick",)
        event_id = client.publish_event("interop.ping", {}, correlation_id="interop-corr")
        (pysoa_outcome,) = deployment.call("pysoa", {"interop": ("msgpack", 3)}, [_call("square", {"number": 4})])
        assert pysoa_outcome["result"]["body"] == {"square": 16}
        wait_for_event_handled(client, "interop.ping", event_id, service="interop", timeout=15)
        # Every interop service of the deployment subscribes (service pool): each answers once.
        redis_client = client.fleet_redis().client_for("pysoa:events:{interop.pong}")
        deadline = time.monotonic() + 10
        while redis_client.xlen("pysoa:events:{interop.pong}") < len(deployment.services):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        answers = [decode_event(fields) for _, fields in redis_client.xrange("pysoa:events:{interop.pong}")]
        assert sorted(a["body"]["service"] for a in answers) == sorted(deployment.services)
        assert {a["body"]["ping"] for a in answers} == {event_id}
        assert {a["context"]["correlation_id"] for a in answers} == {"interop-corr"}
        assert sorted(a["publisher"] for a in answers) == sorted(deployment.services)
    finally:
        client.fleet_redis().close()


def test_pysoa_clients_pass_an_api_token_in_the_context(deployment_factory: Callable[[str, str], Deployment]) -> None:
    """A PySOA 1.4.9 client opens a private action with context={'api_token': ...}; without a token, or with a
    wrong one, it gets the AUTH_REQUIRED / AUTH_INVALID caller errors as a plain CallActionError."""
    deployment = deployment_factory("like", "single")
    granted, missing, wrong = deployment.call(
        "pysoa",
        {"interop": ("msgpack", 3)},
        [
            _call("vault", context={"api_token": INTEROP_API_TOKEN}),
            _call("vault"),
            _call("vault", context={"api_token": "not-the-interop-token"}),
        ],
    )
    assert granted["result"]["body"] == {"opened_by": "interop-caller"}
    for outcome, code in ((missing, "AUTH_REQUIRED"), (wrong, "AUTH_INVALID")):
        exception = outcome["exception"]
        assert exception["type"] == "CallActionError"
        (error,) = exception["actions"][0]["errors"]
        assert error["code"] == code and error["is_caller_error"] is True
