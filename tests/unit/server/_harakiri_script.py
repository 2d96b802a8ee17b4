"""Run a server whose first job gets stuck, with harakiri at 1 s; print the responses as JSON.

Usage: ``python -m tests.unit.server._harakiri_script action|middleware|receive`` (``receive``: the
transport's receive hangs, as on a Redis that stopped answering; the server's exit code is printed too).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from pysoa_like.common.types import ActionResponse
from pysoa_like.server.middleware import ServerMiddleware
from tests.unit.server._helpers import QueueServerTransport, job, make_server


class StuckReceiveTransport(QueueServerTransport):
    """A transport whose receive never returns (a hung Redis)."""

    def receive_request_message(self) -> Any:
        time.sleep(30)
        return super().receive_request_message()


class StuckJobMiddleware(ServerMiddleware):
    """Hangs in the job middleware."""

    def job(self, process_job: Any) -> Any:
        def handler(request: Any) -> Any:
            time.sleep(30)
            return process_job(request)

        return handler


def _stuck(settings: Any) -> Any:
    def run(request: Any) -> ActionResponse:
        time.sleep(30)
        return ActionResponse(action="stuck")

    return run


def main() -> None:
    extra: dict[str, Any] = {"harakiri": {"timeout": 1, "shutdown_grace": 5}}
    if sys.argv[1] == "middleware":
        extra["middleware"] = [{"path": "tests.unit.server._harakiri_script:StuckJobMiddleware"}]
    if sys.argv[1] == "receive":
        extra["transport"] = {"path": "tests.unit.server._harakiri_script:StuckReceiveTransport"}
    server = make_server({"stuck": _stuck}, **extra)
    server.transport.add_request(job("stuck"), request_id=7)
    server.transport.add_request(job("stuck"), request_id=8)
    started = time.monotonic()
    server.run()
    elapsed = time.monotonic() - started
    print(json.dumps({"elapsed": elapsed, "responses": server.transport.responses, "exit_code": server.exit_code}))


if __name__ == "__main__":
    main()
