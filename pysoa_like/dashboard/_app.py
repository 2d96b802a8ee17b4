"""The dashboard's ASGI application (Starlette): the page, its assets and the JSON it polls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pysoa_like._asgi import check_allowed_hosts
from pysoa_like._web_json import JSONAnswer
from pysoa_like.dashboard._state import DashboardState
from pysoa_like.fleet.errors import FleetError
from pysoa_like.fleet.redis import FleetRedis

__all__ = ["create_app"]

_logger = logging.getLogger("pysoa_like.dashboard")

# Asset name -> content type; everything the page needs is served from the package (no CDN).
_ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page may load only what this server serves, and nothing from elsewhere.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _asset(name: str) -> bytes:
    return resources.files("pysoa_like.dashboard").joinpath("static").joinpath(name).read_bytes()


def create_app(
    fleet: FleetRedis,
    *,
    interval: float = 2.0,
    resolution: float = 5.0,
    window: float = 900.0,
    title: str = "pysoa_like dashboard",
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """Build the dashboard application for the fleet whose registry is on ``fleet``.

    While the application runs (between ASGI startup and shutdown) it reads the registry every
    ``interval`` seconds in a worker thread; pages poll ``/api/overview``.

    Args:
        fleet: The Redis holding the service registry and the request queues.
        interval: Seconds between two reads of Redis (and between two polls of each page).
        resolution: Seconds per chart point.
        window: Seconds of history in the charts.
        title: The page title.
        allowed_hosts: The host names the page may be asked for (the ``Host`` header, without the
            port), at least one; others get 400. ``None`` allows any. A dashboard on a loopback address should
            allow only loopback names, so that no web site can read it through DNS rebinding.

    Returns:
        The ASGI application. Routes: ``/`` (the page), ``/static/<asset>``, ``/api/overview``,
        ``/api/services/<name>`` (actions and schemas) and ``/healthz``.

    Raises:
        ValueError: ``interval``, ``resolution`` or ``window`` not a positive finite number (or ``window``
            shorter than ``resolution``), or a malformed host name in
            ``allowed_hosts`` (a wildcard other than ``*.example.com``, say) or an empty list of them.
    """
    for name, seconds in (("interval", interval), ("resolution", resolution), ("window", window)):
        if not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {seconds}")
    if allowed_hosts is not None:
        allowed_hosts = check_allowed_hosts(allowed_hosts, "allowed_hosts")
    state = DashboardState(fleet, resolution=resolution, window=window)
    page = _asset("index.html").decode("utf-8").replace("{{title}}", _html_escape(title))
    config = {"interval": interval, "resolution": resolution, "window": window, "title": title}

    async def poll_forever() -> None:
        while True:
            await asyncio.to_thread(state.poll)
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(poll_forever())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(fleet.close)

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_SECURITY_HEADERS)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _ASSETS:
            return JSONAnswer({"error": f"no asset {name!r}"}, status_code=404)
        return Response(_asset(name), media_type=_ASSETS[name], headers=_SECURITY_HEADERS)

    async def overview(request: Request) -> Response:
        return JSONAnswer(dict(state.overview(), config=config), headers=_SECURITY_HEADERS)

    async def service(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            described: dict[str, Any] = await asyncio.to_thread(state.actions, name)
        except FleetError as exc:
            return JSONAnswer({"error": str(exc)}, status_code=503, headers=_SECURITY_HEADERS)
        return JSONAnswer(described, headers=_SECURITY_HEADERS)

    async def health(request: Request) -> Response:
        return JSONAnswer({"ok": True})

    routes = [
        Route("/", index),
        Route("/static/{name}", asset),
        Route("/api/overview", overview),
        Route("/api/services/{name:path}", service),
        Route("/healthz", health),
    ]
    middleware = [] if allowed_hosts is None else [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]

    async def http_error(request: Request, exc: Exception) -> Response:
        # As the dashboard's other errors: JSON, for the scripts that read its API.
        assert isinstance(exc, HTTPException)
        return JSONAnswer(
            {"error": str(exc.detail)},
            status_code=exc.status_code,
            headers={**_SECURITY_HEADERS, **(exc.headers or {})},
        )

    app = Starlette(
        routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers={HTTPException: http_error}
    )
    app.state.dashboard = state
    return app


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
