"""Coroutine actions (``async def run``, coroutine functions in ``action_class_map``) on a server running one job
at a time, the ``concurrency`` setting, and coroutine middleware hooks."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.errors import Error
from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.middleware import ActionHandler, AsyncActionHandler, ServerMiddleware
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.unit.server._helpers import job, make_server, serve

LOCAL_TRANSPORT = "pysoa_like.common.transport.local:LocalClientTransport"


class Greet(Action):
    """A coroutine action that awaits, then answers."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {
            "hello": request.body["name"],
            "thread": threading.current_thread().name,
            "request_id": (PySOALogContextFilter.get_logging_request_context() or {}).get("request_id"),
            "remaining": request.time_remaining(),
        }


class Refuse(Action):
    """A coroutine action raising an action error after an await."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        raise ActionError(errors=[Error(code="NOPE", message="refused", field="name")])


class Forever(Action):
    """A coroutine action that never ends by itself; records its cancellation."""

    cancelled = threading.Event()

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            Forever.cancelled.set()
            raise
        return {}


async def shout(request: EnrichedActionRequest) -> dict[str, Any]:
    """A coroutine function served directly."""
    await asyncio.sleep(0)
    return {"shout": str(request.body["word"]).upper()}


async def answer_response(request: EnrichedActionRequest) -> ActionResponse:
    """A coroutine function returning a whole response."""
    return ActionResponse(action=request.action, body={"whole": True})


class Stamps(ServerMiddleware):
    """A plain action middleware that reads the response it gets back."""

    def action(self, process_action: ActionHandler) -> ActionHandler:
        def handler(request: EnrichedActionRequest) -> ActionResponse:
            response = process_action(request)
            response.body["stamped"] = type(response).__name__
            return response

        return handler


class CoroutineOnly(ServerMiddleware):
    """A middleware with a coroutine action hook and no plain twin."""

    def async_action(self, process_action: AsyncActionHandler) -> AsyncActionHandler:
        return process_action


def test_an_async_run_action_answers_with_its_body() -> None:
    """``async def run`` is run to completion on the server's event loop thread (it was RESPONSE_NOT_SERIALIZABLE)."""
    server = make_server({"greet": Greet})
    response = serve(server, job({"action": "greet", "body": {"name": "Ada"}}), request_id=7)
    [action] = response["actions"]
    assert action["errors"] == []
    assert action["body"]["hello"] == "Ada"
    assert action["body"]["thread"] == "pysoa-like-async"
    # The job's logging context went with it to the loop thread.
    assert action["body"]["request_id"] == 7
    server.close()


def test_a_coroutine_function_in_the_action_map_is_the_action() -> None:
    """A coroutine function is called with the request (not the settings); a dict or a response is its answer."""
    server = make_server({"shout": shout, "whole": answer_response})
    response = serve(server, job({"action": "shout", "body": {"word": "hey"}}, "whole"))
    assert [a["body"] for a in response["actions"]] == [{"shout": "HEY"}, {"whole": True}]
    server.close()


def test_a_coroutine_actions_errors_are_its_responses_errors() -> None:
    """An ``ActionError`` raised after an await becomes the action's errors, as for a plain action."""
    server = make_server({"refuse": Refuse})
    [action] = serve(server, job("refuse"))["actions"]
    assert [(e["code"], e["field"]) for e in action["errors"]] == [("NOPE", "name")]
    server.close()


def test_plain_middleware_gets_a_response_from_a_coroutine_action() -> None:
    """Middleware written for plain actions sees a real ``ActionResponse``, never a coroutine."""
    server = make_server({"greet": Greet}, middleware=[{"path": f"{__name__}:Stamps"}])
    [action] = serve(server, job({"action": "greet", "body": {"name": "Bo"}}))["actions"]
    assert action["body"]["stamped"] == "ActionResponse"
    assert action["body"]["hello"] == "Bo"
    server.close()


def test_a_coroutine_action_is_cancelled_at_its_jobs_deadline() -> None:
    """At the deadline (the request's expiry) the coroutine is cancelled and the action answers DEADLINE_EXCEEDED."""
    Forever.cancelled.clear()
    server = make_server({"forever": Forever})
    started = time.monotonic()
    meta = {"client_version": [1, 5, 0], "__expiry__": time.time() + 0.5}
    [action] = serve(server, job("forever"), meta=meta)["actions"]
    assert [e["code"] for e in action["errors"]] == ["DEADLINE_EXCEEDED"]
    assert 0.3 < time.monotonic() - started < 5
    assert Forever.cancelled.wait(5)
    server.close()


