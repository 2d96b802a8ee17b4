"""The client's side of the fleet features: which Redis they use, and minimum service versions.

A client finds the fleet's Redis in its ``fleet`` argument, else in its Redis services' transport
settings (when they all name the same Redis). ``minimum_version`` in a service's client settings makes
every call first check, through the registry, that a live instance of that service is recent enough
(the answer is kept for :data:`VERSION_RECHECK_SECONDS`; a refusal for one second).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pysoa_like.client.client import make_context_header
from pysoa_like.fleet.errors import FleetConnectionError, FleetNotConfiguredError, ServiceVersionError
from pysoa_like.fleet.redis import FleetRedis, fleet_settings_from_transport
from pysoa_like.registry.versions import ServiceVersion, meets_minimum

__all__ = ["VERSION_RECHECK_SECONDS", "VersionGate", "event_origin", "resolve_client_fleet"]

_logger = logging.getLogger("pysoa_like.client")

#: How long a passed minimum-version check is trusted before the registry is read again.
VERSION_RECHECK_SECONDS = 30.0
# How long a refusal is repeated without reading the registry again.
_REFUSAL_SECONDS = 1.0


def event_origin(
    base_context: Any, switches: Iterable[Any] | None, correlation_id: str | None, context: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    """The context an event published by a client carries (as a call's would), and the publishing service.

    Args:
        base_context: The client's base context (a server's client for an action: the request's).
        switches: Switches added to the context.
        correlation_id: The correlation id (else the base context's, else a new one).
        context: Extra context keys.
    """
    full_context = make_context_header(base_context, switches, correlation_id, context)
    publisher = base_context.get("calling_service") if isinstance(base_context, Mapping) else None
    return full_context, publisher if isinstance(publisher, str) else None


def resolve_client_fleet(explicit: Any, settings: Mapping[str, Mapping[str, Any]]) -> FleetRedis:
    """The fleet Redis of a client: ``explicit`` if given, else the one its Redis services share.

    Args:
        explicit: The client's ``fleet`` argument: ``None``, a :class:`FleetRedis` or its settings dict.
        settings: The client's validated per-service settings.

    Raises:
        FleetNotConfiguredError: No ``fleet`` and no Redis service, or Redis services naming different Redis.
    """
    if isinstance(explicit, FleetRedis):
        return explicit
    if isinstance(explicit, Mapping):
        return FleetRedis.from_settings(explicit)
    found: list[tuple[str, dict[str, Any]]] = []
    for name, service_settings in settings.items():
        implied = fleet_settings_from_transport(service_settings.get("transport"))
        if implied is not None:
            found.append((name, implied))
    if not found:
        raise FleetNotConfiguredError(
            "This client has no Redis service to find the fleet's Redis from: pass "
            "fleet={'backend_type': 'redis.standard', 'backend_layer_kwargs': {'hosts': [...]}} to Client"
        )
    first_name, first = found[0]
    fleet = FleetRedis.from_settings(first)
    for name, other in found[1:]:
        if not fleet.same_place(other):
            raise FleetNotConfiguredError(
                f"Services {first_name} and {name} use different Redis, so the fleet's Redis is ambiguous: pass "
                "fleet={'backend_type': ..., 'backend_layer_kwargs': ...} to Client"
            )
    return fleet


class VersionGate:
    """Refuses calls to a service while no live instance of it has at least ``minimum`` as its version.

    Args:
        service_name: The service.
        minimum: The minimum version.
        live_versions: Reads the versions of the live instances now, for :meth:`check` (``None``: the gate of an
            ``AsyncClient``, which gives :meth:`check_async` its reader).
    """

    def __init__(self, service_name: str, minimum: str, live_versions: Callable[[], list[str]] | None) -> None:
        self.service_name = service_name
        self.minimum = minimum
        self._live_versions = live_versions
        self._ok_until = 0.0
        self._refused_until = 0.0
        self._refusal: ServiceVersionError | None = None
        self._failing = False

    def check(self) -> None:
        """Return if a live instance is recent enough (or the registry cannot be read); else raise.

        Raises:
            ServiceVersionError: No live instance has the minimum version.
        """
        if self._decided():
            return
        assert self._live_versions is not None, "an AsyncClient's gate is checked with check_async"
        try:
            versions = self._live_versions()
        except FleetConnectionError as exc:
            self._unreadable(exc)
            return
        self._judge(versions)

    async def check_async(self, live_versions: Callable[[], Awaitable[list[str]]]) -> None:
        """:meth:`check` from asyncio code, reading the versions with ``live_versions`` (on the event loop).

        Raises:
            ServiceVersionError: No live instance has the minimum version.
        """
        if self._decided():
            return
        try:
            versions = await live_versions()
        except FleetConnectionError as exc:
            self._unreadable(exc)
            return
        self._judge(versions)

    def _decided(self) -> bool:
        """Whether a recent answer stands: ``True`` for a pass (the refusal is raised); ``False``: read again."""
        now = time.monotonic()
        if now < self._ok_until:
            return True
        if self._refusal is not None and now < self._refused_until:
            raise self._refusal
        return False

    def _unreadable(self, exc: FleetConnectionError) -> None:
        # The call itself will say whether Redis works; a check that cannot be made blocks nothing.
        if not self._failing:
            self._failing = True
            _logger.warning(
                "Cannot check the minimum version %s of service %s (calling it anyway): %s",
                self.minimum,
                self.service_name,
                exc,
            )

    def _judge(self, versions: list[str]) -> None:
        """Pass (remembered for a while) or refuse (raised, remembered for a second) on the live ``versions``."""
        now = time.monotonic()
        self._failing = False
        if any(meets_minimum(version, self.minimum) for version in versions):
            self._ok_until = now + VERSION_RECHECK_SECONDS
            self._refusal = None
            return
        live = tuple(sorted(set(versions), key=ServiceVersion))
        if live:
            detail = f"only older versions are alive ({', '.join(live)})"
        else:
            detail = (
                "no live instance is in the service registry (PySOA servers, and servers with the registry "
                "turned off, never register)"
            )
        self._refusal = ServiceVersionError(
            f"Service {self.service_name} must be at version {self.minimum} or later, but {detail}",
            self.service_name,
            self.minimum,
            live,
        )
        self._refused_until = now + _REFUSAL_SECONDS
        raise self._refusal


def versions_source(service_name: str, transport: Any, transport_settings: Mapping[str, Any]) -> tuple[Any, Any]:
    """Where the live versions of a service reached through ``transport`` are read.

    Returns:
        ``(server, None)``: the local transport's in-process server, whose version is the only one alive; or
        ``(None, fleet_settings)``: the settings of the Redis whose registry lists the service's instances.

    Raises:
        FleetNotConfiguredError: Any other transport (nothing to read versions from).
    """
    server = getattr(transport, "server", None)
    if server is not None and hasattr(server, "get_service_version"):
        return server, None
    implied = fleet_settings_from_transport(transport_settings)
    if implied is None:
        raise FleetNotConfiguredError(
            f"minimum_version for service {service_name} needs the Redis or the local transport (where the "
            "service registry can be read)"
        )
    return None, implied


def live_versions_reader(
    service_name: str, transport: Any, transport_settings: Mapping[str, Any]
) -> Callable[[], list[str]]:
    """How a :class:`VersionGate` reads the live versions of a service reached through ``transport`` (blocking).

    Raises:
        FleetNotConfiguredError: Neither the Redis nor the local transport (see :func:`versions_source`).
    """
    server, implied = versions_source(service_name, transport, transport_settings)
    if server is not None:
        return lambda: [server.get_service_version()]
    from pysoa_like.registry.store import RegistryStore

    store = RegistryStore(FleetRedis.from_settings(implied))
    return lambda: [instance.version for instance in store.instances(service_name)]
