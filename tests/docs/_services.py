"""Services the docs' examples call, served for real over the test's Redis while a page's blocks run.

A block comment can start one with ``serve("user", get_user=lambda body: {...})`` (each keyword is an
action returning its response body), so an example that calls a service over Redis gets its reply.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from pysoa_like.server.action import Action
from pysoa_like.server.server import Server

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


class DocServices:
    """The servers started for one page; :meth:`stop` ends them all."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._running: list[tuple[Server, threading.Thread]] = []

    def serve(self, service_name: str, **actions: Callable[[dict[str, Any]], Any]) -> None:
        """Serve ``service_name`` with these actions (each called with the request body) until :meth:`stop`."""
        action_classes = {
            name: type(name, (Action,), {"run": lambda self, request, fn=fn: fn(dict(request.body))})
            for name, fn in actions.items()
        }
        server_class = type(
            f"Doc{service_name.title()}Server",
            (Server,),
            {
                "service_name": service_name,
                "action_class_map": action_classes,
            },
        )
        kwargs = {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [self.redis_url]},
            "receive_timeout_in_seconds": 0.2,
        }
        self.start(server_class({"transport": {"path": _SERVER_TRANSPORT, "kwargs": kwargs}}))

    def start(self, server: Server) -> None:
        """Run an already built server (of the page's own classes) in a thread until :meth:`stop`."""
        thread = threading.Thread(target=server.run, name=f"doc-{server.service_name}", daemon=True)
        thread.start()
        self._running.append((server, thread))

    def stop(self) -> None:
        """Stop every server started for the page and wait for its thread."""
        for server, _ in self._running:
            server.shutting_down = True
        for _, thread in self._running:
            thread.join(10)
        self._running.clear()
