"""PySOA 1.4.9's side, run with the interop venv's interpreter (never imports pysoa_like).

``python -m benchmarks._pysoa server '<json>'`` serves the same ``square`` and ``big`` actions as
``benchmarks._like`` with PySOA's default settings (request logging as shipped, configured as
``Server.main`` does) except ``maximum_message_size_in_bytes``, raised on both transports so the
1 MiB reply fits in one message (chunking off, the default). It prints ``READY <pid>`` from
``setup`` and runs until SIGTERM.
``python -m benchmarks._pysoa client '<json>'`` runs a workload with a PySOA ``Client``.
"""

from __future__ import annotations

import json
import logging.config
import os
import sys
from typing import Any

__all__ = ["MAXIMUM_MESSAGE_BYTES", "PySOACalls", "serve"]

MAXIMUM_MESSAGE_BYTES = 4 * 1024 * 1024


def serve(config: dict[str, Any]) -> None:
    """Build and run the PySOA server described by ``config`` (``redis``, ``service``)."""
    from pysoa.common.logging import PySOALogContextFilter  # type: ignore[import-not-found,unused-ignore]
    from pysoa.server.action.base import Action  # type: ignore[import-not-found,unused-ignore]
    from pysoa.server.server import Server  # type: ignore[import-not-found,unused-ignore]
    from pysoa.server.settings import ServerSettings  # type: ignore[import-not-found,unused-ignore]

    class SquareAction(Action):  # type: ignore[misc,unused-ignore]
        def run(self, request: Any) -> dict[str, Any]:
            number = request.body["number"]
            return {"square": number * number}

    class BigAction(Action):  # type: ignore[misc,unused-ignore]
        def run(self, request: Any) -> dict[str, Any]:
            return {"data": "x" * request.body["size"]}

    class BenchServer(Server):  # type: ignore[misc,unused-ignore]
        service_name = config["service"]
        action_class_map = {"square": SquareAction, "big": BigAction}

        def setup(self) -> None:
            sys.stdout.write(f"READY {os.getpid()}\n")
            sys.stdout.flush()

    settings = ServerSettings(
        {
            "transport": {
                "path": "pysoa.common.transport.redis_gateway.server:RedisServerTransport",
                "kwargs": {
                    "backend_type": "redis.standard",
                    "backend_layer_kwargs": {"hosts": [tuple(config["redis"])]},
                    "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
                    "receive_timeout_in_seconds": 1,
                },
            },
        }
    )
    # What PySOA's Server.main does before run(): per-request logging as shipped (INFO to stderr).
    logging.config.dictConfig(settings["logging"])
    PySOALogContextFilter.set_service_name(config["service"])
    BenchServer(settings).run()


class PySOACalls:
    """PySOA's client side (one ``Client`` with the Redis client transport)."""

    def __init__(self, config: dict[str, Any]) -> None:
        from pysoa.client.client import Client  # type: ignore[import-not-found,unused-ignore]

        self._service = config["service"]
        transport = {
            "path": "pysoa.common.transport.redis_gateway.client:RedisClientTransport",
            "kwargs": {
                "backend_type": "redis.standard",
                "backend_layer_kwargs": {"hosts": [tuple(config["redis"])]},
                "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            },
        }
        self._client = Client({self._service: {"transport": transport}})

    def square(self, number: int) -> int:
        result: int = self._client.call_action(self._service, "square", {"number": number}).body["square"]
        return result

    def squares(self, numbers: list[int]) -> list[int]:
        actions = [{"action": "square", "body": {"number": number}} for number in numbers]
        return [response.body["square"] for response in self._client.call_actions_parallel(self._service, actions)]

    def big(self, size: int) -> int:
        return len(self._client.call_action(self._service, "big", {"size": size}).body["data"])


if __name__ == "__main__":
    _config = json.loads(sys.argv[2])
    if sys.argv[1] == "server":
        serve(_config)
    else:
        from benchmarks._driver import main_client

        main_client(PySOACalls, _config)
