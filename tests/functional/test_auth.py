"""Private actions over a real Redis: a worker process checks API tokens and never logs them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.auth import make_signed_token
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from tests.functional.auth_service import REPORTS_TOKEN, SIGNING_KEY
from tests.functional.conftest import CLIENT_TRANSPORT, Runner, kill_runners, spawn_runner

SERVICE = "auth_functional"


@pytest.fixture(params=["text", "json"])
def runner(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Iterator[Runner]:
    """The auth service under `pysoa-like serve` (one worker), logging at DEBUG in text or JSON lines."""
    command = [sys.executable, "-m", "pysoa_like", "serve", "tests.functional.auth_service:AuthServer"]
    command += ["--settings", "tests.functional.auth_service", "--log-format", request.param]
    started = spawn_runner(command, {"FUNCTIONAL_REDIS_URL": redis_url}, tmp_path / "auth.log")
    yield started
    kill_runners([started])


def _client(redis_url: str, **settings: Any) -> Client:
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}
    return Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}, **settings}})


def _codes(client: Client, action: str, **kwargs: Any) -> list[str]:
    with pytest.raises(CallActionError) as raised:
        client.call_action(SERVICE, action, timeout=5, **kwargs)
    return [e.code for e in raised.value.actions[0].errors]


def test_tokens_are_checked_over_redis_and_never_logged(
    runner: Runner, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Missing, wrong and good tokens (static, signed, from the client setting) behave as documented, and no
    token appears in the worker's DEBUG log (request lines, refusals, tracebacks) nor in the client's."""
    signed = make_signed_token(SIGNING_KEY, "gateway", 300)
    wrong = "wrong-token-that-must-stay-secret-1"
    anonymous = _client(redis_url)
    with caplog.at_level(logging.DEBUG):
        # The request waits in the queue until the worker has started (slow on a loaded machine).
        anonymous.call_action(SERVICE, "status", timeout=20)
        assert _codes(anonymous, "secret") == ["AUTH_REQUIRED"]
        assert _codes(anonymous, "secret", context={"api_token": wrong}) == ["AUTH_INVALID"]
        assert anonymous.call_action(SERVICE, "secret", context={"api_token": signed}).body == {"subject": "gateway"}
        reports = _client(redis_url, api_token=REPORTS_TOKEN)
        assert reports.call_action(SERVICE, "secret").body == {"subject": "reports"}
        assert _codes(reports, "crash") == ["SERVER_ERROR"]
        runner.wait_for_log("the private action failed on purpose")
        runner.wait_for_log("Refused a call to secret: unknown token")
    worker_log = runner.log()
    assert "Job request" in worker_log and "api_token" in worker_log
    for token in (REPORTS_TOKEN, signed, wrong, signed.split(".")[2]):
        assert token not in worker_log
        assert token not in caplog.text
