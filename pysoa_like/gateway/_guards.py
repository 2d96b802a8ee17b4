"""The gateway's guards before any route: allowed host names and CORS preflights, answered in JSON.

Starlette's own middleware answer their refusals in plain text; the gateway's answers are all JSON
(``docs/gateway.rst``), with the header at fault as the error's ``field``.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pysoa_like.gateway._answers import JSONAnswer, problem_answer
from pysoa_like.gateway._headers import GatewayProblem, correlation_id_of

__all__ = ["AllowedHosts", "JSONCORSMiddleware"]

# Starlette's names of what a preflight asked that is not allowed -> the request header that asked it.
_PREFLIGHT_FIELDS = {
    "origin": "Origin",
    "method": "Access-Control-Request-Method",
    "headers": "Access-Control-Request-Headers",
    "private-network": "Access-Control-Request-Private-Network",
}


def host_name(header: str) -> str:
    """The host name of a ``Host`` header, in lower case, without the port (``[::1]:8080`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else ""
    name, colon, port = header.rpartition(":")
    return name if colon and port.isdigit() else header


class AllowedHosts:
    """Answer only requests whose ``Host`` names an allowed host; others get a JSON 400 on the field ``Host``.

    Args:
        app: The application behind.
        allowed_hosts: Names (``api.example.com``), wildcards of subdomains (``*.example.com``) or ``*``, as
            checked by :func:`pysoa_like._asgi.check_allowed_hosts`.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.names = frozenset(host.lower().strip("[]") for host in allowed_hosts if not host.startswith("*"))
        self.suffixes = tuple(host.lower()[1:] for host in allowed_hosts if host.startswith("*."))
        self.any = "*" in allowed_hosts

    def allows(self, header: str) -> bool:
        """Whether a request with this ``Host`` header is answered."""
        if self.any:
            return True
        name = host_name(header)
        return bool(name) and (name in self.names or name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            if not self.allows(headers.get("host", "")):
                problem = GatewayProblem(400, "BAD_REQUEST", "This gateway does not answer to that host name", "Host")
                await problem_answer(problem, correlation_id_of(headers))(scope, receive, send)
                return
        await self.app(scope, receive, send)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, its preflight answers in JSON: ``{"ok": true}``, or a 400 naming the request
    header that asked for what is not allowed."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        headers = {key: value for key, value in answer.headers.items() if key not in ("content-length", "content-type")}
        if answer.status_code == 200:
            return JSONAnswer({"ok": True}, headers={**headers, "X-Request-ID": correlation_id_of(request_headers)})
        message = bytes(answer.body).decode("utf-8", "replace")
        first = message.removeprefix("Disallowed CORS ").split(",")[0].strip()
        problem = GatewayProblem(answer.status_code, "BAD_REQUEST", message, _PREFLIGHT_FIELDS.get(first), headers)
        return problem_answer(problem, correlation_id_of(request_headers))
