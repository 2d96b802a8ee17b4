"""An AsyncClient's middleware chains: each middleware's coroutine hooks, or its plain hooks adapted.

A middleware overriding :meth:`~pysoa_like.client.middleware.ClientMiddleware.async_request` (or
``async_response``) wraps the asyncio transport's I/O with it. One overriding only the plain hook is adapted:
its synchronous chain is built once around an innermost step that keeps the message (or gives the reply), and
the adapter awaits the next step with what that chain handed down (or runs the chain on the reply the next
step returned). No await comes between keeping and taking, so one slot per thread suffices (loops in several
threads may share a handler). Layers keep the order of the settings: the first listed is the outermost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from pysoa_like.client.errors import ImproperlyConfigured
from pysoa_like.client.middleware import (
    AsyncGetResponseCallable,
    AsyncSendRequestCallable,
    ClientMiddleware,
    GetResponseCallable,
    SendRequestCallable,
)
from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.common.types import JobRequest, JobResponse

__all__ = ["async_receive_chain", "async_send_chain", "check_plain_hooks"]

_Outgoing = tuple[int, dict[str, Any], JobRequest, "float | None"]


def _overrides(middleware: object, hook: str) -> bool:
    """Whether ``middleware`` has ``hook`` of its own (any middleware class, a ``ClientMiddleware`` or not)."""
    own = getattr(type(middleware), hook, None)
    return own is not None and own is not getattr(ClientMiddleware, hook)


def check_plain_hooks(middleware: object) -> None:
    """Refuse, for a ``Client``, a middleware with a coroutine hook but not its plain twin (it would do nothing).

    Raises:
        ImproperlyConfigured: Naming the middleware and the missing hook.
    """
    for plain, coroutine in (("request", "async_request"), ("response", "async_response")):
        if _overrides(middleware, coroutine) and not _overrides(middleware, plain):
            kind = type(middleware)
            raise ImproperlyConfigured(
                f"Client middleware {kind.__module__}.{kind.__qualname__} defines {coroutine} but not {plain}: a "
                f"Client calls {plain} (an AsyncClient {coroutine}), so define both (doing the same thing), or use "
                "it with an AsyncClient only"
            )


class _Slots(threading.local):
    outgoing: _Outgoing | None = None
    incoming: tuple[Any, JobResponse | None] = (None, None)


class _AdaptedSend:
    """A plain ``request`` hook in an AsyncClient's send chain."""

    __slots__ = ("_chain", "_next", "_slots")

    def __init__(self, middleware: Any, next_step: AsyncSendRequestCallable) -> None:
        self._slots = _Slots()
        self._next = next_step
        keep: SendRequestCallable = self._keep
        self._chain: SendRequestCallable = middleware.request(keep)

    def _keep(
        self, request_id: int, meta: dict[str, Any], job_request: JobRequest, expiry: float | None = None
    ) -> None:
        self._slots.outgoing = (request_id, meta, job_request, expiry)

    def _take(self) -> _Outgoing | None:
        slots = self._slots
        outgoing, slots.outgoing = slots.outgoing, None
        return outgoing

    async def __call__(
        self, request_id: int, meta: dict[str, Any], job_request: JobRequest, expiry: float | None
    ) -> None:
        self._slots.outgoing = None
        try:
            self._chain(request_id, meta, job_request, expiry)
        finally:
            outgoing = self._take()
        if outgoing is not None:  # None: the middleware sent nothing
            await self._next(*outgoing)


class _AdaptedReceive:
    """A plain ``response`` hook in an AsyncClient's receive chain, run on the reply the next step returned."""

    __slots__ = ("_chain", "_next", "_slots")

    def __init__(self, middleware: Any, next_step: AsyncGetResponseCallable) -> None:
        self._slots = _Slots()
        self._next = next_step
        give: GetResponseCallable = self._give
        self._chain: GetResponseCallable = middleware.response(give)

    def _give(self, receive_timeout_in_seconds: float | None = None) -> tuple[Any, JobResponse | None]:
        return self._slots.incoming

    async def __call__(
        self, request_id: int, receive_timeout_in_seconds: float | None
    ) -> tuple[Any, JobResponse | None]:
        received = await self._next(request_id, receive_timeout_in_seconds)
        slots = self._slots
        slots.incoming = received
        try:
            return self._chain(receive_timeout_in_seconds)
        finally:
            slots.incoming = (None, None)


def async_send_chain(middleware: Iterable[Any], innermost: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
    """The send chain of an AsyncClient's service: ``innermost`` (the transport's send) in the middleware."""
    wrappers: list[Any] = []
    for each in middleware:
        if _overrides(each, "async_request"):
            wrappers.append(each.async_request)
        elif _overrides(each, "request"):
            wrappers.append(lambda next_step, each=each: _AdaptedSend(each, next_step))
    return build_middleware_stack(wrappers, innermost)


def async_receive_chain(middleware: Iterable[Any], innermost: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
    """The receive chain of an AsyncClient's service: ``innermost`` (the transport's receive) in the middleware."""
    wrappers: list[Any] = []
    for each in middleware:
        if _overrides(each, "async_response"):
            wrappers.append(each.async_response)
        elif _overrides(each, "response"):
            wrappers.append(lambda next_step, each=each: _AdaptedReceive(each, next_step))
    return build_middleware_stack(wrappers, innermost)
