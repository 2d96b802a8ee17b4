"""The service the functional tests run under the standalone runner (configured through the environment)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.action.status import BaseStatusAction, CheckMethodReturn
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

# Without FUNCTIONAL_REDIS_URL (set by the tests that start this), a port nothing listens on: never a real Redis.
_NOWHERE = "redis://127.0.0.1:1/0"

_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"

# Filled in by FunctionalServer.setup in each worker.
_worker: dict[str, Any] = {"fork_id": None}


class WhoAction(Action):
    """Returns the worker's pid and fork id."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"pid": os.getpid(), "fork_id": _worker["fork_id"]}


class SleepAction(Action):
    """Sleeps ``seconds``, then returns the worker's pid (safe to run twice for one request)."""

    idempotent = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {"pid": os.getpid(), "slept": request.body["seconds"]}


class EchoAction(Action):
    """Returns its body, the request's switches and context (without the correlation id, which varies)."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        context = {k: v for k, v in request.context.items() if k != "switches"}
        return {"body": request.body, "switches": sorted(request.switches), "context": context}


class FailAction(Action):
    """Raises an unexpected exception (a SERVER_ERROR with a traceback for the caller)."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise RuntimeError("the functional service failed on purpose")


class StatusAction(BaseStatusAction):
    """Version 1.2.3; its health check fails while ``FUNCTIONAL_UNHEALTHY`` is set (and warns always)."""

    _version = "1.2.3"
    _build = "functional-build"

    def check_dependencies(self, request: EnrichedActionRequest) -> CheckMethodReturn:
        problems = [(False, "SLOW_DISK", "The disk is slow")]
        if os.environ.get("FUNCTIONAL_UNHEALTHY"):
            problems.append((True, "DATABASE_DOWN", "Cannot reach the database"))
        return problems


class ReturnsAction(Action):
    """Returns ``body["value"]`` itself as the response body (whatever its type): a broken action."""

    def run(self, request: EnrichedActionRequest) -> Any:
        return request.body["value"]


class BigAction(Action):
    """Returns ``body["megabytes"]`` MiB of text."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"data": "x" * (int(request.body["megabytes"]) * 1024 * 1024)}


def _note_run(request: EnrichedActionRequest) -> None:
    """Append ``<key> <pid>`` to ``$FUNCTIONAL_RUNS_FILE``, so a test counts the runs of each request."""
    with open(os.environ["FUNCTIONAL_RUNS_FILE"], "a") as stream:
        stream.write(f"{request.body['key']} {os.getpid()}\n")


class ChargeAction(Action):
    """Not idempotent: notes its run, sleeps ``seconds``, returns the worker's pid."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        _note_run(request)
        time.sleep(float(request.body.get("seconds", 0)))
        return {"pid": os.getpid()}


class DieAction(Action):
    """Notes its run, then kills its own worker (SIGKILL): a request no worker survives."""

    idempotent = True

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        _note_run(request)
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
        return {}


class FunctionalServer(Server):
    """The functional-test service."""

    service_name = "functional"
    action_class_map = {
        "who": WhoAction,
        "sleep": SleepAction,
        "echo": EchoAction,
        "fail": FailAction,
        "status": StatusAction,
        "returns": ReturnsAction,
        "big": BigAction,
        "charge": ChargeAction,
        "die": DieAction,
    }

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
            "backend_layer_kwargs": {"hosts": [os.environ.get("FUNCTIONAL_REDIS_URL", _NOWHERE)]},
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

if os.environ.get("FUNCTIONAL_SENTINEL"):
    # "host:port" of a Sentinel: the transport's (and so the fleet's) Redis is the Sentinel backend's, its services
    # discovered (no sentinel_services).
    SOA_SERVER_SETTINGS["transport"]["kwargs"]["backend_type"] = "redis.sentinel"
    SOA_SERVER_SETTINGS["transport"]["kwargs"]["backend_layer_kwargs"] = {"hosts": [os.environ["FUNCTIONAL_SENTINEL"]]}

if os.environ.get("FUNCTIONAL_DELIVERY"):
    SOA_SERVER_SETTINGS["delivery"] = os.environ["FUNCTIONAL_DELIVERY"]
    SOA_SERVER_SETTINGS["at_least_once"] = {
        "worker_ttl_seconds": float(os.environ.get("FUNCTIONAL_WORKER_TTL", "2")),
        "max_deliveries": int(os.environ.get("FUNCTIONAL_MAX_DELIVERIES", "5")),
    }

if os.environ.get("FUNCTIONAL_CONCURRENCY"):
    SOA_SERVER_SETTINGS["concurrency"] = int(os.environ["FUNCTIONAL_CONCURRENCY"])

if os.environ.get("FUNCTIONAL_READINESS_FILE"):
    SOA_SERVER_SETTINGS["readiness_file"] = os.environ["FUNCTIONAL_READINESS_FILE"]
