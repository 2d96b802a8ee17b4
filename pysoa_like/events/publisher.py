"""Publishing events: checks shared by every publisher, and :class:`RedisEventPublisher` (``XADD``).

Clients (``Client.publish_event``), actions (``request.publish_event``) and handlers
(``event.publish_event``) all end here. An event is appended to the stream of its name,
``pysoa:events:{<name>}``, which keeps it for the retention the publisher gives (``MINID`` trimming,
approximate), so consumer groups of services that are not running get it when they start.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from pysoa_like.common.serializer import Serializer
from pysoa_like.common.serializer.errors import InvalidField
from pysoa_like.events.envelope import encode_event
from pysoa_like.events.types import EventType, declared_event_type, event_name
from pysoa_like.fleet.errors import InvalidEventError
from pysoa_like.fleet.keys import event_stream_key
from pysoa_like.fleet.redis import FleetRedis

__all__ = [
    "DEFAULT_RETENTION_SECONDS",
    "EventPublisher",
    "RedisEventPublisher",
    "StreamEntry",
    "check_event",
]

#: How long a stream keeps events when neither the publisher nor the event type says.
DEFAULT_RETENTION_SECONDS = 24 * 3600.0


class EventPublisher(Protocol):
    """Something events can be published to (Redis, or an in-memory bus in tests)."""

    def publish(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        publisher: str | None,
        retention_seconds: float | None = None,
    ) -> str:
        """Publish one event; return its id."""
        ...


def check_event(name: str | EventType, body: Any) -> tuple[str, EventType | None]:
    """Validate an event before publishing: its name, and its body against its declared schema.

    Returns:
        The name and the declared :class:`EventType` (``None`` when undeclared in this process).

    Raises:
        InvalidEventError: A bad name, a body that is not a dict, or one its schema refuses.
    """
    text = event_name(name)
    if not isinstance(body, Mapping):
        raise InvalidEventError(f"The body of event {text} must be a dict, not {type(body).__name__}")
    declared = name if isinstance(name, EventType) else declared_event_type(text)
    if declared is not None:
        declared.validate(body)
    return text, declared


class RedisEventPublisher:
    """Appends events to their streams on the fleet's Redis.

    Args:
        fleet: Where the streams live.
        serializer: How envelopes are serialized (msgpack by default).
        default_retention_seconds: The retention when neither the call nor the event type gives one.
    """

    def __init__(
        self,
        fleet: FleetRedis,
        serializer: Serializer | None = None,
        default_retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.fleet = fleet
        self.serializer = serializer
        self.default_retention_seconds = default_retention_seconds

    def publish(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        publisher: str | None,
        retention_seconds: float | None = None,
    ) -> str:
        """Append one event to its stream.

        Args:
            name: The event name or type.
            body: The body (checked against the declared schema).
            context: The context it carries (correlation id, switches, ...).
            publisher: The publishing service, if any.
            retention_seconds: How long the stream keeps it at least (approximately).

        Returns:
            The event id (its stream entry id).

        Raises:
            InvalidEventError: A bad name or body.
            FleetConnectionError: Redis failed.
        """
        entry = self.prepare(name, body, context, publisher, retention_seconds)
        entry_id = self.fleet.run(
            entry.key,
            lambda client: client.xadd(
                entry.key,
                entry.fields,  # type: ignore[arg-type]
                minid=entry.min_id,
                approximate=True,
            ),
            f"publishing event {entry.name}",
        )
        return entry_id.decode("ascii") if isinstance(entry_id, bytes) else str(entry_id)

    def prepare(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        publisher: str | None,
        retention_seconds: float | None = None,
    ) -> StreamEntry:
        """Check and encode one event: what to append to which stream (see :meth:`publish`; also used by the
        asyncio twin).

        Raises:
            InvalidEventError: A bad name or body.
        """
        text, declared = check_event(name, body)
        try:
            fields = encode_event(text, body, context, publisher, self.serializer)
        except InvalidField as exc:
            raise InvalidEventError(f"Event {text} cannot be serialized: {exc}") from exc
        retention = retention_seconds or (declared.retention_seconds if declared else None)
        retention = retention or self.default_retention_seconds
        min_id = max(int((time.time() - retention) * 1000), 0)
        return StreamEntry(text, event_stream_key(text), fields, min_id)


class StreamEntry(NamedTuple):
    """An event ready to append: ``XADD <key> MINID ~ <min_id> * <fields>``."""

    #: The event name.
    name: str
    #: Its stream.
    key: str
    #: The envelope's fields.
    fields: Mapping[Any, Any]
    #: Entries older than this id (milliseconds) may be trimmed.
    min_id: int
