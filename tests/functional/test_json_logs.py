"""``pysoa-like serve --log-format json``: every line a worker logs is one JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from tests.functional.conftest import SERVICE, Runner, wait_for


def _json_lines(runner: Runner) -> list[dict[str, Any]]:
    """The JSON objects of the log's complete lines (a worker may be writing the last one while it is read)."""
    return [
        json.loads(line)
        for line in runner.log().splitlines(keepends=True)
        if line.startswith("{") and line.endswith("\n")
    ]


def test_serve_log_format_json_writes_structured_request_lines(
    start_runner: Callable[..., Runner], client: Client
) -> None:
    """Request and response lines carry ids, service, action, duration and outcome; secrets stay masked."""
    runner = start_runner("--log-format", "json", fork=2)
    client.call_action(SERVICE, "echo", {"password": "hunter2", "n": 1}, correlation_id="corr-json")
    with pytest.raises(CallActionError):
        client.call_action(SERVICE, "fail", {}, correlation_id="corr-fail")

    def responses() -> list[dict[str, Any]]:
        lines = [line for line in _json_lines(runner) if line.get("event") == "job_response"]
        return lines if {line["correlation_id"] for line in lines} >= {"corr-json", "corr-fail"} else []

    by_correlation = {line["correlation_id"]: line for line in wait_for(responses)}
    echo, fail = by_correlation["corr-json"], by_correlation["corr-fail"]
    assert echo["service"] == "functional"
    assert echo["actions"] == ["echo"]
    assert echo["outcome"] == "success"
    assert echo["error_codes"] == []
    assert isinstance(echo["request_id"], int)
    assert 0 <= echo["duration_ms"] < 10_000
    assert (fail["outcome"], fail["error_codes"]) == ("error", ["SERVER_ERROR"])
    # Every line of the workers is JSON (startup lines included), and the password never appears.
    log = runner.log()
    assert "hunter2" not in log
    assert any(
        line.get("message", "").startswith("Service functional server starting up") for line in _json_lines(runner)
    )
    assert all(line.startswith("{") for line in log.splitlines() if "Job re" in line)
