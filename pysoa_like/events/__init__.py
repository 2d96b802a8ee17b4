"""Events: publish from clients and actions, handle in services, durably, on Redis Streams.

See ``docs/events.rst``. The names users touch::

    from pysoa_like.events import BROADCAST, SERVICE_POOL, SINGLETON, Event, EventHandler, EventType

    client.publish_event("user.created", {"id": 42})       # from a client
    request.publish_event("order.paid", {"id": 7})         # from an action: the request's context chained
    event.publish_event("mail.sent", {...})                # from a handler: the event's context chained
"""

from __future__ import annotations

from pysoa_like.events.types import (
    BROADCAST,
    DELIVERY_MODES,
    SERVICE_POOL,
    SINGLETON,
    Event,
    EventHandler,
    EventType,
    declared_event_type,
)

__all__ = [
    "BROADCAST",
    "DELIVERY_MODES",
    "SERVICE_POOL",
    "SINGLETON",
    "Event",
    "EventHandler",
    "EventType",
    "declared_event_type",
]
