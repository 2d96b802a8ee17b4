"""A PySOA 1.4.9 server for the interop tests; runs INSIDE the PySOA venv (never imports pysoa_like).

Usage: ``python run_server.py '<json config>'`` where the config is::

    {"service_name": "interop", "transport_kwargs": {...RedisServerTransport kwargs...}}

``backend_layer_kwargs.hosts`` may be given as JSON lists ``[host, port]``; they become tuples.
``default_serializer_config`` may be given as ``"json"`` or ``"msgpack"``. The server prints one line
``READY <pid>`` to stdout once it is built, then runs ``Server.run()`` until SIGTERM.

Actions (the same as the pysoa_like twin in ``tests/interop/_like_service.py``):

- ``echo``: returns the request body.
- ``square``: ``{"number": n}`` -> ``{"square": n * n}``.
- ``fail``: raises ``ActionError`` (code ``FAILED``, field ``number``) with ``is_caller_error`` set to
  the body's ``caller`` flag.
- ``big``: ``{"size": n}`` -> ``{"data": "x" * n}``, to force a chunked response.
- ``types``: returns ``{"received": body, "types": {key: type tag}}``; the type tags show how PySOA
  decoded each value (``datetime/naive``, ``datetime/utc``, ``date``, ``time``, ``Decimal``,
  ``bytes``, ``Amount``, ...).
- ``whoami``: returns ``{"service": <service name>, "implementation": "pysoa"}``.
- ``forward``: ``{"service": s, "action": a, "body": b}`` calls ``a`` on ``s`` through
  ``request.client`` (PySOA's own nested call, which copies the job's context) and returns
  ``{"forwarded": <its body>}``. The services it may call are the config's ``client_routing``
  (service name -> RedisClientTransport kwargs, in the same JSON-friendly form).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from typing import Any

# Only importable inside the PySOA venv; mypy (run from the repository) sees them as Any.
from pysoa.common.errors import Error  # type: ignore[import-not-found,unused-ignore]
from pysoa.server.action.base import Action  # type: ignore[import-not-found,unused-ignore]
from pysoa.server.errors import ActionError  # type: ignore[import-not-found,unused-ignore]
from pysoa.server.server import Server  # type: ignore[import-not-found,unused-ignore]
from pysoa.server.settings import ServerSettings  # type: ignore[import-not-found,unused-ignore]

_CLIENT_TRANSPORT = "pysoa.common.transport.redis_gateway.client:RedisClientTransport"
_SERIALIZERS = {
    "json": {"path": "pysoa.common.serializer:JSONSerializer"},
    "msgpack": {"path": "pysoa.common.serializer:MsgpackSerializer"},
}


def type_tag(value: Any) -> str:
    """Name the type PySOA decoded a value to, including whether a datetime is aware."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return "datetime/naive"
        return "datetime/utc" if value.utcoffset() == datetime.timedelta(0) else "datetime/other"
    return type(value).__name__


class EchoAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        return dict(request.body)


class SquareAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class FailAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        caller = bool(request.body.get("caller"))
        error = Error(code="FAILED", message="It failed on purpose", field="number")
        raise ActionError([error], set_is_caller_error_to=caller)


class ForwardAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        body = request.body
        response = request.client.call_action(body["service"], body["action"], body.get("body") or {})
        return {"forwarded": response.body}


class BigAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        return {"data": "x" * request.body["size"]}


class TypesAction(Action):  # type: ignore[misc,unused-ignore]
    def run(self, request: Any) -> dict[str, Any]:
        body = dict(request.body)
        return {"received": body, "types": {key: type_tag(value) for key, value in body.items()}}


def make_server_class(service_name: str) -> Any:
    """Build the Server subclass for ``service_name`` (one class per name, as PySOA wants)."""

    class WhoAmIAction(Action):  # type: ignore[misc,unused-ignore]
        def run(self, request: Any) -> dict[str, Any]:
            return {"service": service_name, "implementation": "pysoa"}

    return type(
        "InteropServer",
        (Server,),
        {
            "service_name": service_name,
            "action_class_map": {
                "echo": EchoAction,
                "square": SquareAction,
                "fail": FailAction,
                "big": BigAction,
                "types": TypesAction,
                "whoami": WhoAmIAction,
                "forward": ForwardAction,
            },
        },
    )


def transport_settings(transport_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn the JSON-friendly transport kwargs into what PySOA's settings schema expects."""
    kwargs = dict(transport_kwargs)
    backend = dict(kwargs.get("backend_layer_kwargs", {}))
    if "hosts" in backend:
        backend["hosts"] = [tuple(host) if isinstance(host, list) else host for host in backend["hosts"]]
    kwargs["backend_layer_kwargs"] = backend
    serializer = kwargs.get("default_serializer_config")
    if isinstance(serializer, str):
        kwargs["default_serializer_config"] = _SERIALIZERS[serializer]
    return {"path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport", "kwargs": kwargs}


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    routing = {
        name: {"transport": dict(transport_settings(kwargs), path=_CLIENT_TRANSPORT)}
        for name, kwargs in (config.get("client_routing") or {}).items()
    }
    settings = ServerSettings({"transport": transport_settings(config["transport_kwargs"]), "client_routing": routing})
    server = make_server_class(config["service_name"])(settings)
    sys.stdout.write(f"READY {os.getpid()}\n")
    sys.stdout.flush()
    server.run()


if __name__ == "__main__":
    main(sys.argv)
