"""AsyncClient middleware over a real Redis with the asyncio driver: coroutine hooks around the driver's send and
receive (its errors and timeouts reach them), several middleware in order, a hook that awaits holding up no other
call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageTooLarge
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from tests.async_middleware_probes import EVENTS, ORDER_OF_OUTER_PLAIN_INNER, SlowSend

_T = TypeVar("_T")

PROBES = "tests.async_middleware_probes"
_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


class Marks(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"marks": request.context.get("marks", []), "n": request.body.get("n")}


class MarksServer(Server):
    service_name = "marks"
    action_class_map = {"marks": Marks}


@pytest.fixture
def kwargs(redis_url: str) -> dict[str, Any]:
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}


@contextmanager
def serving(transport_kwargs: dict[str, Any]) -> Iterator[None]:
    """The marks service over Redis in a thread, stopped at the end."""
    server = MarksServer(
        {"transport": {"path": _SERVER_TRANSPORT, "kwargs": {**transport_kwargs, "receive_timeout_in_seconds": 0.2}}}
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutting_down = True
        thread.join(10)


def client_of(transport_kwargs: dict[str, Any], *middleware: str, service: str = "marks") -> AsyncClient:
    return AsyncClient(
        {
            service: {
                "transport": {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs},
                "middleware": [{"path": name if ":" in name else f"{__name__}:{name}"} for name in middleware],
            }
        }
    )


class Watch(ClientMiddleware):
    """Coroutine hooks noting what the driver's send and receive raised, and marking each job on its way out."""

    name: ClassVar[str] = "watch"
    seen: ClassVar[list[tuple[str, str]]] = []

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        return send_request

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        return get_response

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            job.context.setdefault("marks", []).append(self.name)
            try:
                await send_request(request_id, meta, job, expiry)
            except Exception as exc:
                Watch.seen.append((self.name, f"send raised {type(exc).__name__}"))
                raise
            Watch.seen.append((self.name, "sent"))

        return handler

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        async def handler(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
            try:
                answer = await get_response(request_id, timeout)
            except Exception as exc:
                Watch.seen.append((self.name, f"receive raised {type(exc).__name__}"))
                raise
            Watch.seen.append((self.name, "received"))
            return answer

        return handler


class WatchFirst(Watch):
    name = "first"


def test_several_middleware_wrap_the_drivers_io_in_the_order_listed(kwargs: dict[str, Any]) -> None:
    """Over Redis the first listed is outermost; coroutine hooks wrap the driver's I/O, a plain chain runs before
    the send and after the reply has come."""
    EVENTS.clear()

    async def call() -> ActionResponse:
        async with client_of(kwargs, *(f"{PROBES}:{name}" for name in ("Outer", "Plain", "Inner"))) as client:
            return await client.call_action("marks", "marks", {"n": 1}, timeout=10)

    with serving(kwargs):
        response = run(call())
    assert response.body == {"marks": ["outer", "plain", "inner"], "n": 1}
    assert EVENTS == ORDER_OF_OUTER_PLAIN_INNER


def test_the_drivers_send_error_and_receive_timeout_reach_the_coroutine_hooks(kwargs: dict[str, Any]) -> None:
    """A message over the size limit fails the driver's send inside the send hook; a service with no worker times
    out inside the receive hook; each hook sees its own call's error."""
    Watch.seen.clear()
    small = {**kwargs, "maximum_message_size_in_bytes": 2000}

    async def calls() -> None:
        async with client_of(small, "WatchFirst", service="nobody") as client:
            with pytest.raises(MessageTooLarge):
                await client.call_action("nobody", "marks", {"blob": "x" * 5000}, timeout=5)
            with pytest.raises(MessageReceiveTimeout):
                await client.call_action("nobody", "marks", {"n": 2}, timeout=0.3)

    run(calls())
    assert Watch.seen == [
        ("first", "send raised MessageTooLarge"),
        ("first", "sent"),
        ("first", "receive raised MessageReceiveTimeout"),
    ]


def test_a_hook_that_awaits_holds_up_no_other_call(kwargs: dict[str, Any]) -> None:
    """While one call's send hook awaits, the client's other calls go to Redis and come back."""
    SlowSend.log.clear()

    async def calls() -> None:
        async with client_of(kwargs, f"{PROBES}:SlowSend") as client:

            async def fast(n: int) -> None:
                await client.call_action("marks", "marks", {"n": n}, timeout=10)
                SlowSend.log.append(f"fast {n}")

            await asyncio.gather(
                client.call_action("marks", "marks", {"slow": True}, timeout=10), *(fast(n) for n in range(5))
            )

    with serving(kwargs):
        run(calls())
    assert sorted(SlowSend.log[:5]) == [f"fast {n}" for n in range(5)]
    assert SlowSend.log[5:] == ["slow sent"]
