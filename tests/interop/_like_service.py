"""The pysoa_like twin of ``pysoa_side/run_server.py``: the same ``interop`` actions.

Both implementations must answer the same requests with the same bodies, so one test matrix checks
both directions. Run as ``python -m tests.interop._like_service '<json config>'`` (from the repository
root) it serves one service like ``run_server.py`` does: prints ``READY <pid>``, runs
:meth:`Server.run` and stops at SIGTERM.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import signal
import sys
from typing import Any

from pysoa_like.auth import current_identity
from pysoa_like.common.errors import Error
from pysoa_like.events import Event
from pysoa_like.periodic import PeriodicTask, TaskRun
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

__all__ = [
    "INTEROP_API_TOKEN",
    "TRANSPORT_PATHS",
    "like_transport_kwargs",
    "main",
    "make_like_server_class",
    "type_tag",
]


def type_tag(value: Any) -> str:
    """Name the type a value was decoded to, including whether a datetime is aware (as PySOA's twin)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return "datetime/naive"
        return "datetime/utc" if value.utcoffset() == datetime.timedelta(0) else "datetime/other"
    return type(value).__name__


class EchoAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class SquareAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class FailAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        caller = bool(request.body.get("caller"))
        raise ActionError(
            [Error(code="FAILED", message="It failed on purpose", field="number")], set_is_caller_error_to=caller
        )


class BigAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"data": "x" * request.body["size"]}


class TypesAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        body = dict(request.body)
        return {"received": body, "types": {key: type_tag(value) for key, value in body.items()}}


class NapAction(Action):
    """A coroutine action (pysoa_like only): awaits ``seconds``, then answers."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        await asyncio.sleep(float(request.body.get("seconds", 0)))
        return {"napped": request.body.get("seconds", 0), "tag": request.body.get("tag")}


class RetiredAction(Action):
    """An action kept for old callers (pysoa_like marks it deprecated; PySOA clients still call it)."""

    deprecated = "use square instead"

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"retired": True}


#: The API token a caller needs for the private ``vault`` action (static, subject ``interop-caller``).
INTEROP_API_TOKEN = "interop-api-token-5c2e81d0"


class VaultAction(Action):
    """A private action (pysoa_like's API token middleware): only callers sending INTEROP_API_TOKEN run it."""

    private = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        identity = current_identity()
        return {"opened_by": identity.subject if identity else None}


def answer_ping(event: Event) -> None:
    """Answers ``interop.ping`` with ``interop.pong``, chaining the ping's context."""
    event.publish_event("interop.pong", {"ping": event.id, "service": str(event.server and event.server.service_name)})


def count_tick(run: TaskRun) -> None:
    """A periodic task (every second) that only counts its runs in the server."""
    server: Any = run.server
    server.ticks = getattr(server, "ticks", 0) + 1


def make_like_server_class(service_name: str) -> type[Server]:
    """Build the pysoa_like Server subclass serving the interop actions as ``service_name``.

    Beside the actions PySOA's twin serves, it uses the fleet features PySOA never had (a service version,
    a deprecated action, an event handler, a periodic task, the registry), so every interop test also
    checks that PySOA clients call such services unchanged.
    """

    class WhoAmIAction(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"service": service_name, "implementation": "pysoa_like"}

    return type(
        "LikeInteropServer",
        (Server,),
        {
            "service_name": service_name,
            "service_version": "2.0.0",
            "action_class_map": {
                "echo": EchoAction,
                "square": SquareAction,
                "fail": FailAction,
                "big": BigAction,
                "types": TypesAction,
                "whoami": WhoAmIAction,
                "retired": RetiredAction,
                "vault": VaultAction,
                "nap": NapAction,
            },
            "event_handlers": {"interop.ping": answer_ping},
            "periodic_tasks": [PeriodicTask("tick", count_tick, every=1)],
        },
    )


_SERIALIZER_PATHS = {
    "msgpack": "pysoa_like.common.serializer:MsgpackSerializer",
    "json": "pysoa_like.common.serializer:JSONSerializer",
}
TRANSPORT_PATHS = {
    "client": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
    "server": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
}


def like_transport_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The pysoa_like form of JSON-friendly transport kwargs: host tuples and a serializer configuration.

    Args:
        kwargs: Transport kwargs with ``hosts`` as ``[host, port]`` lists and the serializer by name.

    Returns:
        Kwargs for the pysoa_like Redis transports.
    """
    converted = dict(kwargs)
    converted["backend_layer_kwargs"] = {"hosts": [tuple(host) for host in kwargs["backend_layer_kwargs"]["hosts"]]}
    converted["default_serializer_config"] = {"path": _SERIALIZER_PATHS[kwargs["default_serializer_config"]]}
    return converted


def main(argv: list[str]) -> None:
    """Serve one service until SIGTERM; argv[1] is ``{"service_name", "transport_kwargs"}`` as JSON (and
    optionally ``server_settings``, more server settings such as ``concurrency``).

    One worker per process, as in production: transports of one process share a backend (and its
    round-robin over the Redis masters), so several workers in one process would skew the polling.
    """
    config = json.loads(argv[1])
    transport = {"path": TRANSPORT_PATHS["server"], "kwargs": like_transport_kwargs(config["transport_kwargs"])}
    middleware = {
        "path": "pysoa_like.auth:ApiTokenMiddleware",
        "kwargs": {"tokens": {"interop-caller": INTEROP_API_TOKEN}},
    }
    settings = {"transport": transport, "middleware": [middleware], **config.get("server_settings", {})}
    server = make_like_server_class(config["service_name"])(settings)

    def shut_down(signum: int, frame: Any) -> None:
        server.shutting_down = True

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    sys.stdout.write(f"READY {os.getpid()}\n")
    sys.stdout.flush()
    server.run()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(sys.argv)
