"""What a :class:`~pysoa_like.server.server.Server` declares and reports for the fleet features.

Kept apart from :mod:`pysoa_like.server.server` as a mixin, like the job pipeline and the worker
loop: the service version, deprecated actions, the fleet's Redis, and what the registry and the
``status`` action show about this worker. The background work itself is
:class:`pysoa_like.server._fleet.FleetRuntime`, started by the worker loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pysoa_like.fleet.errors import FleetError

if TYPE_CHECKING:
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.server._fleet import FleetRuntime

__all__ = ["FleetServerMixin", "deprecation_message"]

_BUILTIN_ACTIONS = ("introspect", "status")


def deprecation_message(action_class: Any) -> str | None:
    """What an action class's ``deprecated`` attribute says (``None`` when it is not deprecated)."""
    marker = getattr(action_class, "deprecated", None)
    if not marker:
        return None
    if isinstance(marker, str):
        return marker
    return "This action is deprecated"


class FleetServerMixin:
    """Service version, deprecations, and the fleet's view of one worker; see :class:`Server`."""

    service_name: ClassVar[str | None]
    action_class_map: ClassVar[Mapping[str, Any]]
    settings: Any
    logger: logging.Logger
    _fleet_runtime: FleetRuntime | None
    _in_flight: int
    _jobs_handled: int

    #: The version this service declares (registry, ``status``, minimum-version checks). ``None``: the
    #: ``status`` action's version (a ``StatusActionFactory`` in ``action_class_map``), else the
    #: ``__version__`` of the server class's top-level package.
    service_version: ClassVar[str | None] = None

    def get_service_version(self) -> str:
        """The version this service declares (see :attr:`service_version`)."""
        declared = type(self).service_version
        if declared:
            return str(declared)
        status_class = self.action_class_map.get("status")
        version = getattr(status_class, "_version", None)
        if isinstance(version, str):
            return version
        from pysoa_like.server.action.status import make_default_status_action_class

        return str(make_default_status_action_class(type(self))._version)

    def served_action_names(self) -> list[str]:
        """Every action name this server answers, sorted (the built-in ones included)."""
        return sorted({*self.action_class_map, *_BUILTIN_ACTIONS})

    def served_events(self) -> list[tuple[str, str]]:
        """``(event name, delivery mode)`` of each event this server handles."""
        return []

    def periodic_task_names(self) -> list[str]:
        """The names of this server's periodic tasks."""
        return []

    def fleet_features_declared(self) -> list[str]:
        """The features this server declares that need the fleet's Redis (for a clear error without one)."""
        declared = []
        if self.served_events():
            declared.append("event handlers")
        if self.periodic_task_names():
            declared.append("periodic tasks")
        if self.settings["dependencies"]["services"]:
            declared.append("dependencies")
        return declared

    @property
    def deprecated_actions(self) -> Mapping[str, str]:
        """Deprecated action name -> what its ``deprecated`` attribute says."""
        found = {}
        for name, action_class in self.action_class_map.items():
            message = deprecation_message(action_class)
            if message is not None:
                found[name] = message
        return found

    @property
    def jobs_in_flight(self) -> int:
        """Jobs this worker is running now (0 or 1 for the sync worker)."""
        return self._in_flight

    @property
    def jobs_handled(self) -> int:
        """Jobs this worker received so far."""
        return self._jobs_handled

    @property
    def fleet_runtime(self) -> FleetRuntime | None:
        """The running fleet companion of this worker (``None`` outside :meth:`run` or without a fleet)."""
        return self._fleet_runtime

    def resolve_fleet(self) -> FleetRedis | None:
        """The Redis of the fleet features: the ``fleet`` setting, else the Redis transport's; ``None`` for neither."""
        from pysoa_like.fleet.redis import FleetRedis, fleet_settings_from_transport

        configured = self.settings["fleet"] or fleet_settings_from_transport(self.settings["transport"])
        return FleetRedis.from_settings(configured) if configured else None

    def fleet_status(self) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """What the ``status`` action adds to its health check: diagnostics and warnings.

        Outside a running worker with a fleet, nothing. Otherwise ``registry`` (this service's live
        instances, versions, request queue depth and jobs in flight, and this worker's instance id) and,
        when dependencies are declared, ``dependencies`` with a ``DEPENDENCY_UNAVAILABLE`` warning for
        each required service that has no live instance of a sufficient version.
        """
        runtime = self._fleet_runtime
        if runtime is None:
            return {}, []
        diagnostics: dict[str, Any] = {}
        warnings: list[tuple[str, str]] = []
        try:
            (service,) = runtime.store.list_services([str(self.service_name)])
            summary = service.to_dict()
            # This worker's own figures are known now, not as of its last refresh.
            for instance in summary["instances"]:
                if instance["instance_id"] == runtime.instance_id:
                    summary["in_flight"] += self.jobs_in_flight - instance["in_flight"]
                    instance.update(in_flight=self.jobs_in_flight, jobs_handled=self.jobs_handled)
            diagnostics["registry"] = dict(summary, instance_id=runtime.instance_id)
        except FleetError as exc:
            warnings.append(("REGISTRY_UNAVAILABLE", f"Could not read the service registry: {exc}"))
        if self.settings["dependencies"]["services"]:
            try:
                report = runtime.check_dependencies()
            except FleetError as exc:
                warnings.append(("DEPENDENCIES_UNKNOWN", f"Could not read the service registry: {exc}"))
            else:
                diagnostics["dependencies"] = report
                for name, entry in report.items():
                    if not entry["available"]:
                        minimum = entry["minimum_version"]
                        wanted = f" of version {minimum} or later" if minimum else ""
                        alive = ", ".join(entry["versions"]) or "none"
                        warnings.append(
                            (
                                "DEPENDENCY_UNAVAILABLE",
                                f"Required service {name} has no live instance{wanted} (live versions: {alive})",
                            )
                        )
        return diagnostics, warnings
