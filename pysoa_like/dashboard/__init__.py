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

from pysoa_like.common._extras import install_extra

try:
    from pysoa_like.dashboard._app import create_app
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(f"pysoa_like.dashboard needs the web extra: {install_extra('web')} ({exc})") from exc
from pysoa_like._asgi import serve
from pysoa_like.dashboard._history import RateHistory
from pysoa_like.dashboard._state import DashboardState

__all__ = ["DashboardState", "RateHistory", "create_app", "serve"]
