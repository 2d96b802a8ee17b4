"""AsyncClient middleware over the local transport: coroutine hooks around the transport's I/O, plain hooks adapted,
their order, errors raised in hooks, and what a hook sees of its call (chained context, the caller's task)."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Coroutine
from typing import Any, ClassVar, TypeVar

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.async_middleware_probes import EVENTS, ORDER_OF_OUTER_PLAIN_INNER, SlowSend

_T = TypeVar("_T")

PROBES = "tests.async_middleware_probes"
LOCAL_TRANSPORT = "pysoa_like.common.transport.local:LocalClientTransport"


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"body": request.body, "marks": request.context.get("marks", [])}


class Sleep(Action):
    def run(self, request: Any) -> dict[str, Any]:
        time.sleep(request.body["seconds"])
        return {"slept": True}


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {"echo": Echo, "sleep": Sleep}


def _local(server_class: type[Server], server_settings: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"path": LOCAL_TRANSPORT, "kwargs": {"server_class": server_class, "server_settings": server_settings or {}}}


def _client(*middleware: str, **settings: Any) -> AsyncClient:
    paths = [{"path": name if ":" in name else f"{__name__}:{name}"} for name in middleware]
    return AsyncClient({"echo": {"transport": _local(EchoServer), "middleware": paths, **settings}})


def test_middleware_run_in_the_order_listed_coroutine_hooks_around_the_io_and_plain_hooks_adapted() -> None:
    """The first listed is outermost; coroutine hooks wrap the I/O, a plain chain runs before the send's I/O and
    after the reply has arrived."""
    EVENTS.clear()

    async def call() -> ActionResponse:
        async with _client(*(f"{PROBES}:{name}" for name in ("Outer", "Plain", "Inner"))) as client:
            return await client.call_action("echo", "echo", {"n": 1})

    response = run(call())
    assert response.body == {"body": {"n": 1}, "marks": ["outer", "plain", "inner"]}
    assert EVENTS == ORDER_OF_OUTER_PLAIN_INNER


def test_a_middleware_that_awaits_does_not_hold_up_other_calls() -> None:
    """While one call's hook awaits, the client's other calls are sent and answered."""
    SlowSend.log.clear()

    async def calls() -> None:
        async with _client(f"{PROBES}:SlowSend") as client:

            async def fast(n: int) -> None:
                await client.call_action("echo", "echo", {"n": n})
                SlowSend.log.append(f"fast {n}")

            await asyncio.gather(client.call_action("echo", "echo", {"slow": True}), *(fast(n) for n in range(5)))

    run(calls())
    assert sorted(SlowSend.log[:5]) == [f"fast {n}" for n in range(5)]
    assert SlowSend.log[5:] == ["slow sent"]


class CatchTimeout(ClientMiddleware):
    """Answers for the service when the transport's wait for the reply times out (it wraps the receive's I/O)."""

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        return get_response

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        async def handler(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
            try:
                return await get_response(request_id, timeout)
            except MessageReceiveTimeout:
                return request_id, JobResponse(actions=[ActionResponse(action="sleep", body={"from": "middleware"})])

        return handler


def test_a_coroutine_receive_hook_sees_the_transports_timeout_of_its_own_call() -> None:
    """The transport's MessageReceiveTimeout reaches the hook around the receive, which may answer instead."""

    async def call() -> ActionResponse:
        async with _client("CatchTimeout") as client:
            return await client.call_action("echo", "sleep", {"seconds": 0.5}, timeout=0.1)

    assert run(call()).body == {"from": "middleware"}


class _Told(ClientMiddleware):
    """Notes the calls it is told ended without their reply."""

    told: ClassVar[list[str]] = []

    def no_reply(self, request_id: Any, exception: BaseException) -> None:
        _Told.told.append(type(exception).__name__)


def _refuses(job_or_response: Any, where: str) -> bool:
    body = job_or_response.actions[0].body
    return bool((body.get("body") or body).get("fail") == where) if isinstance(body, dict) else False


