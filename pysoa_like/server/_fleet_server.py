"""What a :class:`~pysoa_like.server.server.Server` declares and reports for the fleet features.

Kept apart from :mod:`pysoa_like.server.server` as a mixin, like the job pipeline and the worker
loop: the service version, deprecated actions, the fleet's Redis, and what the registry and the
``status`` action show about this worker. The background work itself is
:class:`pysoa_like.server._fleet.FleetRuntime`, started by the worker loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pysoa_like.fleet.errors import FleetError, FleetNotConfiguredError

if TYPE_CHECKING:
    from pysoa_like.events.publisher import EventPublisher
    from pysoa_like.events.types import EventType
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.server._fleet import FleetRuntime

__all__ = ["FleetServerMixin", "deprecation_message"]

_publisher_lock = threading.Lock()

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
    _jobs_failed: int
    _event_publisher: EventPublisher | None
    transport: Any

    #: The version this service declares (registry, ``status``, minimum-version checks). ``None``: the
    #: ``status`` action's version (a ``StatusActionFactory`` in ``action_class_map``), else the
    #: ``__version__`` of the server class's top-level package.
    service_version: ClassVar[str | None] = None
    #: Event name (or :class:`~pysoa_like.events.types.EventType`) -> handler: a callable taking the
    #: :class:`~pysoa_like.events.types.Event` (sync or coroutine), the name of a server method, or an
    #: :class:`~pysoa_like.events.types.EventHandler` giving the delivery mode. See ``docs/events.rst``.
    event_handlers: ClassVar[Mapping[Any, Any]] = {}
    #: :class:`~pysoa_like.periodic.tasks.PeriodicTask` objects: run by exactly one worker of the fleet at
    #: each tick. See ``docs/periodic_tasks.rst``.
    periodic_tasks: ClassVar[Sequence[Any]] = ()

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

    def warn_unguarded_private_actions(self) -> None:
        """Log a warning when actions are marked private but no middleware checks API tokens.

        Without :class:`~pysoa_like.auth.ApiTokenMiddleware` (or a middleware with its ``requirement``
        method) in the ``middleware`` setting, anyone can call them.
        """
        private = sorted(
            name
            for name, action_class in self.action_class_map.items()
            if getattr(action_class, "private", False) or getattr(action_class, "required_scopes", None)
        )
        if private and not any(hasattr(m, "requirement") for m in getattr(self, "middleware", ())):
            self.logger.warning(
                "Actions %s of service %s are marked private, but no API token middleware is configured: anyone "
                "can call them (add pysoa_like.auth:ApiTokenMiddleware to the middleware setting)",
                ", ".join(private),
                self.service_name,
            )

    def served_action_names(self) -> list[str]:
        """Every action name this server answers, sorted (the built-in ones included)."""
        return sorted({*self.action_class_map, *_BUILTIN_ACTIONS})

    def served_events(self) -> list[tuple[str, str]]:
        """``(event name, delivery mode)`` of each event this server handles."""
        if not self.event_handlers:
            return []
        from pysoa_like.events.types import EventHandler, event_name

        return [
            (event_name(key), value.mode if isinstance(value, EventHandler) else "pool")
            for key, value in self.event_handlers.items()
        ]

    def check_event_handlers(self) -> None:
        """Check the declared event handlers (names, modes, methods); called when the server is built.

        Raises:
            InvalidEventError: An event name is invalid.
            AttributeError: A handler names a method the server does not have.
        """
        if self.event_handlers:
            from pysoa_like.events.consumer import subscriptions_for

            subscriptions_for(self, 1)  # type: ignore[arg-type]  # a Server

    def publish_event(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        retention_seconds: float | None = None,
    ) -> str:
        """Publish an event from this service (``request.publish_event`` chains the request's context).

        Args:
            name: The event name (or its type).
            body: The body (checked against the declared schema).
            context: The context it carries (correlation id, switches, ...).
            retention_seconds: How long the stream keeps it (default ``events.retention_seconds``).

        Returns:
            The event id.

        Raises:
            InvalidEventError: A bad name or body.
            FleetConnectionError: Redis failed.
            FleetNotConfiguredError: No Redis is known for events (nor the local transport's bus).
        """
        return self.event_publisher().publish(name, body, dict(context or {}), self.service_name, retention_seconds)

    def event_publisher(self) -> EventPublisher:
        """Where this server publishes: the fleet's Redis, or the process's local bus under the local transport.

        Raises:
            FleetNotConfiguredError: Neither.
        """
        publisher = self._event_publisher
        if publisher is not None:
            return publisher
        with _publisher_lock:
            if self._event_publisher is None:
                self._event_publisher = self._make_event_publisher()
            return self._event_publisher

    def _make_event_publisher(self) -> EventPublisher:
        from pysoa_like.common.transport.local import LocalClientTransport, LocalServerTransport

        fleet = self.resolve_fleet()
        if fleet is not None:
            from pysoa_like.events.publisher import RedisEventPublisher

            return RedisEventPublisher(fleet, default_retention_seconds=self.settings["events"]["retention_seconds"])
        if isinstance(self.transport, (LocalClientTransport, LocalServerTransport)):
            from pysoa_like.events.testing import local_event_bus

            return local_event_bus()
        raise FleetNotConfiguredError(
            f"Service {self.service_name} cannot publish events: its transport is not the Redis transport; set the "
            "'fleet' setting to {'backend_type': 'redis.standard', 'backend_layer_kwargs': {'hosts': [...]}}"
        )

    def close_event_publisher(self) -> None:
        """Close the publisher's Redis connections (they reopen if used again)."""
        publisher, self._event_publisher = self._event_publisher, None
        fleet = getattr(publisher, "fleet", None)
        if fleet is not None:
            fleet.close()

    def periodic_task_names(self) -> list[str]:
        """The names of this server's periodic tasks."""
        return [task.name for task in self.periodic_tasks]

    def check_periodic_tasks(self) -> None:
        """Check the declared periodic tasks (types, unique names, methods); called when the server is built.

        Raises:
            TypeError: An entry is not a ``PeriodicTask``.
            ValueError: Two tasks share a name.
            AttributeError: A task names a method the server does not have.
        """
        if self.periodic_tasks:
            from pysoa_like.periodic.tasks import check_periodic_tasks

            check_periodic_tasks(self, self.periodic_tasks)

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
    def jobs_failed(self) -> int:
        """Jobs this worker answered with at least one error (job or action error, caller errors included).

        Counted while the worker runs with a fleet (a Redis transport or the ``fleet`` setting), for the
        registry; a server without one (the local transport) does not count them.
        """
        return self._jobs_failed

    def note_failed_job(
        self, request_id: Any, context: Mapping[str, Any], job_request: Any, response: Mapping[str, Any]
    ) -> None:
        """Count a job answered with errors and hand its errors to the fleet keeper for the registry.

        Called by the request cycle for failed jobs only: a clean job costs nothing here.
        """
        self._jobs_failed += 1
        runtime = self._fleet_runtime
        if runtime is not None:
            runtime.note_errors(request_id, context, job_request, response)

    def describe_actions(self) -> Mapping[str, Any] | None:
        """What the ``introspect`` action answers for all actions (``None`` if it answers with errors).

        The worker publishes it in the registry when it starts, so dashboards show actions and schemas
        without sending the service a request.
        """
        from pysoa_like.server.types import EnrichedActionRequest

        action = self.get_action("introspect")  # type: ignore[attr-defined]  # the request cycle's
        if action is None:
            return None
        response = action(EnrichedActionRequest(action="introspect", body={}, context={}, control={}))
        if response.errors:
            return None
        body: Mapping[str, Any] = response.body
        return body

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
                    instance.update(
                        in_flight=self.jobs_in_flight, jobs_handled=self.jobs_handled, jobs_failed=self.jobs_failed
                    )
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
