"""Run a server whose first job gets stuck, with harakiri at 1 s; print the responses as JSON.

Usage: ``python -m tests.unit.server._harakiri_script action|middleware|receive|override`` (``receive``: the
transport's receive hangs, as on a Redis that stopped answering; the server's exit code is printed too;
``override``: as ``action``, with a server class overriding ``harakiri`` as PySOA subclasses may).
"""

from __future__ import annotations

import json
import sys
import time
from types import FrameType
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


def _with_recorded_harakiri(server: Any) -> Any:
    """The same server as an instance of a subclass whose ``harakiri`` records each alarm, then calls the base one."""

    class RecordingHarakiri(type(server)):  # type: ignore[misc]
        alarms: list[int] = []

        def harakiri(self, signal_number: int, stack_frame: FrameType | None) -> None:
            self.alarms.append(signal_number)
            super().harakiri(signal_number, stack_frame)

    return RecordingHarakiri(server.settings)


def main() -> None:
    extra: dict[str, Any] = {"harakiri": {"timeout": 1, "shutdown_grace": 5}}
    if sys.argv[1] == "middleware":
        extra["middleware"] = [{"path": "tests.unit.server._harakiri_script:StuckJobMiddleware"}]
    if sys.argv[1] == "receive":
        extra["transport"] = {"path": "tests.unit.server._harakiri_script:StuckReceiveTransport"}
    server = make_server({"stuck": _stuck}, **extra)
    if sys.argv[1] == "override":
        server = _with_recorded_harakiri(server)
    server.transport.add_request(job("stuck"), request_id=7)
    server.transport.add_request(job("stuck"), request_id=8)
    started = time.monotonic()
    server.run()
    elapsed = time.monotonic() - started
    output = {"elapsed": elapsed, "responses": server.transport.responses, "exit_code": server.exit_code}
    print(json.dumps({**output, "alarms": getattr(server, "alarms", None)}))


if __name__ == "__main__":
    main()
