"""Middleware used by the end-to-end tests; each records what it saw in a module-level list."""

from __future__ import annotations

from typing import Any

from pysoa_like.client.middleware import ClientMiddleware
from pysoa_like.server.middleware import ServerMiddleware

EVENTS: list[str] = []


class RecordingServerMiddleware(ServerMiddleware):
    """Records job and action entry/exit, tagged with its name, and stamps the response context."""

    def __init__(self, name: str) -> None:
        self.name = name

    def job(self, process_job: Any) -> Any:
        def handler(request: Any) -> Any:
            EVENTS.append(f"{self.name}:job:in")
            response = process_job(request)
            response.context.setdefault("middleware", []).append(self.name)
            EVENTS.append(f"{self.name}:job:out")
            return response

        return handler

    def action(self, process_action: Any) -> Any:
        def handler(request: Any) -> Any:
            EVENTS.append(f"{self.name}:action:{request.action}")
            return process_action(request)

        return handler


class RecordingClientMiddleware(ClientMiddleware):
    """Adds a meta key to every request and records sends and receives, tagged with its name."""

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, send_request: Any) -> Any:
        def handler(request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: Any) -> None:
            EVENTS.append(f"{self.name}:send")
            meta[f"seen_by_{self.name}"] = True
            send_request(request_id, meta, job_request, message_expiry_in_seconds)

        return handler

    def response(self, get_response: Any) -> Any:
        def handler(receive_timeout_in_seconds: Any) -> Any:
            request_id, response = get_response(receive_timeout_in_seconds)
            EVENTS.append(f"{self.name}:receive")
            return request_id, response

        return handler
