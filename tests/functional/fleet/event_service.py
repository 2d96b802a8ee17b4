"""A service handling events under the standalone runner (configured through the environment).

Handlers record what they handled in Redis lists (``handled`` and ``handled:<service>``): JSON of the
event name, body, id, delivery count, pid and context, so tests see every delivery from outside.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis

from pysoa_like.events import BROADCAST, SINGLETON, Event, EventHandler
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.functional.fleet._settings import REDIS_URL, service_settings

_recorder: list[redis.Redis] = []


def _record(event: Event, **extra: Any) -> None:
    if not _recorder:
        _recorder.append(redis.Redis.from_url(REDIS_URL))
    entry = {
        "name": event.name,
        "body": event.body,
        "id": event.id,
        "deliveries": event.delivery_count,
        "pid": os.getpid(),
        "service": os.environ.get("FLEET_SERVICE", "events"),
        "correlation_id": event.correlation_id,
        "switches": event.switches,
        "publisher": event.publisher,
        "mode": event.mode,
        **extra,
    }
    line = json.dumps(entry, sort_keys=True)
    _recorder[0].rpush("handled", line)
    _recorder[0].rpush(f"handled:{entry['service']}", line)


def record(event: Event) -> None:
    """Record the event."""
    _record(event)


async def record_async(event: Event) -> None:
    """Record the event from a coroutine."""
    _record(event, coroutine=True)


def slow(event: Event) -> None:
    """Record a start, sleep ``seconds``, record the end."""
    _record(event, phase="start")
    time.sleep(float(event.body.get("seconds", 1)))
    _record(event, phase="end")


def fail(event: Event) -> None:
    """Record the attempt, then fail (every time, or until delivery ``succeed_on``)."""
    _record(event)
    succeed_on = event.body.get("succeed_on")
    if succeed_on is None or event.delivery_count < succeed_on:
        raise RuntimeError(f"failing on purpose (delivery {event.delivery_count})")


class PublishAction(Action):
    """Publishes ``test.record`` with the request's context chained."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"id": request.publish_event("test.record", dict(request.body))}


class WhoAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"pid": os.getpid()}


class EventServer(Server):
    """Handles the test events."""

    service_name = os.environ.get("FLEET_SERVICE", "events")
    action_class_map = {"publish": PublishAction, "who": WhoAction}
    event_handlers = {
        "test.record": record,
        "test.async": record_async,
        "test.broadcast": EventHandler(record, mode=BROADCAST),
        "test.singleton": EventHandler(record, mode=SINGLETON),
        "test.slow": slow,
        "test.fail": fail,
        "test.method": "on_method",
    }

    def on_method(self, event: Event) -> None:
        _record(event, method=True)


SOA_SERVER_SETTINGS: dict[str, Any] = service_settings(
    registry={"refresh_interval_seconds": 0.5, "ttl_seconds": 2},
    events={
        "redeliver_after_seconds": float(os.environ.get("FLEET_REDELIVER", "2")),
        "max_deliveries": int(os.environ.get("FLEET_MAX_DELIVERIES", "3")),
        "retry_delay_seconds": 0.2,
        "block_seconds": 0.5,
    },
    harakiri={"timeout": 60, "shutdown_grace": int(os.environ.get("FLEET_GRACE", "10"))},
)
