"""pysoa_like's side: the benchmark service (run by ``python -m pysoa_like serve``) and its client calls.

The server is started by ``benchmarks.run`` as a real deployment would be::

    BENCH_CONFIG='<json>' python -m pysoa_like serve benchmarks._like:BenchServer --settings benchmarks._like

with default settings (request logging as shipped) except ``maximum_message_size_in_bytes``, raised
on both transports so the 1 MiB reply fits in one message (chunking stays off, its default), and
``delivery`` (with ``idempotent``, whether the actions say so) from the configuration. The
client side runs as ``python -m benchmarks._like client '<json>'``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pysoa_like
from pysoa_like.client.client import Client
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["MAXIMUM_MESSAGE_BYTES", "SOA_SERVER_SETTINGS", "BenchServer", "LikeCalls"]

#: Big enough for the 1 MiB reply plus its envelope.
MAXIMUM_MESSAGE_BYTES = 4 * 1024 * 1024
_CONFIG: dict[str, Any] = json.loads(os.environ.get("BENCH_CONFIG", '{"redis": ["127.0.0.1", 6379]}'))
_HOSTS = [tuple(_CONFIG["redis"])]


# With at-least-once delivery: whether the actions say they are safe to run twice (else each job is claimed by
# request id, and its reply kept before it is pushed).
_IDEMPOTENT = bool(_CONFIG.get("idempotent", True))


class SquareAction(Action):
    """``{"number": n}`` -> ``{"square": n * n}``."""

    idempotent = _IDEMPOTENT

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        number = request.body["number"]
        return {"square": number * number}


class BigAction(Action):
    """``{"size": n}`` -> ``{"data": "x" * n}``."""

    idempotent = _IDEMPOTENT

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"data": "x" * request.body["size"]}


class BenchServer(Server):
    """The benchmark service; prints ``READY <pid> <pysoa_like package directory>`` once it takes requests."""

    service_name = _CONFIG.get("service", "bench_like")
    action_class_map = {"square": SquareAction, "big": BigAction}

    def setup(self) -> None:
        super().setup()
        profile_path = _CONFIG.get("profile")
        if profile_path:
            import cProfile
            import time

            # CPU time, not wall time: waiting in BLPOP would otherwise dominate every listing.
            self._profiler = cProfile.Profile(time.process_time)
            self._profiler.enable()
        sys.stdout.write(f"READY {os.getpid()} {os.path.dirname(os.path.abspath(pysoa_like.__file__))}\n")
        sys.stdout.flush()

    def teardown(self) -> None:
        profiler = getattr(self, "_profiler", None)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(f"{_CONFIG['profile']}.{os.getpid()}")
        super().teardown()


SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": _HOSTS},
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
            # Only how long an idle server waits before checking for shutdown; no effect under load.
            "receive_timeout_in_seconds": 1,
        },
    },
}
if "delivery" in _CONFIG:
    # Only when asked: a baseline's older pysoa_like may not know the setting.
    SOA_SERVER_SETTINGS["delivery"] = _CONFIG["delivery"]


class LikeCalls:
    """pysoa_like's client side (one ``Client`` with the Redis client transport)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._service = config["service"]
        transport = {
            "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
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
    from benchmarks._driver import main_client

    main_client(LikeCalls, json.loads(sys.argv[2]), package=os.path.dirname(os.path.abspath(pysoa_like.__file__)))
