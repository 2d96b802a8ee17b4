"""What events are: declared types with schemas, handler declarations, delivery modes, and the event a handler gets.

A service declares the events it handles beside its actions::

    USER_CREATED = EventType("user.created", schema=fields.Dictionary({"id": fields.Integer()}))

    class MailServer(Server):
        service_name = "mail"
        event_handlers = {
            USER_CREATED: send_welcome_mail,                              # service pool (the default)
            "cache.flush": EventHandler("flush_cache", mode=BROADCAST),   # a method of the server
        }

Declaring an :class:`EventType` puts it in this process's catalog, so every publish of that name
here is checked against its schema, and so is every delivery to a handler here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attr

from pysoa_like.common.schema import resolve_schema
from pysoa_like.fleet._callables import bind_to_server
from pysoa_like.fleet.errors import InvalidEventError
from pysoa_like.fleet.keys import validate_event_name

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = [
    "BROADCAST",
    "DELIVERY_MODES",
    "SERVICE_POOL",
    "SINGLETON",
    "Event",
    "EventHandler",
    "EventType",
    "declared_event_type",
    "schema_problems",
]

#: Each event is handled once per subscribing service, by one of its instances (the default).
SERVICE_POOL = "pool"
#: Each event is handled by every live instance.
BROADCAST = "broadcast"
#: Each event is handled once in the whole fleet, by one instance of any service subscribing this way.
SINGLETON = "singleton"
DELIVERY_MODES = (SERVICE_POOL, BROADCAST, SINGLETON)

_catalog: dict[str, EventType] = {}
_catalog_lock = threading.Lock()


@attr.s(frozen=True, slots=True, eq=False)
class EventType:
    """A declared event: its name, the schema of its body, and how long its stream keeps it.

    Building one registers it in this process's catalog; declaring the same name again with another
    schema is an error (the same schema object is fine, so modules may be reloaded).

    Args:
        name: Letters, digits and ``. _ - : /`` (``"user.created"``).
        schema: Anything action schemas may be (a field, a pydantic model, a TypedDict), or ``None``.
        retention_seconds: How long published events stay in the stream for subscribers that are
            not running (``None``: the publisher's default, 24 hours).
        description: Documentation.

    Raises:
        ValueError: The name is invalid, or it is already declared with another schema.
    """

    name: str = attr.ib()
    schema: Any = attr.ib(default=None)
    retention_seconds: float | None = attr.ib(default=None)
    description: str | None = attr.ib(default=None)

    def __attrs_post_init__(self) -> None:
        validate_event_name(self.name)
        with _catalog_lock:
            known = _catalog.get(self.name)
            if known is not None and known.schema is not self.schema:
                raise ValueError(f"Event {self.name!r} is already declared with another schema")
            _catalog[self.name] = self

    def validate(self, body: Any) -> None:
        """Check ``body`` against the schema.

        Raises:
            InvalidEventError: The body does not match (the message lists each problem).
        """
        problems = schema_problems(self.schema, body)
        if problems:
            raise InvalidEventError(f"Invalid body for event {self.name}: {'; '.join(problems)}")


def declared_event_type(name: str) -> EventType | None:
    """The :class:`EventType` declared in this process under ``name``, if any."""
    return _catalog.get(name)


def schema_problems(schema: Any, body: Any) -> list[str]:
    """Each problem ``schema`` finds in ``body``, as ``"pointer: message"`` (none without a schema)."""
    if schema is None:
        return []
    if not isinstance(body, Mapping):
        return [f"the body must be a dict, not {type(body).__name__}"]
    return [f"{p.pointer or 'body'}: {p.message}" for p in resolve_schema(schema).errors(body)]


def _check_mode(instance: Any, attribute: Any, value: str) -> None:
    if value not in DELIVERY_MODES:
        raise ValueError(f"Invalid delivery mode {value!r}: use one of {', '.join(DELIVERY_MODES)}")


@attr.s(frozen=True, slots=True)
class EventHandler:
    """How a server handles one event.

    Args:
        handler: A callable taking the :class:`Event` (a function or coroutine function), or the name
            of a method of the server (``"on_user_created"``), called the same way.
        mode: :data:`SERVICE_POOL` (default), :data:`BROADCAST` or :data:`SINGLETON`.
        schema: Checked on delivery (on top of the declared :class:`EventType`'s, if any); an event whose
            body fails is dead-lettered at once.
        max_deliveries: Deliveries before the event is dead-lettered (``None``: the server's
            ``events.max_deliveries``).
        start_from: Where a consumer group created by this handler starts: ``"new"`` (default: events
            published from then on) or ``"earliest"`` (everything the stream still holds). Ignored for
            broadcast handlers, which always start at events published after the worker started.

    Raises:
        ValueError: An unknown mode or ``start_from``.
    """

    handler: Callable[[Event], Any] | str = attr.ib()
    mode: str = attr.ib(default=SERVICE_POOL, validator=_check_mode)
    schema: Any = attr.ib(default=None)
    max_deliveries: int | None = attr.ib(default=None)
    start_from: str = attr.ib(default="new")

    def __attrs_post_init__(self) -> None:
        if self.start_from not in ("new", "earliest"):
            raise ValueError(f"Invalid start_from {self.start_from!r}: use 'new' or 'earliest'")
        if self.max_deliveries is not None and self.max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")

    def bind(self, server: Any) -> Callable[[Event], Any]:
        """The callable to run for ``server``: the handler, or the server's method it names.

        Raises:
            AttributeError: The server has no such method.
        """
        return bind_to_server(self.handler, server, "to handle events")


@attr.s(slots=True)
class Event:
    """One delivery of an event to a handler.

    Attributes:
        name: The event name.
        body: The event body (a dict).
        id: The stream entry id (``"1700000000000-0"``); unique per event and name.
        context: The publisher's context: ``correlation_id``, ``switches``, and any other keys.
        published_at: When it was published (Unix time, the publisher's clock).
        publisher: The service that published it (``None`` from a plain client).
        delivery_count: How many times it has been delivered, this time included (``1`` the first time).
        mode: The delivery mode of the handler getting it.
        server: The server handling it (``None`` outside a server).
    """

    name: str = attr.ib()
    body: dict[str, Any] = attr.ib(factory=dict)
    id: str = attr.ib(default="")
    context: dict[str, Any] = attr.ib(factory=dict)
    published_at: float = attr.ib(default=0.0)
    publisher: str | None = attr.ib(default=None)
    delivery_count: int = attr.ib(default=1)
    mode: str = attr.ib(default=SERVICE_POOL)
    server: Server | None = attr.ib(default=None, repr=False, eq=False)
    _client: Any = attr.ib(default=None, repr=False, eq=False, init=False)

    @property
    def correlation_id(self) -> str | None:
        """The correlation id the event carries (the publishing request's), if any."""
        value = self.context.get("correlation_id")
        return value if isinstance(value, str) else None

    @property
    def switches(self) -> list[int]:
        """The switches the event carries."""
        return list(self.context.get("switches") or [])

    @property
    def client(self) -> Any:
        """A client for calls made while handling the event, carrying its context (correlation id, switches).

        Raises:
            RuntimeError: The event is not handled by a server.
        """
        if self._client is None:
            if self.server is None:
                raise RuntimeError("This event is not being handled by a server: it has no client")
            self._client = self.server.make_client(self.context)
        return self._client

    def publish_event(self, name: str | EventType, body: Mapping[str, Any], **kwargs: Any) -> str:
        """Publish another event with this event's context (correlation id, switches, ...) chained.

        Args:
            name: The event name (or its :class:`EventType`).
            body: Its body.
            **kwargs: ``retention_seconds``, and ``context`` keys to add.

        Returns:
            The new event's id.

        Raises:
            RuntimeError: The event is not handled by a server.
        """
        if self.server is None:
            raise RuntimeError("This event is not being handled by a server: publish through a client instead")
        extra = kwargs.pop("context", None) or {}
        return self.server.publish_event(name, body, context={**self.context, **extra}, **kwargs)


def event_name(name: str | EventType) -> str:
    """The name of an event given by name or by :class:`EventType` (validated).

    Raises:
        InvalidEventError: Not a valid event name.
    """
    text = name.name if isinstance(name, EventType) else name
    try:
        return validate_event_name(text)
    except ValueError as exc:
        raise InvalidEventError(str(exc)) from exc
