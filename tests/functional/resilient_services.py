"""Services for the resilience tests, each run by ``pysoa-like serve`` (settings picked by ``RESILIENT_SERVICE``).

``first`` calls ``second``, which calls ``third`` (``hop``): each sleeps ``body["sleep"][<service>]`` seconds
first and logs the time its job has left. ``third`` also serves ``flaky`` (fails every second call) and
``marker`` (logs that it ran). ``FUNCTIONAL_REDIS_URL`` names the Redis; ``RESILIENT_NESTED_CALL_MARGIN``, if
set, the seconds each service keeps for its own reply when it calls the next (``nested_call_margin_seconds``).
:func:`serve_command` and :func:`serve_environment` start one worker of a service, :func:`client_settings` make a
client of them (the functional tests and ``benchmarks.failures``).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from typing import Any

from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_URL = os.environ.get("FUNCTIONAL_REDIS_URL", "redis://127.0.0.1:6379/0")
_SERVICE = os.environ.get("RESILIENT_SERVICE", "first")
_NEXT = {"first": "second", "second": "third"}
_NESTED_CALL_MARGIN = os.environ.get("RESILIENT_NESTED_CALL_MARGIN")
_TRANSPORT_KWARGS = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_URL]}}
_logger = logging.getLogger("resilient")
_calls = itertools.count()


class HopAction(Action):
    """Logs the time left, sleeps, then calls the next service (with no timeout of its own) or returns."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        # getattr: the failure-scenario benchmark also runs these services on releases without deadlines.
        time_remaining = getattr(request, "time_remaining", None)
        remaining = time_remaining() if time_remaining is not None else None
        _logger.info("hop %s remaining=%.3f", _SERVICE, -1.0 if remaining is None else remaining)
        time.sleep(float(request.body.get("sleep", {}).get(_SERVICE, 0)))
        nxt = _NEXT.get(_SERVICE)
        if nxt is None:
            return {"path": [_SERVICE]}
        assert request.client is not None
        started = time.monotonic()
        try:
            answer = request.client.call_action(nxt, "hop", request.body)
        except Exception as exc:
            _logger.info("hop %s nested call ended after %.3f s: %s", _SERVICE, time.monotonic() - started, exc)
            raise
        return {"path": [_SERVICE, *answer.body["path"]]}


class FlakyAction(Action):
    """Fails (an unexpected exception: SERVER_ERROR) every second call of this worker."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if next(_calls) % 2:
            raise RuntimeError("flaky failed on purpose")
        return {"ok": True}


class MarkerAction(Action):
    """Logs that it ran, with its body's ``tag``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        _logger.info("marker ran %s", request.body.get("tag"))
        return {}


class SleepAction(Action):
    """Sleeps ``body["seconds"]``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(float(request.body["seconds"]))
        return {}


class FirstServer(Server):
    service_name = "first"
    action_class_map = {"hop": HopAction}


class SecondServer(Server):
    service_name = "second"
    action_class_map = {"hop": HopAction}


class ThirdServer(Server):
    service_name = "third"
    action_class_map = {"hop": HopAction, "flaky": FlakyAction, "marker": MarkerAction, "sleep": SleepAction}


if _NESTED_CALL_MARGIN is not None:  # (not read otherwise: baselines without the attribute run these services too)
    for _server_class in (FirstServer, SecondServer, ThirdServer):
        _server_class.nested_call_margin_seconds = float(_NESTED_CALL_MARGIN)


_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {**_TRANSPORT_KWARGS, "receive_timeout_in_seconds": 1},
    },
    "client_routing": {
        name: {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": _TRANSPORT_KWARGS}} for name in ("second", "third")
    },
    "logging": {
        "version": 1,
        "formatters": {"plain": {"format": "%(created).3f %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "root": {"handlers": ["stderr"], "level": "INFO"},
        "disable_existing_loggers": False,
    },
}

#: The server class of each service, by service name.
SERVER_CLASSES = {"first": "FirstServer", "second": "SecondServer", "third": "ThirdServer"}


def serve_command(service: str) -> list[str]:
    """The command line of one worker of ``service`` (``pysoa-like serve``, settings from this module).

    Run it with :func:`serve_environment`, from a directory (or with a ``PYTHONPATH``) where this checkout's
    ``tests`` package and the ``pysoa_like`` under test are found (``benchmarks.failures --baseline`` puts
    the baseline's ``pysoa_like`` first).
    """
    return [
        sys.executable,
        "-m",
        "pysoa_like",
        "serve",
        f"{__name__}:{SERVER_CLASSES[service]}",
        "--settings",
        __name__,
        "--fork",
        "1",
    ]


def serve_environment(redis_url: str, service: str, nested_call_margin: float | None = None) -> dict[str, str]:
    """The environment variables :func:`serve_command` needs: the Redis, which service's settings to use and, if
    given, the seconds the service keeps for its own reply when it calls the next (else the server's default)."""
    environment = {"FUNCTIONAL_REDIS_URL": redis_url, "RESILIENT_SERVICE": service}
    if nested_call_margin is not None:
        environment["RESILIENT_NESTED_CALL_MARGIN"] = str(nested_call_margin)
    return environment


def client_settings(redis_url: str, transport_kwargs: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """Client settings for the three services over ``redis_url`` (``settings`` apply to each of them)."""
    kwargs = {
        "backend_type": "redis.standard",
        "backend_layer_kwargs": {"hosts": [redis_url]},
        **(transport_kwargs or {}),
    }
    transport = {"path": _CLIENT_TRANSPORT, "kwargs": kwargs}
    return {name: {"transport": transport, **settings} for name in SERVER_CLASSES}
