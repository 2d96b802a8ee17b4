"""``request.run_coroutine`` and coroutine middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import pytest

from pysoa_like.server._event_loop import AsyncEventLoopThread
from pysoa_like.server.action import Action
from pysoa_like.server.coroutine import CoroutineMiddleware, DefaultCoroutineMiddleware
from pysoa_like.server.types import EnrichedActionRequest
from tests.unit.server._helpers import job, make_server, serve

EVENTS: list[str] = []


class Tracing(CoroutineMiddleware):
    def __init__(self, name: str) -> None:
        self.name = name

    def before_run_coroutine(self) -> None:
        EVENTS.append(f"{self.name}:before")

    def coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        async def wrapped() -> Any:
            EVENTS.append(f"{self.name}:enter")
            return await coroutine

        return wrapped()


class Doubles(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        async def double() -> int:
            await asyncio.sleep(0)
            return int(request.body["n"]) * 2

        assert request.run_coroutine is not None
        return {"n": request.run_coroutine(double()).result(timeout=5)}


def test_run_coroutine_runs_on_the_server_loop_with_middleware_in_order() -> None:
    """``run_coroutine`` runs the coroutine (loop started lazily); middleware hooks run in configured order."""
    EVENTS.clear()
    path = f"{__name__}:Tracing"
    server = make_server(
        {"double": Doubles},
        coroutine_middleware=[{"path": path, "kwargs": {"name": "a"}}, {"path": path, "kwargs": {"name": "b"}}],
    )
    try:
        assert not server._async_event_loop_thread.is_running
        response = serve(server, job({"action": "double", "body": {"n": 21}}))
        assert response["actions"][0]["body"] == {"n": 42}
        assert EVENTS == ["a:before", "b:before", "a:enter", "b:enter"]
    finally:
        server.close()
    assert not server._async_event_loop_thread.is_running


def test_default_coroutine_middleware_logs_and_reraises(caplog: pytest.LogCaptureFixture) -> None:
    """``DefaultCoroutineMiddleware`` logs a coroutine's exception and re-raises it into the future."""

    async def fails() -> None:
        raise ValueError("async boom")

    loop_thread = AsyncEventLoopThread([DefaultCoroutineMiddleware()])
    try:
        with caplog.at_level(logging.ERROR, logger="pysoa_like.async"):
            future = loop_thread.run_coroutine(fails())
            with pytest.raises(ValueError, match="async boom"):
                future.result(timeout=5)
        assert "run_coroutine" in caplog.text
    finally:
        loop_thread.stop()


def test_stop_lets_pending_coroutines_finish() -> None:
    """Stopping the loop waits for coroutines still running."""
    loop_thread = AsyncEventLoopThread([])

    async def slow() -> str:
        await asyncio.sleep(0.05)
        return "done"

    future = loop_thread.run_coroutine(slow())
    loop_thread.stop()
    assert future.result(timeout=1) == "done"
