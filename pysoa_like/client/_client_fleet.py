"""The fleet features of a blocking :class:`~pysoa_like.client.client.Client`: the fleet's Redis, the service
registry, events.

A base class of ``Client`` (its methods are the client's), kept apart from the call path: the fleet modules are
imported only when a feature is first used, and a server builds a client per job that most jobs only call with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client._client_base import ClientBase

if TYPE_CHECKING:
    from pysoa_like.client.client import ServiceHandler  # noqa: F401  (the string base below; client.py imports this module)
    from pysoa_like.events.types import EventType
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.registry.records import ServiceInfo

__all__ = ["ClientFleetFeatures"]


class ClientFleetFeatures(ClientBase["ServiceHandler"]):
    """``Client``'s fleet features (see the ``fleet`` argument of :class:`~pysoa_like.client.client.Client`)."""

    # Made when first needed.
    _fleet: Any = None
    _publisher: Any = None

    def fleet_redis(self) -> FleetRedis:
        """The Redis of the fleet features for this client (see the ``fleet`` argument).

        Raises:
            FleetNotConfiguredError: No ``fleet`` was given and the Redis services do not name one Redis.
        """
        if self._fleet is None:
            from pysoa_like.client._fleet import resolve_client_fleet

            if _is_event_bus(self._fleet_argument):
                from pysoa_like.fleet.errors import FleetNotConfiguredError

                raise FleetNotConfiguredError("This client's fleet is an in-memory event bus: it has no Redis")
            self._fleet = resolve_client_fleet(self._fleet_argument, self.settings)
        fleet: FleetRedis = self._fleet
        return fleet

    def list_services(self, service_names: Iterable[str] | None = None, queue_depths: bool = True) -> list[ServiceInfo]:
        """The live services in the service registry, with their instances, versions, queue depth and load.

        Args:
            service_names: Only these services (each listed even with no live instance); ``None`` for every
                service with at least one live instance.
            queue_depths: Also read each service's request queue depth.

        Returns:
            :class:`~pysoa_like.registry.records.ServiceInfo` records, sorted by name.

        Raises:
            FleetNotConfiguredError: The fleet's Redis is unknown (see the ``fleet`` argument).
            FleetConnectionError: Redis failed.
        """
        from pysoa_like.registry.store import RegistryStore

        return RegistryStore(self.fleet_redis()).list_services(service_names, queue_depths)

    def publish_event(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        retention_seconds: float | None = None,
    ) -> str:
        """Publish an event: every service handling it gets it (see ``docs/events.rst``).

        The event carries this client's context (as a call would: its base context, ``switches``,
        ``correlation_id``, or a new one, and ``context``), so a client made by a server for an action
        (``request.client``) chains the request's.

        Args:
            name: The event name (``"user.created"``) or its :class:`~pysoa_like.events.types.EventType`.
            body: The body: a dict of what action bodies may hold; checked against the declared schema.
            context: Extra context keys.
            switches: Switches added to the context.
            correlation_id: The correlation id (else the base context's, else a new one).
            retention_seconds: How long the stream keeps it for subscribers not running now (default: the
                event type's, else 24 hours).

        Returns:
            The event id (``"1700000000000-0"``).

        Raises:
            InvalidEventError: A bad name, or a body its schema refuses or the serializer cannot carry.
            FleetNotConfiguredError: The fleet's Redis is unknown (see the ``fleet`` argument).
            FleetConnectionError: Redis failed.
        """
        from pysoa_like.client._fleet import event_origin

        full_context, publisher = event_origin(self.context, switches, correlation_id, context)
        event_id: str = self._event_publisher().publish(name, body, full_context, publisher, retention_seconds)
        return event_id

    def _event_publisher(self) -> Any:
        publisher = self._publisher
        if publisher is not None:
            return publisher
        if _is_event_bus(self._fleet_argument):
            publisher = self._fleet_argument
        elif self._fleet_argument is None and self.settings and all(_is_local(s) for s in self.settings.values()):
            from pysoa_like.events.testing import local_event_bus

            publisher = local_event_bus()
        else:
            from pysoa_like.events.publisher import RedisEventPublisher

            publisher = RedisEventPublisher(self.fleet_redis())
        self._publisher = publisher
        return publisher


def _is_event_bus(value: Any) -> bool:
    """Whether a ``fleet`` argument is an in-memory event bus (tests) rather than Redis settings."""
    return value is not None and not isinstance(value, Mapping) and callable(getattr(value, "publish", None))


_LOCAL_CLIENT_TRANSPORT = "pysoa_like.common.transport.local:LocalClientTransport"


def _is_local(service_settings: Any) -> bool:
    """Whether a service's client settings use the local transport (or a subclass)."""
    transport = service_settings.get("transport") or {}
    if transport.get("path") == _LOCAL_CLIENT_TRANSPORT:
        return True
    transport_class = transport.get("object")
    if isinstance(transport_class, type):
        from pysoa_like.common.transport.local import LocalClientTransport

        return issubclass(transport_class, LocalClientTransport)
    return False
