"""A service with periodic tasks under the standalone runner (configured through the environment).

``PERIODIC_TASKS`` (comma-separated) picks the tasks: ``tick`` (every second, records its run),
``slow`` (every second, runs ``PERIODIC_SLOW_SECONDS``), ``coroutine`` (every second, a coroutine),
``method`` (every second, a server method). Runs are recorded in Redis lists ``periodic:<task>`` as
JSON (tick, missed ticks, pid, start and end times).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import redis

from pysoa_like.periodic import PeriodicTask, TaskRun
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.functional.fleet._settings import REDIS_URL, service_settings

_recorder: list[redis.Redis] = []


def _record(run: TaskRun, started: float, **extra: Any) -> None:
    if not _recorder:
        _recorder.append(redis.Redis.from_url(REDIS_URL))
    entry = {"tick": run.tick, "missed": run.missed_ticks, "pid": os.getpid(), "start": started, "end": time.time()}
    _recorder[0].rpush(f"periodic:{run.name}", json.dumps({**entry, **extra}))


def tick(run: TaskRun) -> None:
    _record(run, time.time())


def slow(run: TaskRun) -> None:
    started = time.time()
    time.sleep(float(os.environ.get("PERIODIC_SLOW_SECONDS", "2.5")))
    _record(run, started)


async def coroutine(run: TaskRun) -> None:
    started = time.time()
    await asyncio.sleep(0)
    _record(run, started, coroutine=True)


_ALL = {
    "tick": PeriodicTask("tick", tick, every=1),
    "slow": PeriodicTask("slow", slow, every=1, lock_ttl_seconds=float(os.environ.get("PERIODIC_LOCK_TTL", "30"))),
    "coroutine": PeriodicTask("coroutine", coroutine, every=1),
    "method": PeriodicTask("method", "run_method", every=1),
}


class WhoAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"pid": os.getpid()}


class PeriodicServer(Server):
    """Runs the periodic tasks named by PERIODIC_TASKS."""

    service_name = os.environ.get("FLEET_SERVICE", "periodic")
    action_class_map = {"who": WhoAction}
    periodic_tasks = [_ALL[name] for name in os.environ.get("PERIODIC_TASKS", "tick").split(",")]

    def run_method(self, run: TaskRun) -> None:
        _record(run, time.time(), method=True)


SOA_SERVER_SETTINGS: dict[str, Any] = service_settings(
    registry={"refresh_interval_seconds": 0.5, "ttl_seconds": 2},
)
