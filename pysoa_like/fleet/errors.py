"""Exceptions of the fleet features: events, periodic tasks and the service registry.

Tree (a branch of :class:`~pysoa_like.common.errors.PySOAError`)::

    FleetError
    ├── FleetNotConfiguredError      no Redis for events and the registry could be found
    ├── FleetConnectionError         Redis failed while publishing, reading the registry, ...
    ├── InvalidEventError            a bad event name or a body its schema refuses (also a ValueError)
    ├── ServiceVersionError          no live instance of a service meets the minimum version asked for
    └── EventDeadLetteredError       (test helper) the event waited for was dead-lettered instead
"""

from __future__ import annotations

from pysoa_like.common.errors import PySOAError

__all__ = [
    "EventDeadLetteredError",
    "FleetConnectionError",
    "FleetError",
    "FleetNotConfiguredError",
    "InvalidEventError",
    "ServiceVersionError",
]


class FleetError(PySOAError):
    """The base of the fleet features' errors."""


class FleetNotConfiguredError(FleetError):
    """No Redis is known for events and the registry: configure ``fleet`` (see the message for how)."""


class FleetConnectionError(FleetError):
    """Redis failed (or could not be reached) while serving a fleet feature."""


class InvalidEventError(FleetError, ValueError):
    """An event name is invalid, or an event body fails its schema (the message lists each problem)."""


class ServiceVersionError(FleetError):
    """A client requires a minimum version of a service and no live instance of that service has it.

    Args:
        message: What was required and what is alive.
        service_name: The service called.
        minimum_version: The version required.
        live_versions: The versions of the live instances (possibly none).
    """

    def __init__(
        self, message: str, service_name: str, minimum_version: str, live_versions: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.service_name = service_name
        self.minimum_version = minimum_version
        self.live_versions = live_versions


class EventDeadLetteredError(FleetError):
    """The event a test waited for was moved to the dead-letter stream instead of being handled."""
