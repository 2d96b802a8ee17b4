"""Client middleware: wrap how a client sends requests and receives responses.

A middleware's :meth:`~ClientMiddleware.request` hook receives the next callable in the send chain
and returns a callable with the same signature; :meth:`~ClientMiddleware.response` does the same for
the receive chain. The first middleware listed in the client settings is the outermost layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysoa_like.common.types import JobRequest, JobResponse

__all__ = ["ClientMiddleware", "GetResponseCallable", "SendRequestCallable"]

#: ``(request_id, meta, job_request, message_expiry_in_seconds) -> None``
SendRequestCallable = Callable[[int, dict[str, Any], JobRequest, "float | None"], None]
#: ``(receive_timeout_in_seconds) -> (request_id, job_response)``; both are ``None`` when nothing is waiting.
GetResponseCallable = Callable[["float | None"], "tuple[Any, JobResponse | None]"]


class ClientMiddleware:
    """The base class of client middleware; both hooks pass calls through unchanged.

    Subclass it and override either hook. A request hook may add keys to ``meta``: they travel on the
    wire, and servers echo them back in the reply meta.

    Example::

        class TraceMiddleware(ClientMiddleware):
            def request(self, send_request):
                def handler(request_id, meta, job_request, message_expiry_in_seconds):
                    meta["trace"] = "abc"
                    send_request(request_id, meta, job_request, message_expiry_in_seconds)

                return handler
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
