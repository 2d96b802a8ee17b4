"""A service run by ``pysoa-like serve`` over the test Redis Cluster (settings from the environment).

``CLUSTER_STARTUP_NODES``: comma-separated startup URLs; ``CLUSTER_SERVICE_NAME``: the service name
(default ``clustered``); ``CLUSTER_DELIVERY``: ``at_least_once`` for at-least-once delivery (workers presumed
dead 2 s after their last advertisement).
"""

from __future__ import annotations

import os
import time
from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"


class EchoAction(Action):
    """Returns its body and the worker's pid."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"body": dict(request.body), "pid": os.getpid()}


class SleepAction(Action):
    """Sleeps ``seconds``, then returns the worker's pid (safe to run twice for one request)."""

    idempotent = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {"slept": request.body["seconds"], "pid": os.getpid()}


class BigAction(Action):
    """Returns ``size`` copies of ``fill`` and the length of ``payload``, when sent one."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {
            "data": request.body["fill"] * int(request.body["size"]),
            "received": len(request.body.get("payload", "")),
        }


class ClusterServer(Server):
    """The service under test."""

    service_name = os.environ.get("CLUSTER_SERVICE_NAME", "clustered")
    action_class_map = {"echo": EchoAction, "sleep": SleepAction, "big": BigAction}


SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": _SERVER_TRANSPORT,
        "kwargs": {
            "backend_type": "redis.cluster",
            "backend_layer_kwargs": {
                "hosts": os.environ.get("CLUSTER_STARTUP_NODES", "redis://127.0.0.1:7000").split(",")
            },
            "receive_timeout_in_seconds": 1,
            # Big replies go in chunks (the client reads them back as one).
            "chunk_messages_larger_than_bytes": 102400,
            "maximum_message_size_in_bytes": 4 * 1024 * 1024,
        },
    },
    "logging": {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "disable_existing_loggers": False,
    },
}

if os.environ.get("CLUSTER_DELIVERY"):
    SOA_SERVER_SETTINGS["delivery"] = os.environ["CLUSTER_DELIVERY"]
    SOA_SERVER_SETTINGS["at_least_once"] = {"worker_ttl_seconds": 2}
