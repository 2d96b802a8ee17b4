"""Client middleware: wrap how a client sends requests and receives responses.

A middleware's :meth:`~ClientMiddleware.request` hook receives the next callable in the send chain
and returns a callable with the same signature; :meth:`~ClientMiddleware.response` does the same for
the receive chain. The first middleware listed in the client settings is the outermost layer.

An :class:`~pysoa_like.client.async_client.AsyncClient` uses a middleware's coroutine hooks
(:meth:`~ClientMiddleware.async_request`, :meth:`~ClientMiddleware.async_response`) when it overrides
them: they wrap the asyncio transport's send and receive as the plain hooks wrap ``Client``'s. A
middleware with only the plain hooks works there too: its chain runs around the message, the I/O
after its send chain has returned and before its receive chain runs (see ``docs/asyncio.rst``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pysoa_like.common.types import JobRequest, JobResponse

__all__ = [
    "AsyncGetResponseCallable",
    "AsyncSendRequestCallable",
    "ClientMiddleware",
    "GetResponseCallable",
    "SendRequestCallable",
]

#: ``(request_id, meta, job_request, message_expiry_in_seconds) -> None``
SendRequestCallable = Callable[[int, dict[str, Any], JobRequest, "float | None"], None]
#: ``(receive_timeout_in_seconds) -> (request_id, job_response)``; both are ``None`` when nothing is waiting.
GetResponseCallable = Callable[["float | None"], "tuple[Any, JobResponse | None]"]
#: ``async (request_id, meta, job_request, message_expiry_in_seconds) -> None``: an AsyncClient's send chain.
AsyncSendRequestCallable = Callable[[int, dict[str, Any], JobRequest, "float | None"], Awaitable[None]]
#: ``async (request_id, receive_timeout_in_seconds) -> (request_id, job_response)``: an AsyncClient's wait for
#: the reply to one request (a ``None`` response ends the call with ``MessageReceiveTimeout``).
AsyncGetResponseCallable = Callable[[int, "float | None"], Awaitable["tuple[Any, JobResponse | None]"]]


class ClientMiddleware:
    """The base class of client middleware; every hook passes calls through unchanged.

    Subclass it and override either hook. A request hook may add keys to ``meta``: they travel on the
    wire, and servers echo them back in the reply meta.

    Example::

        class TraceMiddleware(ClientMiddleware):
            def request(self, send_request):
                def handler(request_id, meta, job_request, message_expiry_in_seconds):
                    meta["trace"] = "abc"
                    send_request(request_id, meta, job_request, message_expiry_in_seconds)

                return handler

    For an ``AsyncClient``, override :meth:`async_request` and :meth:`async_response` too (doing the same
    thing as their plain twins, which a ``Client`` calls).
    """

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        """Wrap the send chain.

        Args:
            send_request: The next callable in the chain,
                ``(request_id, meta, job_request, message_expiry_in_seconds) -> None``.

        Returns:
            A callable with the same signature (by default ``send_request`` itself).
        """
        return send_request

    def response(self, get_response: GetResponseCallable) -> GetResponseCallable:
        """Wrap the receive chain.

        Args:
            get_response: The next callable in the chain,
                ``(receive_timeout_in_seconds) -> (request_id, JobResponse)``.

        Returns:
            A callable with the same signature (by default ``get_response`` itself).
        """
        return get_response

    def async_request(self, send_request: AsyncSendRequestCallable) -> AsyncSendRequestCallable:
        """Wrap an ``AsyncClient``'s send chain, whose innermost step is the asyncio transport's send.

        The example above, for an ``AsyncClient``::

            def async_request(self, send_request):
                async def handler(request_id, meta, job_request, message_expiry_in_seconds):
                    meta["trace"] = "abc"
                    await send_request(request_id, meta, job_request, message_expiry_in_seconds)

                return handler

        Args:
            send_request: The next coroutine function in the chain,
                ``(request_id, meta, job_request, message_expiry_in_seconds) -> None``.

        Returns:
            A coroutine function with the same signature (by default ``send_request`` itself).
        """
        return send_request

    def async_response(self, get_response: AsyncGetResponseCallable) -> AsyncGetResponseCallable:
        """Wrap an ``AsyncClient``'s wait for one reply, whose innermost step is the asyncio transport's receive.

        Each call awaits its own reply, so the handler is given the request id it waits for; what the inner
        step raises (``MessageReceiveTimeout``, a transport error, ``asyncio.CancelledError``) concerns that
        call alone.

        Args:
            get_response: The next coroutine function in the chain,
                ``(request_id, receive_timeout_in_seconds) -> (request_id, JobResponse)``.

        Returns:
            A coroutine function with the same signature (by default ``get_response`` itself).
        """
        return get_response