def test_coroutine_actions_through_the_local_transport() -> None:
    """A client over the local transport calls coroutine actions like plain ones, with the time its call has left."""
    server_class = type("LocalAsync", (Server,), {"service_name": "local_async", "action_class_map": {"greet": Greet}})
    transport = {"server_class": server_class, "server_settings": {}}
    client = Client({"local_async": {"transport": {"path": LOCAL_TRANSPORT, "kwargs": transport}}})
    body = client.call_action("local_async", "greet", {"name": "Cy"}, timeout=3).body
    assert body["hello"] == "Cy"
    assert 0 < body["remaining"] <= 3
    with pytest.raises(CallActionError):
        client.call_action("local_async", "greet", {})  # KeyError in the coroutine: SERVER_ERROR


class ContextEcho(Action):
    """Answers with what it was called with: its context and deadline."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"context": dict(request.context), "deadline": request.deadline}


class Relay(Action):
    """Calls ``echo.context`` through ``request.async_client`` and answers with what that saw."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        response = await request.async_client.call_action("echo", "context", {})
        return {"nested": response.body, "same_client": request.async_client is request.async_client}


def test_request_async_client_chains_the_jobs_context_and_deadline() -> None:
    """A coroutine action's ``request.async_client`` calls another service with the job's correlation id and
    switches, ``calling_service`` set to the caller, and a deadline inside the job's; one client per job."""
    echo_class = type("EchoServer", (Server,), {"service_name": "echo", "action_class_map": {"context": ContextEcho}})
    echo = {"transport": {"path": LOCAL_TRANSPORT, "kwargs": {"server_class": echo_class, "server_settings": {}}}}
    relay_class = type("RelayServer", (Server,), {"service_name": "relay", "action_class_map": {"relay": Relay}})
    relay_settings = {"client_routing": {"echo": echo}}
    client = Client(
        {
            "relay": {
                "transport": {
                    "path": LOCAL_TRANSPORT,
                    "kwargs": {"server_class": relay_class, "server_settings": relay_settings},
                }
            }
        }
    )
    started = time.time()
    response = client.call_action("relay", "relay", {}, timeout=5, correlation_id="corr-9", switches=[7])
    nested = response.body["nested"]
    assert response.body["same_client"] is True
    assert nested["context"]["correlation_id"] == "corr-9"
    assert nested["context"]["calling_service"] == "relay"
    assert nested["context"]["switches"] == [7]
    # The nested call's deadline comes from the job's (5 s from the call), less the nested-call margin.
    assert started < nested["deadline"] < started + 5


def test_a_middleware_with_only_a_coroutine_hook_is_refused_at_startup() -> None:
    """The one-job-at-a-time path would skip it silently: the error names it and the hook it lacks."""
    with pytest.raises(ValueError, match=r"CoroutineOnly defines async_action but not action"):
        make_server({}, middleware=[{"path": f"{__name__}:CoroutineOnly"}])


@pytest.mark.parametrize("value", [0, -1, 10001, "4"])
def test_concurrency_must_be_a_whole_number_from_1_to_10000(value: Any) -> None:
    """A bad ``concurrency`` fails at startup with a message naming the key."""
    with pytest.raises(ValueError, match="concurrency"):
        make_server({}, concurrency=value)


def test_concurrency_defaults_to_one_job_at_a_time() -> None:
    """Without the setting a server runs one job at a time (PySOA's worker)."""
    assert make_server({}).concurrency == 1
    assert make_server({}, concurrency=8).concurrency == 8


def test_django_servers_refuse_concurrency() -> None:
    """Django's connections are per thread and per job: ``use_django`` with concurrency > 1 is refused clearly."""
    server_class = type("DjangoServer", (Server,), {"service_name": "dj", "use_django": True})
    with pytest.raises(ValueError, match="set concurrency to 1 and scale with --fork"):
        server_class({"transport": {"path": "tests.unit.server._helpers:QueueServerTransport"}, "concurrency": 2})


def test_counting_timers_of_one_name_measure_independently() -> None:
    """Two overlapping measurements of one timer name each record their own duration."""
    recorder = CountingMetricsRecorder()
    outer = recorder.timer("server.job")
    inner = recorder.timer("server.job")
    outer.start()
    time.sleep(0.05)
    inner.start()
    inner.stop()
    outer.stop()
    inner_us, outer_us = recorder.get_values("timer", "server.job")
    assert outer_us >= 50_000 > inner_us
