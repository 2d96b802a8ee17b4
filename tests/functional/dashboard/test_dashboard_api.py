"""The dashboard's JSON endpoints, served by ``pysoa-like dashboard``, watching the example services on real Redis."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.fleet.keys import registry_errors_key
from pysoa_like.test.redis import RedisServerProcess
from tests.functional.conftest import wait_for
from tests.functional.dashboard.conftest import get_json


def _service(data: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in data["services"] if s["name"] == name), None)


def test_overview_lists_the_live_services_and_their_workers(
    overview: Callable[[], Any], demo_services: dict[str, int]
) -> None:
    """Every running service is listed with each of its workers, its version, actions and queue depth."""

    def listed() -> Any:
        data = overview()
        counts = {n: len((_service(data, n) or {}).get("instances", [])) for n in demo_services}
        return data if counts == demo_services else None

    data = wait_for(listed, timeout=15)
    assert data["problem"] is None and data["polled_at"] is not None
    calculator = _service(data, "calculator")
    assert calculator is not None
    assert calculator["versions"] == ["1.2.0"] and calculator["queue_depth"] == 0
    assert calculator["actions"] == ["add", "introspect", "square", "status"]
    assert {i["state"] for i in calculator["instances"]} == {"serving"}
    assert len({i["pid"] for i in calculator["instances"]}) == 2
    assert _service(data, "report")["versions"] == ["1.0.0"]  # type: ignore[index]


def test_calls_and_errors_show_in_the_rates_and_the_recent_errors(
    overview: Callable[[], Any], demo_client: Client
) -> None:
    """Calls made count in the calls-per-second series; an error appears in the error series and the recent errors."""
    # Counts from before the dashboard first saw a worker are its baseline, not calls it charts.
    before = wait_for(
        lambda: (lambda s: s if s and len(s["instances"]) == 2 else None)(_service(overview(), "calculator"))
    )
    correlation_id = f"dashboard-{uuid.uuid4().hex}"
    for number in range(30):
        demo_client.call_action("calculator", "square", {"number": number})
    with pytest.raises(CallActionError):
        demo_client.call_action("calculator", "add", {"numbers": []}, correlation_id=correlation_id)

    def counted() -> Any:
        service = _service(overview(), "calculator")
        if service is None or service["jobs_handled"] < before["jobs_handled"] + 31:
            return None
        return service if service["jobs_failed"] >= before["jobs_failed"] + 1 else None

    wait_for(counted, timeout=15)

    def charted() -> Any:
        data = overview()
        series = data["series"]["services"]["calculator"]
        calls = sum(v for v in series["calls"] if v is not None) * data["series"]["step"]
        errors = sum(v for v in series["errors"] if v is not None) * data["series"]["step"]
        return data if calls >= 30.5 and errors >= 0.99 else None

    try:
        data = wait_for(charted, timeout=30)
    except AssertionError as exc:  # say what the dashboard had, for a failure on a loaded machine
        raise AssertionError(f"calls and error not charted in time: {overview()}") from exc
    assert data["series"]["count"] == len(data["series"]["services"]["calculator"]["calls"]) == 120
    calculator = _service(data, "calculator")
    assert calculator is not None and calculator["calls_per_second"] > 0 and calculator["error_ratio"] > 0
    (error,) = [e for e in data["recent_errors"] if e["correlation_id"] == correlation_id]
    described = (error["service"], error["action"], error["code"], error["field"])
    assert described == ("calculator", "add", "EMPTY", "numbers")
    assert error["message"] == "Give at least one number" and error["is_caller_error"] is True
    assert error["instance_id"] in {i["instance_id"] for i in calculator["instances"]}


def test_a_service_s_actions_come_with_their_schemas(dashboard_url: str, demo_services: dict[str, int]) -> None:
    """/api/services/NAME gives what introspect answers, per version, without calling the service."""
    described = get_json(dashboard_url + "api/services/calculator")
    assert list(described["versions"]) == ["1.2.0"]
    actions = described["versions"]["1.2.0"]["actions"]
    assert sorted(actions) == ["add", "introspect", "square", "status"]
    assert actions["square"]["documentation"] == "Return the square of a number."
    assert actions["square"]["request_schema"]["type"] == "dictionary"
    assert "number" in actions["square"]["request_schema"]["contents"]
    assert get_json(dashboard_url + "api/services/nothing-here") == {"service": "nothing-here", "versions": {}}


def test_the_page_needs_nothing_from_elsewhere(dashboard_url: str) -> None:
    """The page and its assets are served by the dashboard; none refers to another host (works offline)."""
    texts = {}
    for path in ("", "static/dashboard.js", "static/dashboard.css"):
        with urllib.request.urlopen(dashboard_url + path, timeout=5) as response:
            texts[path] = response.read().decode("utf-8")
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<script src="static/dashboard.js"' in texts[""]
    for path, text in texts.items():
        # The SVG namespace is a name, not a fetch.
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", text)) - {"http://www.w3.org"}
        assert not urls, (path, urls)
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(dashboard_url + "static/secrets.py", timeout=5)
    assert missing.value.code == 404
    missing.value.close()


def test_on_a_loopback_address_only_loopback_host_names_are_answered(dashboard_url: str) -> None:
    """A page read under another host name (a web site rebinding its DNS to 127.0.0.1) is refused with 400."""
    port = urllib.parse.urlsplit(dashboard_url).port
    foreign = urllib.request.Request(dashboard_url + "api/overview", headers={"Host": f"attacker.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(foreign, timeout=5)
    assert refused.value.code == 400
    refused.value.close()
    local = urllib.request.Request(dashboard_url + "healthz", headers={"Host": f"localhost:{port}"})
    with urllib.request.urlopen(local, timeout=5) as response:
        assert json.loads(response.read()) == {"ok": True}


def test_a_wrong_path_or_method_is_a_json_error(dashboard_url: str) -> None:
    """A path the dashboard does not serve is 404 and another method 405, with a JSON body {"error": ...} as its
    other errors have, for the scripts reading its JSON (they were Starlette's plain text)."""
    for request, code in (
        (urllib.request.Request(dashboard_url + "api/overveiw"), 404),
        (urllib.request.Request(dashboard_url + "api/overview", data=b"{}", method="POST"), 405),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        with refused.value as answer:
            assert answer.code == code
            assert answer.headers["Content-Type"] == "application/json"
            assert set(json.loads(answer.read())) == {"error"}


def test_an_error_message_with_a_lone_surrogate_is_shown(
    redis_server: RedisServerProcess, demo_services: dict[str, int], overview: Callable[[], Any]
) -> None:
    """A recent error whose message holds a lone UTF-16 surrogate (MessagePack carries them, so a service may echo
    one from its caller; its record stores it as a JSON escape) is shown, escaped; every /api/overview was a
    plain-text 500 while it was among the latest errors (a day, unless newer ones pushed it out)."""
    marker = f"SURROGATE_{uuid.uuid4().hex[:8]}"
    record = json.dumps({"service": "calculator", "code": marker, "message": "got \ud800 here", "time": time.time()})
    key = registry_errors_key("calculator")
    with redis_server.client() as client:
        client.lpush(key, record)
        try:

            def shown() -> Any:
                try:
                    return [error for error in overview()["recent_errors"] if error["code"] == marker]
                except urllib.error.HTTPError as failed:
                    failed.close()
                    return None

            (error,) = wait_for(shown, timeout=10)
            assert error["message"] == "got \ud800 here"
        finally:
            client.lrem(key, 0, record)
