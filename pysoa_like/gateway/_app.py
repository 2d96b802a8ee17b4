"""The gateway's ASGI application (Starlette): the call routes, the OpenAPI document, the docs page, health."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.common.errors import Error
from pysoa_like.common.serializer.errors import InvalidField
from pysoa_like.common.types import JobResponse
from pysoa_like.gateway._answers import API_HEADERS, JSONAnswer, problem_answer
from pysoa_like.gateway._guards import AllowedHosts, JSONCORSMiddleware
from pysoa_like.gateway._headers import CallHeaders, GatewayProblem, correlation_id_of, read_call_headers
from pysoa_like.gateway.encoding import EncodingError, from_json_value, to_json_value
from pysoa_like.gateway.openapi import build_document
from pysoa_like.gateway.settings import GatewaySettings
from pysoa_like.gateway.status import Outcome, exception_outcome, job_outcome

__all__ = ["create_app"]

_logger = logging.getLogger("pysoa_like.gateway")

_ASSETS = {"docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "X-Timeout",
    "X-Switches",
    "traceparent",
    "tracestate",
]
# A document built while a service did not describe itself is rebuilt this soon.
_RETRY_DESCRIBE_SECONDS = 5.0
_JOB_KEYS = frozenset({"actions", "continue_on_error"})
# The path an InvalidField message starts with for a value of an action's body: "body.actions.<i>.body[.<path>]: ".
_UNSENDABLE_PATH = re.compile(r"^body\.actions\.(\d+)\.body(?:\.(.*?))?: (.*)$", re.DOTALL)


def _asset(name: str) -> bytes:
    return resources.files("pysoa_like.gateway").joinpath("static").joinpath(name).read_bytes()


def _error_dict(error: Error) -> dict[str, Any]:
    """An error for an HTTP caller: never the traceback or variables of a server error."""
    result: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "field": error.field or None,
        "is_caller_error": error.is_caller_error,
    }
    if error.denied_permissions:
        result["denied_permissions"] = list(error.denied_permissions)
    return result


def _unsendable(exc: InvalidField, single: bool) -> GatewayProblem:
    """The caller's 400 for a request body the transport's serializer cannot encode (an integer out of MessagePack's
    range, say): the job holds nothing else from the caller. The field is the path in the body (``single``: the
    request body is the action's), else ``actions.<i>.body.<path>``."""
    match = _UNSENDABLE_PATH.match(str(exc))
    if match is None:
        return GatewayProblem(400, "BAD_REQUEST", f"The request cannot be sent to the service: {exc}")
    index, path, reason = match.groups()
    field = (path or None) if single else f"actions.{index}.body" + (f".{path}" if path else "")
    return GatewayProblem(400, "BAD_REQUEST", f"The request cannot be sent to the service: {reason}", field)


def _reject_constant(name: str) -> Any:
    raise EncodingError(f'{name} is not JSON: send {{"$float": "{name}"}}')


class _Gateway:
    """What the routes share: the settings, the client, the concurrency bound and the cached document.

    The client is an :class:`~pysoa_like.client.async_client.AsyncClient`: its calls are coroutines of the
    gateway's event loop (no thread per call; replies routed by request id, so any number of calls share its
    connections).
    """

    def __init__(self, settings: GatewaySettings, client: AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self.places = asyncio.Semaphore(settings.max_concurrent_calls)
        # Calls admitted (waiting for a place, or in flight); see admit().
        self.admitted = 0
        self._admissible = settings.max_concurrent_calls + settings.max_waiting_calls
        self._document: dict[str, Any] | None = None
        self._document_expires = 0.0
        self._document_lock = asyncio.Lock()
        # Builds of the document begun, and which of them built the document at hand (openapi_refresh_seconds 0).
        self._builds_begun = 0
        self._document_build = 0
        self._rebuilding: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Count a call from when its body is read until it is answered; refuse it (503 ``GATEWAY_BUSY``) at once
        when ``max_concurrent_calls + max_waiting_calls`` are already counted, so the bodies held stay bounded.

        Counted after the body is read, not before: slow uploads then hold no place a caller could be refused for.
        """
        if self.admitted >= self._admissible:
            raise GatewayProblem(
                503,
                "GATEWAY_BUSY",
                "The gateway has too many calls in flight and waiting; try again shortly",
                headers={"Retry-After": "1"},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def read_body(self, request: Request, timeout: float) -> Any:
        """The request's JSON body, decoded (``{}`` when empty), received within ``timeout`` seconds."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise GatewayProblem(413, "BODY_TOO_LARGE", f"The request body may be at most {limit} bytes")
        try:
            raw = await asyncio.wait_for(self._receive(request, limit), timeout)
        except asyncio.TimeoutError:
            # The connection is closed after it (RFC 9110): what is still arriving of the body is not read.
            raise GatewayProblem(
                408,
                "REQUEST_TIMEOUT",
                f"The request body did not arrive within the call's {timeout:g} s",
                headers={"Connection": "close"},
            ) from None
        if not raw.strip():
            return {}
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise GatewayProblem(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send the body as JSON (Content-Type: application/json), not {media_type or 'untyped'}",
            )
        try:
            parsed = json.loads(raw, parse_constant=_reject_constant)
        except EncodingError as exc:
            raise GatewayProblem(400, "BAD_REQUEST", str(exc)) from None
        except (ValueError, RecursionError) as exc:
            raise GatewayProblem(400, "BAD_REQUEST", f"The body is not valid JSON: {exc}") from None
        try:
            return from_json_value(parsed)
        except EncodingError as exc:
            raise GatewayProblem(400, "BAD_REQUEST", exc.reason, exc.path or None) from None
        except RecursionError:
            raise GatewayProblem(400, "BAD_REQUEST", "The body is nested too deeply") from None

    @staticmethod
    async def _receive(request: Request, limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise GatewayProblem(413, "BODY_TOO_LARGE", f"The request body may be at most {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def run(
        self,
        service: str,
        actions: list[dict[str, Any]],
        headers: CallHeaders,
        continue_on_error: bool,
        started: float | None = None,
    ) -> JobResponse:
        """Run the job within the call's deadline, from ``started`` (``time.monotonic()``; default now: receiving
        the body and waiting for a place count too); its response, job and action errors included (transport
        failures and timeouts are raised)."""
        started = time.monotonic() if started is None else started
        try:
            await asyncio.wait_for(self.places.acquire(), max(headers.timeout - (time.monotonic() - started), 0.001))
        except asyncio.TimeoutError:
            raise GatewayProblem(
                503,
                "GATEWAY_BUSY",
                "The gateway has too many calls in flight; try again shortly",
                headers={"Retry-After": "1"},
            ) from None
        try:
            left = max(headers.timeout - (time.monotonic() - started), 0.001)
            response: JobResponse = await self.client.call_actions(
                service,
                actions,
                raise_job_errors=False,
                raise_action_errors=False,
                continue_on_error=continue_on_error,
                timeout=left,
                switches=headers.switches,
                correlation_id=headers.correlation_id,
                context=dict(headers.context),
            )
            return response
        finally:
            self.places.release()

    async def document(self) -> dict[str, Any]:
        """The OpenAPI document. The first request waits for it; once there is one, it is answered at once, and
        when it is older than ``openapi_refresh_seconds`` one task builds the next in the background (a service
        that does not answer would otherwise hold every request for its timeout, each time).

        With ``openapi_refresh_seconds`` 0 the document is kept for no time: each request waits for one whose build
        began after it arrived. Requests that arrive during a build share the next one, so however many wait, each
        waits for two builds at most (one build per request would queue them without bound).
        """
        if self.settings.openapi_refresh_seconds == 0:
            begun_before = self._builds_begun
            async with self._document_lock:
                if self._document is None or self._document_build <= begun_before:
                    self._builds_begun += 1
                    build = self._builds_begun
                    await self._build_document()
                    self._document_build = build
        elif self._document is None:
            async with self._document_lock:
                if self._document is None:
                    await self._build_document()
        elif time.monotonic() >= self._document_expires and self._rebuilding is None:
            self._rebuilding = asyncio.create_task(self._rebuild_document())
        assert self._document is not None
        return self._document

    async def _rebuild_document(self) -> None:
        try:
            async with self._document_lock:
                await self._build_document()
        except Exception:
            _logger.exception("Rebuilding the OpenAPI document failed; the previous one is kept")
            self._document_expires = time.monotonic() + _RETRY_DESCRIBE_SECONDS
        finally:
            self._rebuilding = None

    async def _build_document(self) -> None:
        services = sorted(self.settings.expose)
        answers = await asyncio.gather(*(self._introspect(service) for service in services))
        introspections = dict(zip(services, answers, strict=True))
        self._document = build_document(
            self.settings.title, self.settings.version, self.settings.expose, introspections
        )
        failed = any(isinstance(answer, str) for answer in answers)
        keep = (
            min(self.settings.openapi_refresh_seconds, _RETRY_DESCRIBE_SECONDS)
            if failed
            else self.settings.openapi_refresh_seconds
        )
        self._document_expires = time.monotonic() + keep

    async def aclose(self) -> None:
        """Stop a rebuild of the document in progress, and close the client."""
        rebuilding = self._rebuilding
        if rebuilding is not None:
            rebuilding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rebuilding
        await self.client.aclose()

    async def _introspect(self, service: str) -> Mapping[str, Any] | str:
        headers = CallHeaders(
            correlation_id=f"gateway-openapi-{service}", switches=[], timeout=self.settings.timeout, context={}
        )
        try:
            response = await self.run(service, [{"action": "introspect", "body": {}}], headers, False)
        except Exception as exc:
            _logger.warning("Service %s did not describe itself for the OpenAPI document: %s", service, exc)
            return f"{type(exc).__name__}: {exc}"
        errors = response.errors or (response.actions[0].errors if response.actions else [])
        if errors or not response.actions:
            reason = "; ".join(f"{error.code}: {error.message}" for error in errors) or "no answer"
            _logger.warning("Service %s did not describe itself for the OpenAPI document: %s", service, reason)
            return reason
        body: Mapping[str, Any] = response.actions[0].body
        return body


def _answer(outcome: Outcome, content: Any, correlation_id: str) -> JSONAnswer:
    headers = {**API_HEADERS, "X-Request-ID": correlation_id}
    if outcome.retry_after is not None:
        headers["Retry-After"] = str(outcome.retry_after)
    if outcome.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONAnswer(content, status_code=outcome.status, headers=headers)


def _exception_answer(exc: Exception, service: str, correlation_id: str) -> JSONAnswer:
    outcome = exception_outcome(exc)
    if outcome.code == "GATEWAY_ERROR":
        _logger.error("Call to %s failed in the gateway", service, exc_info=exc)
    error = {"code": outcome.code, "message": outcome.message, "field": None, "is_caller_error": outcome.status < 500}
    return _answer(outcome, {"errors": [error], "correlation_id": correlation_id}, correlation_id)


class _NoAnswer(Response):
    """The answer to a client that is gone: nothing is sent (ASGI servers end such a request quietly)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


def _client_gone(request: Request, correlation_id: str) -> Response:
    """A client disconnected while sending its body: nothing was called and no one is left to answer, so one
    quiet line (no error, no traceback: a closed tab or a dropped mobile connection is not the gateway's fault)."""
    _logger.info(
        "The client disconnected before sending all its body of POST %s (correlation id %s); nothing was called",
        request.url.path,
        correlation_id,
    )
    return _NoAnswer()


def _not_exposed(service: str, action: str) -> GatewayProblem:
    return GatewayProblem(
        404, "NOT_FOUND", f'This gateway exposes no action "{action}" of service "{service}"', "action"
    )


def create_app(
    client_settings: Mapping[str, Any],
    settings: GatewaySettings | Mapping[str, Any],
) -> Starlette:
    """Build the gateway for the services ``client_settings`` reaches, exposing what ``settings`` allows.

    Args:
        client_settings: Service name -> client settings (``SOA_CLIENT_SETTINGS``); every exposed service
            needs an entry.
        settings: A :class:`~pysoa_like.gateway.GatewaySettings`, or the dict of one (``GATEWAY_SETTINGS``).

    Returns:
        The ASGI application. Routes: ``POST /{service}/{action}``, ``POST /{service}`` (a job),
        ``GET /openapi.json``, ``GET /docs`` (and its assets), ``GET /healthz``.

    Raises:
        ValueError: Bad settings, or an exposed service without client settings.
        SettingsError: The client settings of a service are invalid.
    """
    if not isinstance(settings, GatewaySettings):
        settings = GatewaySettings.from_mapping(settings)
    missing = sorted(service for service in settings.expose if service not in client_settings)
    if missing:
        raise ValueError(
            f"no client settings for the exposed service(s) {', '.join(missing)}: add them to SOA_CLIENT_SETTINGS"
        )
    gateway = _Gateway(settings, AsyncClient({name: client_settings[name] for name in settings.expose}))
    page = _asset("docs.html").decode("utf-8").replace("{{title}}", _html_escape(settings.title))

    async def call_action(request: Request) -> Response:
        service, action = request.path_params["service"], request.path_params["action"]
        if not settings.exposes(service, action):
            raise _not_exposed(service, action)
        headers = read_call_headers(request.headers, settings.timeout, settings.max_timeout)
        started = time.monotonic()
        try:
            body = await gateway.read_body(request, headers.timeout)
            if not isinstance(body, dict):
                raise GatewayProblem(400, "BAD_REQUEST", "The body must be a JSON object (the action's request body)")
            with gateway.admit():
                response = await gateway.run(service, [{"action": action, "body": body}], headers, False, started)
        except GatewayProblem as problem:
            return problem_answer(problem, headers.correlation_id)
        except InvalidField as exc:
            return problem_answer(_unsendable(exc, single=True), headers.correlation_id)
        except ClientDisconnect:
            return _client_gone(request, headers.correlation_id)
        except Exception as exc:
            return _exception_answer(exc, service, headers.correlation_id)
        outcome = job_outcome(response)
        if outcome.status != 200:
            errors = response.errors or next((a.errors for a in response.actions if a.errors), [])
            content: Any = {"errors": [_error_dict(e) for e in errors], "correlation_id": headers.correlation_id}
            return _answer(outcome, content, headers.correlation_id)
        try:
            content = to_json_value(response.actions[0].body)
        except EncodingError as exc:
            _logger.error("The response of %s.%s cannot be sent as JSON: %s", service, action, exc)
            return problem_answer(GatewayProblem(500, "RESPONSE_NOT_ENCODABLE", str(exc)), headers.correlation_id)
        return _answer(outcome, content, headers.correlation_id)

    async def call_job(request: Request) -> Response:
        service = request.path_params["service"]
        if service not in settings.expose:
            raise GatewayProblem(404, "NOT_FOUND", f'This gateway exposes no service "{service}"')
        headers = read_call_headers(request.headers, settings.timeout, settings.max_timeout)
        started = time.monotonic()
        try:
            job = await gateway.read_body(request, headers.timeout)
            actions, continue_on_error = _read_job(service, job, settings)
            with gateway.admit():
                response = await gateway.run(service, actions, headers, continue_on_error, started)
        except GatewayProblem as problem:
            return problem_answer(problem, headers.correlation_id)
        except InvalidField as exc:
            return problem_answer(_unsendable(exc, single=False), headers.correlation_id)
        except ClientDisconnect:
            return _client_gone(request, headers.correlation_id)
        except Exception as exc:
            return _exception_answer(exc, service, headers.correlation_id)
        try:
            content = {
                "correlation_id": headers.correlation_id,
                "errors": [_error_dict(e) for e in response.errors],
                "actions": [
                    {"action": a.action, "body": to_json_value(a.body), "errors": [_error_dict(e) for e in a.errors]}
                    for a in response.actions
                ],
            }
        except EncodingError as exc:
            _logger.error("A response of service %s cannot be sent as JSON: %s", service, exc)
            return problem_answer(GatewayProblem(500, "RESPONSE_NOT_ENCODABLE", str(exc)), headers.correlation_id)
        return _answer(job_outcome(response), content, headers.correlation_id)

    async def openapi(request: Request) -> Response:
        return JSONAnswer(await gateway.document(), headers={"Cache-Control": "no-cache"})

    async def docs(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            raise GatewayProblem(404, "NOT_FOUND", f"No asset {name!r}")
        return Response(_asset(name), media_type=_ASSETS[name], headers=_PAGE_HEADERS)

    async def health(request: Request) -> Response:
        return JSONAnswer({"ok": True, "services": sorted(settings.expose)}, headers=API_HEADERS)

    async def home(request: Request) -> Response:
        return RedirectResponse("docs" if settings.docs else "openapi.json")

    async def problem_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayProblem)
        return problem_answer(exc, correlation_id_of(request.headers))

    async def http_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        message = {
            404: "No such route: POST /{service}/{action}, POST /{service}, GET /openapi.json, GET /docs",
            405: "Method not allowed here",
        }.get(exc.status_code, str(exc.detail))
        problem = GatewayProblem(
            exc.status_code, codes.get(exc.status_code, "HTTP_ERROR"), message, headers=exc.headers
        )
        return problem_answer(problem, correlation_id_of(request.headers))

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    if settings.docs:
        routes += [Route("/docs", docs, methods=["GET"]), Route("/docs/assets/{name}", asset, methods=["GET"])]
    routes += [
        Route("/{service}/{action}", call_action, methods=["POST"]),
        Route("/{service}", call_job, methods=["POST"]),
    ]
    middleware = []
    if settings.allowed_hosts is not None:
        middleware.append(Middleware(AllowedHosts, allowed_hosts=list(settings.allowed_hosts)))
    if settings.cors_origins:
        middleware.append(
            Middleware(
                JSONCORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=_CORS_HEADERS,
                expose_headers=["X-Request-ID", "Retry-After"],
                allow_credentials=settings.cors_allow_credentials,
                max_age=settings.cors_max_age,
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={GatewayProblem: problem_handler, HTTPException: http_handler},
    )
    app.state.gateway_settings = settings
    return app


def _read_job(service: str, job: Any, settings: GatewaySettings) -> tuple[list[dict[str, Any]], bool]:
    """The actions and ``continue_on_error`` of a job body, each action exposed."""
    if not isinstance(job, dict) or not isinstance(job.get("actions"), list) or not job["actions"]:
        raise GatewayProblem(
            400,
            "BAD_REQUEST",
            'A job is {"actions": [{"action": "name", "body": {...}}, ...], "continue_on_error": false}',
            "actions",
        )
    unknown = sorted(set(job) - _JOB_KEYS)
    if unknown:
        raise GatewayProblem(400, "BAD_REQUEST", f"Unknown key(s) in the job: {', '.join(unknown)}", unknown[0])
    continue_on_error = job.get("continue_on_error", False)
    if not isinstance(continue_on_error, bool):
        raise GatewayProblem(400, "BAD_REQUEST", "continue_on_error must be true or false", "continue_on_error")
    actions = []
    for index, item in enumerate(job["actions"]):
        where = f"actions.{index}"
        if not isinstance(item, dict) or not isinstance(item.get("action"), str) or set(item) - {"action", "body"}:
            raise GatewayProblem(400, "BAD_REQUEST", 'Each action is {"action": "name", "body": {...}}', where)
        body = item.get("body", {})
        if not isinstance(body, dict):
            raise GatewayProblem(400, "BAD_REQUEST", "An action's body must be an object", f"{where}.body")
        if not settings.exposes(service, item["action"]):
            raise _not_exposed(service, item["action"])
        actions.append({"action": item["action"], "body": body})
    return actions, continue_on_error


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
