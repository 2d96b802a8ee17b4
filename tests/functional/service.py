"""The service the functional tests run under the standalone runner (configured through the environment)."""

from __future__ import annotations

import os
import time
from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"

# Filled in by FunctionalServer.setup in each worker.
_worker: dict[str, Any] = {"fork_id": None}


class WhoAction(Action):
    """Returns the worker's pid and fork id."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"pid": os.getpid(), "fork_id": _worker["fork_id"]}


class SleepAction(Action):
    """Sleeps ``seconds``, then returns the worker's pid."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {"pid": os.getpid(), "slept": request.body["seconds"]}


class FunctionalServer(Server):
    """The functional-test service."""

    service_name = "functional"
    action_class_map = {"who": WhoAction, "sleep": SleepAction}

    def setup(self) -> None:
        super().setup()
        _worker["fork_id"] = self.forked_process_id

    @classmethod
    def pre_fork(cls) -> None:
        marker = os.environ.get("FUNCTIONAL_PRE_FORK_FILE")
        if marker:
            with open(marker, "a") as stream:
                stream.write(f"{os.getpid()}\n")


SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": _SERVER_TRANSPORT,
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")]},
            "receive_timeout_in_seconds": float(os.environ.get("FUNCTIONAL_RECEIVE_TIMEOUT", "1")),
        },
    },
    "harakiri": {
        "timeout": int(os.environ.get("FUNCTIONAL_HARAKIRI_TIMEOUT", "300")),
        "shutdown_grace": int(os.environ.get("FUNCTIONAL_HARAKIRI_GRACE", "30")),
    },
    "heartbeat_file": os.environ.get("FUNCTIONAL_HEARTBEAT_FILE") or None,
    "logging": {
        "version": 1,
        "formatters": {"plain": {"format": "%(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "disable_existing_loggers": False,
    },
}
