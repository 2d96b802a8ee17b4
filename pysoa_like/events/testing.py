"""Testing with events: publish and assert without Redis, run handlers directly, wait for real handling.

Without Redis (unit tests, server test cases, the local transport):

* clients whose services all use the local transport, and servers run by it, publish to the
  process's :func:`local_event_bus`, an in-memory :class:`LocalEventBus` (a client may also be given
  one: ``Client(..., fleet=LocalEventBus())``);
* :meth:`LocalEventBus.assert_published` checks what was published; :meth:`LocalEventBus.deliver`
  runs a server's handlers on the recorded events, as a worker would (schemas, coroutines);
* :func:`handle_event` runs one handler for one event body.

With Redis and real workers (integration tests), :func:`wait_for_event_handled` waits until a
published event has been handled (acknowledged) by a service's workers, and says if it was
dead-lettered instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attr

from pysoa_like.events.envelope import decode_event, encode_event
from pysoa_like.events.publisher import check_event
from pysoa_like.events.types import Event, EventType
from pysoa_like.fleet._callables import finish
from pysoa_like.fleet.errors import EventDeadLetteredError, InvalidEventError
from pysoa_like.fleet.keys import SINGLETON_GROUP, dead_letter_key, event_stream_key, pool_group

if TYPE_CHECKING:
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.server.server import Server

__all__ = [
    "LocalEventBus",
    "PublishedEvent",
    "handle_event",
    "local_event_bus",
    "reset_local_event_bus",
    "wait_for_event_handled",
]


@attr.s(frozen=True, slots=True)
class PublishedEvent:
    """An event recorded by a :class:`LocalEventBus` (as a handler would get it, after a msgpack round trip)."""

    name: str = attr.ib()
    body: dict[str, Any] = attr.ib()
    context: dict[str, Any] = attr.ib()
    publisher: str | None = attr.ib()
    id: str = attr.ib()
    published_at: float = attr.ib()


class LocalEventBus:
    """An in-memory event publisher for tests: records events instead of sending them to Redis.

    Bodies go through the same checks (name, declared schema) and the same msgpack round trip as over
    Redis, so a body that could not be published for real fails here too.
    """

    def __init__(self) -> None:
        self._events: list[PublishedEvent] = []
        self._lock = threading.Lock()
        self._sequence = 0

    def publish(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any],
        publisher: str | None,
        retention_seconds: float | None = None,
    ) -> str:
        """Record one event; return its id (``"<ms>-<n>"``, as Redis makes them).

        Raises:
            InvalidEventError: A bad name, or a body its schema refuses or msgpack cannot carry.
        """
        text, _ = check_event(name, body)
        try:
            envelope = decode_event(encode_event(text, body, context, publisher))
        except Exception as exc:
            raise InvalidEventError(f"Event {text} cannot be serialized: {exc}") from exc
        with self._lock:
            self._sequence += 1
            event_id = f"{int(time.time() * 1000)}-{self._sequence}"
            event = PublishedEvent(
                text, envelope["body"], envelope["context"], publisher, event_id, envelope["published_at"]
            )
            self._events.append(event)
        return event_id

    def published(self, name: str | EventType | None = None) -> list[PublishedEvent]:
        """The events recorded so far (of one name, or all), oldest first."""
        wanted = name.name if isinstance(name, EventType) else name
        with self._lock:
            return [event for event in self._events if wanted is None or event.name == wanted]

    def assert_published(
        self, name: str | EventType, body: Mapping[str, Any] | None = None, count: int | None = None
    ) -> PublishedEvent:
        """Assert an event of that name (and body, if given) was published (``count`` times, if given).

        Returns:
            The last matching event.

        Raises:
            AssertionError: None matched (the message lists what was published), or not ``count`` of them.
        """
        text = name.name if isinstance(name, EventType) else name
        matching = [event for event in self.published(text) if body is None or event.body == dict(body)]
        if not matching:
            recorded = [(event.name, event.body) for event in self.published()] or "nothing"
            wanted = f"{text} with body {dict(body)!r}" if body is not None else text
            raise AssertionError(f"Expected event {wanted} to be published; published: {recorded}")
        if count is not None and len(matching) != count:
            raise AssertionError(f"Expected event {text} to be published {count} times, not {len(matching)}")
        return matching[-1]

    def assert_not_published(self, name: str | EventType) -> None:
        """Assert no event of that name was published.

        Raises:
            AssertionError: One was (the message shows the bodies).
        """
        found = self.published(name)
        if found:
            raise AssertionError(f"Expected no {found[0].name} event, got {[event.body for event in found]}")

    def clear(self) -> None:
        """Forget every recorded event."""
        with self._lock:
            self._events.clear()

    def deliver(self, server: Server, name: str | EventType | None = None) -> list[Event]:
        """Run ``server``'s handlers on the recorded events it handles (of one name, or all), in order.

        Returns:
            The events delivered.

        Raises:
            Exception: Whatever a handler raised (the remaining events are not delivered).
            InvalidEventError: An event's body fails the handler's schema.
        """
        handled = {event_name for event_name, _ in server.served_events()}
        delivered = []
        for event in self.published(name):
            if event.name in handled:
                delivered.append(handle_event(server, event.name, event.body, event.context, event_id=event.id))
        return delivered


_default_bus = LocalEventBus()


def local_event_bus() -> LocalEventBus:
    """The process-wide bus that clients and servers on the local transport publish to."""
    return _default_bus


def reset_local_event_bus() -> LocalEventBus:
    """Forget what the process-wide bus recorded (the pytest fixture ``event_bus`` does it per test)."""
    _default_bus.clear()
    return _default_bus


def handle_event(
    server: Server,
    name: str | EventType,
    body: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    event_id: str = "0-1",
    delivery_count: int = 1,
) -> Event:
    """Run ``server``'s handler for one event now, in this thread, as a worker would.

    The body is checked against the declared schema and the handler's; a coroutine handler is run to
    completion on a new event loop.

    Returns:
        The event the handler got.

    Raises:
        KeyError: The server has no handler for that event.
        InvalidEventError: The body fails a schema.
        Exception: Whatever the handler raised.
    """
    from pysoa_like.events.consumer import subscriptions_for

    text = name.name if isinstance(name, EventType) else name
    subscription = next((s for s in subscriptions_for(server, 1) if s.name == text), None)
    if subscription is None:
        raise KeyError(f"{type(server).__name__} has no handler for event {text!r}")
    problems = subscription.problems(dict(body))
    if problems:
        raise InvalidEventError(f"Invalid body for event {text}: {'; '.join(problems)}")
    event = Event(
        name=text,
        body=dict(body),
        id=event_id,
        context=dict(context or {}),
        published_at=time.time(),
        publisher=None,
        delivery_count=delivery_count,
        mode=subscription.mode,
        server=server,
    )
    finish(subscription.handle(event))
    return event


def wait_for_event_handled(
    fleet: FleetRedis | Any,
    name: str | EventType,
    event_id: str,
    service: str | None = None,
    timeout: float = 10.0,
) -> None:
    """Wait until an event was handled by a service's workers (or by a singleton handler).

    Handled means acknowledged by the consumer group: delivered, and no longer pending.

    Args:
        fleet: A :class:`~pysoa_like.fleet.redis.FleetRedis`, or a client (its ``fleet_redis()`` is used).
        name: The event name or type.
        event_id: The id ``publish_event`` returned.
        service: The subscribing service (its service-pool group); ``None`` for the singleton group.
        timeout: The most seconds to wait.

    Raises:
        EventDeadLetteredError: It was dead-lettered instead (the message gives the reason).
        TimeoutError: It was not handled in time (the message says whether it was delivered at all).
    """
    if hasattr(fleet, "fleet_redis"):
        fleet = fleet.fleet_redis()
    text = name.name if isinstance(name, EventType) else name
    stream, group = event_stream_key(text), pool_group(service) if service else SINGLETON_GROUP
    client = fleet.client_for(stream)
    deadline = time.monotonic() + timeout
    state = "the group does not exist"
    while True:
        groups = {_text(info["name"]): info for info in _groups(client, stream)}
        info = groups.get(group)
        if info is not None:
            delivered = _id_tuple(_text(info["last-delivered-id"])) >= _id_tuple(event_id)
            pending = client.xpending_range(stream, group, event_id, event_id, 1)
            if delivered and not pending:
                reason = _dead_reason(client, text, event_id, group)
                if reason is not None:
                    raise EventDeadLetteredError(f"Event {text} {event_id} was dead-lettered by {group}: {reason}")
                return
            state = "delivered, not yet acknowledged" if delivered else "not yet delivered"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"Event {text} {event_id} was not handled by {group} within {timeout} s ({state})")
        time.sleep(0.05)


def _groups(client: Any, stream: str) -> list[dict[str, Any]]:
    import redis

    try:
        return list(client.xinfo_groups(stream))
    except redis.ResponseError:
        return []


def _dead_reason(client: Any, name: str, event_id: str, group: str) -> str | None:
    for _, fields in client.xrange(dead_letter_key(name)):
        if _text(fields.get(b"event_id")) == event_id and _text(fields.get(b"group")) == group:
            return _text(fields.get(b"reason"))
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)
