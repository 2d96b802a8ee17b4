"""Shared helpers for server tests: an in-memory server transport and job builders."""

from __future__ import annotations

import collections
from typing import Any

from pysoa_like.common.transport.base import ReceivedMessage, ServerTransport
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.server.server import Server

QUEUE_TRANSPORT_PATH = "tests.unit.server._helpers:QueueServerTransport"


class QueueServerTransport(ServerTransport):
    """A server transport fed by a test: queued requests (or exceptions) in, responses (and the metas of requests
    answered with none, ``suppressed``) recorded."""

    def __init__(self, service_name: str, metrics: Any = None, instance_index: int = 1) -> None:
        super().__init__(service_name, metrics, instance_index)
        self.requests: collections.deque[Any] = collections.deque()
        self.responses: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
        self.send_errors: list[BaseException] = []
        self.suppressed: list[dict[str, Any]] = []

    def add_request(self, body: Any, request_id: Any = 1, meta: dict[str, Any] | None = None) -> None:
        self.requests.append(ReceivedMessage(request_id, {"client_version": [1, 5, 0]} if meta is None else meta, body))

    def receive_request_message(self) -> ReceivedMessage:
        if not self.requests:
            raise MessageReceiveTimeout("nothing queued")
        item = self.requests.popleft()
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        if self.send_errors:
            raise self.send_errors.pop(0)
        self.responses.append((request_id, meta, body))

    def response_suppressed(self, meta: dict[str, Any]) -> None:
        self.suppressed.append(meta)


def job(*actions: Any, context: dict[str, Any] | None = None, control: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid job request dict; actions are names or ``{"action": ..., "body": ...}`` dicts."""
    return {
        "control": {"continue_on_error": False, **(control or {})},
        "context": {"correlation_id": "cid-1", "switches": [], **(context or {})},
        "actions": [a if isinstance(a, dict) else {"action": a, "body": {}} for a in actions],
    }


def settings(**extra: Any) -> dict[str, Any]:
    """Server settings using the queue transport."""
    return {"transport": {"path": QUEUE_TRANSPORT_PATH}, **extra}


def make_server(action_map: dict[str, Any] | None = None, name: str = "test_service", **settings_extra: Any) -> Any:
    """A server of a fresh subclass serving ``action_map`` over a :class:`QueueServerTransport`."""
    server_class = type("TestServer", (Server,), {"service_name": name, "action_class_map": action_map or {}})
    return server_class(settings(**settings_extra))


def serve(server: Any, body: Any, request_id: Any = 1, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue one request, handle it and return the response body sent."""
    server.transport.add_request(body, request_id, meta)
    server.handle_next_request()
    return server.transport.responses[-1][2]  # type: ignore[no-any-return]
