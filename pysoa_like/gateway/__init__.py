"""An HTTP gateway to the services: each exposed action is ``POST /{service}/{action}`` (the ``web`` extra).

``pysoa-like gateway --settings my_app.settings --port 8080`` serves it; in code::

    from pysoa_like.gateway import create_app, serve

    app = create_app(SOA_CLIENT_SETTINGS, {"expose": {"orders": ["get", "cancel"]}, "timeout": 5})
    serve(app, host="127.0.0.1", port=8080)   # or run app under any ASGI server

A JSON body is the action's request body and the answer is its response body; ``POST /{service}``
runs a job of several actions. Request headers give the call its correlation id (``X-Request-ID`` or
``traceparent``), switches (``X-Switches``), deadline (``X-Timeout``) and API token
(``Authorization: Bearer``); errors map to HTTP statuses; values JSON lacks travel as tagged objects
(``pysoa_like.gateway.encoding``). ``/openapi.json`` describes every exposed action from the
services' introspection, ``/docs`` renders it. See ``docs/gateway.rst``.
"""

from __future__ import annotations

from pysoa_like.common._extras import install_extra

try:
    from pysoa_like.gateway._app import create_app
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(f"pysoa_like.gateway needs the web extra: {install_extra('web')} ({exc})") from exc
from pysoa_like._asgi import serve
from pysoa_like.gateway.encoding import EncodingError, from_json_value, to_json_value
from pysoa_like.gateway.settings import GatewaySettings
from pysoa_like.gateway.status import error_status

__all__ = [
    "EncodingError",
    "GatewaySettings",
    "create_app",
    "error_status",
    "from_json_value",
    "serve",
    "to_json_value",
]
