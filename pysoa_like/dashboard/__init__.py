"""A web page for operators: live services and workers, load, calls and errors (the ``web`` extra).

``pysoa-like dashboard --redis-url redis://127.0.0.1:6379/0 --port 8050`` serves it; in code::

    from pysoa_like.dashboard import create_app, serve
    from pysoa_like.fleet.redis import FleetRedis

    fleet = FleetRedis("redis.standard", {"hosts": ["redis://127.0.0.1:6379/0"]})
    serve(create_app(fleet), host="127.0.0.1", port=8050)   # or run create_app(...) under any ASGI server

The page shows what the service registry holds (``docs/service_registry.rst``): each service's live
workers, versions, request-queue depth and jobs in flight, charts of calls and errors per second and
queue depths over the last minutes, the latest errors, and each service's actions with their
schemas. It reads Redis only: watching a fleet sends its services no request. See
``docs/dashboard.rst``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

try:
    from pysoa_like.dashboard._app import create_app
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(f"pysoa_like.dashboard needs the web extra: pip install 'pysoa_like[web]' ({exc})") from exc
from pysoa_like.dashboard._history import RateHistory
from pysoa_like.dashboard._state import DashboardState

__all__ = ["DashboardState", "RateHistory", "create_app", "serve"]


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8050,
    ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve an ASGI application with uvicorn until SIGINT or SIGTERM.

    Args:
        app: The application (from :func:`create_app`).
        host: The address to listen on (the dashboard has no login: keep it on a private address).
        port: The port (0: a free one).
        ready: Called with the page's URL once the address is listened on.
        log_level: uvicorn's log level.

    Raises:
        OSError: The address cannot be listened on (in use, not this host's, no permission).
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    if ready is not None:
        ready(f"http://{shown_host}:{bound_port}/")
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
