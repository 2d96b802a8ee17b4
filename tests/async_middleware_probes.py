"""Client middleware that note what they see, for the AsyncClient middleware tests over each transport, and one
that holds each request on its way (``HeldSend``), for the deadline tests of both clients."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common.types import JobResponse

# What the ordering middleware saw, in order: (middleware, step).
EVENTS: list[tuple[str, str]] = []


class _Coroutine(ClientMiddleware):
    """Coroutine hooks noting each step (also in the job's context, so the server shows the send order)."""

    name: ClassVar[str]

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            EVENTS.append((self.name, "send in"))
            job.context.setdefault("marks", []).append(self.name)
            await send_request(request_id, meta, job, expiry)
            EVENTS.append((self.name, "send out"))

        return handler

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        async def handler(request_id: int, timeout: float | None) -> tuple[Any, JobResponse | None]:
            EVENTS.append((self.name, "receive in"))
            answer = await get_response(request_id, timeout)
            EVENTS.append((self.name, "receive out"))
            return answer

        return handler


class Outer(_Coroutine):
    name = "outer"


class Inner(_Coroutine):
    name = "inner"


class Plain(ClientMiddleware):
    """Plain hooks only (as written for a Client): adapted on an AsyncClient."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            EVENTS.append(("plain", "send in"))
            job.context.setdefault("marks", []).append("plain")
            send_request(request_id, meta, job, expiry)
            EVENTS.append(("plain", "send out"))

        return handler

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        def handler(timeout: float | None) -> tuple[Any, JobResponse | None]:
            EVENTS.append(("plain", "receive in"))
            answer = get_response(timeout)
            EVENTS.append(("plain", "receive out"))
            return answer

        return handler


#: What ``Outer``, ``Plain`` and ``Inner`` (listed in that order) see of one call.
ORDER_OF_OUTER_PLAIN_INNER = [
    ("outer", "send in"),
    ("plain", "send in"),
    ("plain", "send out"),
    ("inner", "send in"),
    ("inner", "send out"),
    ("outer", "send out"),
    ("outer", "receive in"),
    ("inner", "receive in"),
    ("inner", "receive out"),
    ("plain", "receive in"),
    ("plain", "receive out"),
    ("outer", "receive out"),
]


class SlowSend(ClientMiddleware):
    """Awaits before sending a job whose body asks for it; notes when that wait ended."""

    log: ClassVar[list[str]] = []

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        return send_request  # a Client would send at once

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            if job.actions[0].body.get("slow"):
                await asyncio.sleep(0.5)
                SlowSend.log.append("slow sent")
            await send_request(request_id, meta, job, expiry)

        return handler


#: How long :class:`HeldSend` holds each request before passing it on.
HOLD_SECONDS = 0.2


class HeldSend(ClientMiddleware):
    """Holds each request ``HOLD_SECONDS`` on its way to the transport (a slow middleware, a loaded machine), in a
    ``Client`` (blocking) and in an ``AsyncClient`` (awaiting)."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            time.sleep(HOLD_SECONDS)
            send_request(request_id, meta, job, expiry)

        return handler

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        async def handler(request_id: int, meta: dict[str, Any], job: Any, expiry: float | None) -> None:
            await asyncio.sleep(HOLD_SECONDS)
            await send_request(request_id, meta, job, expiry)

        return handler