class Refusing(_Told):
    """Coroutine hooks raising in the send or in the receive chain, as the job's body asks."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        return send_request

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        return get_response

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            await asyncio.sleep(0)
            if _refuses(job, "send"):
                raise ValueError("refused before sending")
            await send_request(request_id, meta, job, expiry)

        return handler

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        async def handler(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
            received_id, response = await get_response(request_id, timeout)
            if _refuses(response, "receive"):
                raise ValueError("refused the reply")
            return received_id, response

        return handler


class PlainRefusing(_Told):
    """Plain hooks only, raising in the send or in the receive chain as the job's body asks."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            if _refuses(job, "send"):
                raise ValueError("refused by the plain send hook")
            send_request(request_id, meta, job, expiry)

        return handler

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        def handler(timeout: float | None) -> tuple[Any, JobResponse | None]:
            received_id, response = get_response(timeout)
            if _refuses(response, "receive"):
                raise ValueError("refused by the plain receive hook")
            return received_id, response

        return handler


@pytest.mark.parametrize("middleware", ["Refusing", "PlainRefusing"])
@pytest.mark.parametrize("where", ["send", "receive"])
def test_an_exception_raised_in_a_hook_ends_that_call_alone_counted_and_told_to_no_reply(
    middleware: str, where: str
) -> None:
    """A hook's exception is its call's; the call is counted as an error and ``no_reply`` hears of it; the
    client's other and later calls are answered."""
    _Told.told.clear()
    metrics = {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"}

    async def calls() -> tuple[list[Any], CountingMetricsRecorder]:
        async with _client(middleware, metrics=metrics) as client:
            outcomes = await asyncio.gather(
                client.call_action("echo", "echo", {"fail": where}),
                *(client.call_action("echo", "echo", {"n": n}) for n in range(3)),
                return_exceptions=True,
            )
            later = await client.call_action("echo", "echo", {"n": 9})
            recorder = client.handlers["echo"].metrics
            assert isinstance(recorder, CountingMetricsRecorder)
            return [*outcomes, later], recorder

    (failed, *answered), recorder = run(calls())
    assert isinstance(failed, ValueError) and "refused" in str(failed)
    assert [response.body["body"] for response in answered] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 9}]
    assert recorder.get_count("client.call.error") == 1
    assert _Told.told == ["ValueError"]


request_origin: contextvars.ContextVar[str] = contextvars.ContextVar("request_origin", default="none")


class SeesItsCall(ClientMiddleware):
    """Notes what a coroutine hook sees of its call: the job's context and the calling task's context variables."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        return send_request

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            SeesItsCall.seen.append({**job.context, "origin": request_origin.get()})
            await send_request(request_id, meta, job, expiry)

        return handler


class ContextEcho(Action):
    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"correlation_id": request.context["correlation_id"]}


class Relay(Action):
    """Calls ``echo.context`` through ``request.async_client`` with a context variable set in its task."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        request_origin.set("relay action")
        response = await request.async_client.call_action("echo", "context", {})
        return dict(response.body)


def test_a_coroutine_hook_of_request_async_client_sees_the_chained_context_in_the_actions_task() -> None:
    """Inside a coroutine action, the nested call's hook sees the job's correlation id and switches, the calling
    service, and the context variables of the action's task."""
    SeesItsCall.seen.clear()
    echo_class = type("EchoContext", (Server,), {"service_name": "echo", "action_class_map": {"context": ContextEcho}})
    echo = {"transport": _local(echo_class), "middleware": [{"path": f"{__name__}:SeesItsCall"}]}
    relay_class = type("RelayServer", (Server,), {"service_name": "relay", "action_class_map": {"relay": Relay}})
    client = Client({"relay": {"transport": _local(relay_class, {"client_routing": {"echo": echo}})}})
    response = client.call_action("relay", "relay", {}, timeout=5, correlation_id="corr-3", switches=[4])
    assert response.body == {"correlation_id": "corr-3"}
    (seen,) = SeesItsCall.seen
    assert (seen["correlation_id"], seen["switches"], seen["calling_service"]) == ("corr-3", [4], "relay")
    assert seen["origin"] == "relay action"


class CoroutineOnly(ClientMiddleware):
    """A coroutine send hook without its plain twin."""

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        return send_request


def test_a_coroutine_only_middleware_is_refused_by_client_and_used_by_asyncclient() -> None:
    """A Client would skip the middleware silently: it refuses it, naming the hook; an AsyncClient runs it."""
    settings = {"echo": {"transport": _local(EchoServer), "middleware": [{"path": f"{__name__}:CoroutineOnly"}]}}
    with pytest.raises(ImproperlyConfigured, match="CoroutineOnly defines async_request but not request"):
        Client(settings).call_action("echo", "echo", {})

    async def call() -> ActionResponse:
        async with AsyncClient(settings) as client:
            return await client.call_action("echo", "echo", {"n": 2})

    assert run(call()).body["body"] == {"n": 2}
