"""A sync worker's fleet companion: registry entry, dependency gating, events and periodic tasks.

The request path stays as it was: the main thread blocks on the request queue and runs one job at a
time. Everything else happens in background threads of the same process, each with its own Redis
connections:

* the **keeper** (``pysoa-like-fleet``) refreshes the registry entry, stores the errors of failed jobs
  for dashboards, claims periodic ticks and keeps the events and ticks in hand claimed; it never runs
  user code, so a slow handler or task cannot make the worker look dead;
* one **event reader** per group of streams read together (``pysoa-like-events-N``) reads, runs the
  handlers (one at a time per process) and acknowledges;
* each claimed periodic tick runs in a thread of its own (``pysoa-like-periodic-<task>``).

See ``docs/service_registry.rst``, ``docs/events.rst`` and ``docs/periodic_tasks.rst`` for the
consequences (thread safety, harakiri, graceful shutdown).
"""

from __future__ import annotations

import collections
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.fleet.errors import FleetError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.records import InstanceInfo, RecentError
from pysoa_like.registry.store import RegistryStore
from pysoa_like.registry.versions import meets_minimum
from pysoa_like.server._outage import outage_backoff_seconds
from pysoa_like.version import __version__

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["FleetRuntime", "make_instance_id"]

_logger = logging.getLogger("pysoa_like.fleet")

# How often the keeper wakes up (registry refreshes, ticks and claims are each due less often).
_KEEPER_PERIOD_SECONDS = 0.2
# How often dependency gating looks at the registry again.
_DEPENDENCY_POLL_SECONDS = 0.5
# Errors of failed jobs waiting for the keeper to store them: beyond this, the oldest are dropped.
_PENDING_ERRORS_HELD = 100
# Errors kept per failed job (a job of many failed actions is shown by its first few).
_ERRORS_PER_JOB = 5
# Error messages are cut at this length in the registry.
_MESSAGE_LIMIT = 500


def _errors_of(response: Mapping[str, Any], job_request: Any) -> list[tuple[str | None, Mapping[str, Any]]]:
    """``(action name or None, error dict)`` of a job response's errors, at most ``_ERRORS_PER_JOB``."""
    found: list[tuple[str | None, Mapping[str, Any]]] = []
    for error in response.get("errors") or ():
        if isinstance(error, Mapping):
            found.append((None, error))
    requested = job_request.get("actions") if isinstance(job_request, Mapping) else None
    for position, action in enumerate(response.get("actions") or ()):
        if not isinstance(action, Mapping):
            continue
        name = action.get("action")
        if name is None and isinstance(requested, list | tuple) and position < len(requested):
            name = requested[position].get("action") if isinstance(requested[position], Mapping) else None
        for error in action.get("errors") or ():
            if isinstance(error, Mapping):
                found.append((None if name is None else str(name), error))
    return found[:_ERRORS_PER_JOB]


def make_instance_id() -> str:
    """A new worker instance id: ``<host>:<pid>:<8 random hex digits>``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class _Problem:
    """Logs a failing operation once when it starts failing and once when it recovers.

    Args:
        what: The operation, after "Could not" / "Could".
        recovered: The line logged when it works again (default ``Could <what> again``).
    """

    def __init__(self, what: str, recovered: str | None = None) -> None:
        self._what = what
        self._recovered = recovered if recovered is not None else f"Could {what} again"
        self._failing = False

    def failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            _logger.warning("Could not %s (will keep trying): %s", self._what, exc)

    def succeeded(self) -> None:
        if self._failing:
            self._failing = False
            _logger.info("%s", self._recovered)


class FleetRuntime:
    """The fleet features of one running sync worker (see the module docstring).

    Args:
        server: The server whose worker this is.
        fleet: Where the fleet keys live.
    """

    def __init__(self, server: Server, fleet: FleetRedis) -> None:
        self.server = server
        self.fleet = fleet
        self.instance_id = make_instance_id()
        self.started_at = time.time()
        registry = server.settings["registry"]
        self.registry_enabled: bool = bool(registry["enabled"])
        self.refresh_interval: float = float(registry["refresh_interval_seconds"])
        self.ttl: float = float(registry["ttl_seconds"])
        self.store = RegistryStore(fleet)
        self.state = "starting"
        self.dependencies: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._keeper_stop = threading.Event()
        self._keeper: threading.Thread | None = None
        # Running features (event readers, periodic tasks): joined at stop.
        self._components: list[Any] = []
        self._next_refresh = 0.0
        self._registry_problem = _Problem("refresh the service registry entry")
        # Work the keeper does on each wake-up besides the registry, added by the features.
        self._keeper_tasks: list[Callable[[float], None]] = []
        # Errors of failed jobs, appended by the request loop, stored by the keeper (deque: thread-safe ends).
        self._pending_errors: collections.deque[RecentError] = collections.deque(maxlen=_PENDING_ERRORS_HELD)
        self._errors_problem = _Problem("store recent errors in the service registry")
        # The introspect answer not stored yet (Redis failed): the keeper tries again, backing off as the worker does.
        self._unpublished_actions: Any = None
        # The introspect answer published, kept to publish it again when Redis loses it (restarting empty).
        self._published_actions: Any = None
        self._publish_failures = 0
        self._next_publish = 0.0
        self._actions_problem = _Problem(
            "publish the actions in the service registry", "Published the actions in the service registry"
        )

    # Registry

    def instance_info(self) -> InstanceInfo:
        """This worker's registry record, as of now."""
        server = self.server
        return InstanceInfo(
            service=str(server.service_name),
            instance_id=self.instance_id,
            version=server.get_service_version(),
            host=socket.gethostname(),
            pid=os.getpid(),
            fork_id=server.forked_process_id,
            started_at=self.started_at,
            concurrency=server.concurrency,
            worker="asyncio" if server.concurrency > 1 else "sync",
            actions=tuple(server.served_action_names()),
            events=tuple(server.served_events()),
            periodic_tasks=tuple(server.periodic_task_names()),
            deprecated_actions=dict(server.deprecated_actions),
            state=self.state,
            in_flight=server.jobs_in_flight,
            jobs_handled=server.jobs_handled,
            jobs_failed=server.jobs_failed,
            dependencies=dict(self.dependencies),
            library_version=__version__,
            ttl_seconds=self.ttl,
        )

    def refresh_registry(self) -> None:
        """Write this worker's entry now (failures are logged, never raised)."""
        if not self.registry_enabled:
            return
        try:
            _, actions_published = self.store.heartbeat(self.instance_info(), self.ttl)
            self._registry_problem.succeeded()
        except FleetError as exc:
            self._registry_problem.failed(exc)
        else:
            if not actions_published:
                self._actions_lost()
        self._next_refresh = time.monotonic() + self.refresh_interval

    def _actions_lost(self) -> None:
        """The registry no longer holds the published introspect answer (Redis restarted empty, or someone deleted
        it): the keeper publishes it again at its next wake-up."""
        lost = self._published_actions
        if lost is None or self._unpublished_actions is not None:
            return  # never published (none to publish, or not yet stored): nothing lost
        _logger.info(
            "The service registry no longer holds the published actions (Redis restarted empty, or the key was "
            "removed): publishing them again"
        )
        self._published_actions = None
        self._publish_failures = 0
        self._next_publish = 0.0
        self._unpublished_actions = lost

    def note_errors(
        self, request_id: Any, context: Mapping[str, Any], job_request: Any, response: Mapping[str, Any]
    ) -> None:
        """Keep the errors of a failed job until the keeper stores them (called by the request loop)."""
        if not self.registry_enabled:
            return
        now = time.time()
        service = str(self.server.service_name)
        correlation_id = context.get("correlation_id")
        for action, error in _errors_of(response, job_request):
            field = error.get("field")
            self._pending_errors.append(
                RecentError(
                    service=service,
                    instance_id=self.instance_id,
                    time=now,
                    request_id=None if request_id is None else str(request_id),
                    correlation_id=None if correlation_id is None else str(correlation_id),
                    action=action,
                    code=str(error.get("code")),
                    message=str(error.get("message", ""))[:_MESSAGE_LIMIT],
                    field=None if field is None else str(field),
                    is_caller_error=error.get("is_caller_error") is True,
                )
            )

    def store_errors(self) -> None:
        """Store the errors noted since the last call in the registry (failures are logged, never raised)."""
        pending = self._pending_errors
        errors = []
        while pending:
            errors.append(pending.popleft())
        if not errors:
            return
        try:
            self.store.record_errors(str(self.server.service_name), errors)
            self._errors_problem.succeeded()
        except FleetError as exc:
            self._errors_problem.failed(exc)

    def publish_actions(self) -> None:
        """Publish what ``introspect`` answers, for dashboards (failures are logged, never raised).

        The answer is built here (it runs user code: call it from the main thread); when Redis cannot store it now,
        the keeper tries again, with the worker's outage backoff, until it does.
        """
        if not self.registry_enabled:
            return
        try:
            description = self.server.describe_actions()
        except Exception:
            _logger.warning("Could not describe the actions for the service registry", exc_info=True)
            return
        if description is None:
            return
        self._unpublished_actions = description
        self._publish_failures = 0
        self._store_actions()

    def _store_actions(self) -> None:
        """Store the unpublished introspect answer, or set when to try again."""
        description = self._unpublished_actions
        server = self.server
        try:
            self.store.publish_actions(str(server.service_name), server.get_service_version(), description)
        except FleetError as exc:
            self._actions_problem.failed(exc)
            self._next_publish = time.monotonic() + outage_backoff_seconds(self._publish_failures)
            self._publish_failures += 1
            return
        self._unpublished_actions = None
        self._published_actions = description
        self._actions_problem.succeeded()

    def set_state(self, state: str) -> None:
        """Change the state shown in the registry, and show it at once."""
        self.state = state
        self.refresh_registry()

    # Dependencies

    def check_dependencies(self) -> dict[str, dict[str, Any]]:
        """Read the registry for every required service: ``{name: {minimum_version, available, versions}}``.

        Raises:
            FleetConnectionError: Redis failed.
        """
        required: Mapping[str, str | None] = self.server.settings["dependencies"]["services"]
        report: dict[str, dict[str, Any]] = {}
        for name, minimum in sorted(required.items()):
            versions = sorted({instance.version for instance in self.store.instances(name)})
            report[name] = {
                "minimum_version": minimum,
                "versions": versions,
                "available": any(meets_minimum(version, minimum) for version in versions),
            }
        self.dependencies = report
        return report

    def wait_for_dependencies(self, should_stop: Callable[[], bool]) -> bool:
        """Wait until every required service has a live instance meeting its minimum version.

        Returns:
            Whether they all became available before ``dependencies.wait_timeout_seconds``.
        """
        settings = self.server.settings["dependencies"]
        if not settings["services"]:
            return True
        deadline = time.monotonic() + float(settings["wait_timeout_seconds"])
        self.set_state("waiting for dependencies")
        problem = _Problem("read the service registry for the required services")
        while True:
            try:
                report = self.check_dependencies()
                problem.succeeded()
                missing = [name for name, entry in report.items() if not entry["available"]]
            except FleetError as exc:
                problem.failed(exc)
                missing = sorted(settings["services"])
            if not missing:
                _logger.info("Every required service is available: %s", ", ".join(sorted(settings["services"])))
                return True
            if should_stop() or time.monotonic() >= deadline:
                _logger.warning(
                    "Required services still unavailable after %s seconds: %s",
                    settings["wait_timeout_seconds"],
                    ", ".join(self._describe_missing(name) for name in missing),
                )
                return False
            self._stop.wait(_DEPENDENCY_POLL_SECONDS)

    def _describe_missing(self, name: str) -> str:
        entry = self.dependencies.get(name) or {}
        minimum = entry.get("minimum_version")
        versions = entry.get("versions") or []
        wanted = f" >= {minimum}" if minimum else ""
        alive = f" (alive: {', '.join(versions)})" if versions else " (no live instance)"
        return f"{name}{wanted}{alive}"

    # Lifecycle

    def add_keeper_task(self, task: Callable[[float], None]) -> None:
        """Run ``task(monotonic_now)`` on every keeper wake-up (it must be quick)."""
        self._keeper_tasks.append(task)

    def start(self) -> None:
        """Register (state ``starting``), publish the actions and start the keeper thread (which publishes them when
        Redis could not take them now)."""
        self.refresh_registry()
        self.publish_actions()
        self._keeper = threading.Thread(target=self._keep, name="pysoa-like-fleet", daemon=True)
        self._keeper.start()

    def start_work(self) -> None:
        """Start taking events and periodic ticks (once the worker is about to serve)."""
        server = self.server
        if server.event_handlers:
            from pysoa_like.events.consumer import EventConsumer, subscriptions_for

            settings = server.settings["events"]
            subscriptions = subscriptions_for(server, int(settings["max_deliveries"]))
            consumer = EventConsumer(
                server, self.fleet, subscriptions, self.instance_id, settings, lambda: self.stopping
            )
            self._components.append(consumer)
            self.add_keeper_task(consumer.keep)
            consumer.start()
        if server.periodic_tasks:
            from pysoa_like.periodic.scheduler import PeriodicScheduler

            scheduler = PeriodicScheduler(
                server,
                self.fleet,
                server.periodic_tasks,
                self.instance_id,
                float(server.settings["periodic"]["lock_ttl_seconds"]),
                lambda: self.stopping,
            )
            self._components.append(scheduler)
            self.add_keeper_task(scheduler.keep)

    def _keep(self) -> None:
        while not self._keeper_stop.wait(_KEEPER_PERIOD_SECONDS):
            now = time.monotonic()
            if now >= self._next_refresh:
                self.refresh_registry()
            if self._pending_errors:
                self.store_errors()
            if self._unpublished_actions is not None and now >= self._next_publish:
                self._store_actions()
            for task in self._keeper_tasks:
                try:
                    task(now)
                except Exception:
                    _logger.exception("A fleet housekeeping step failed")

    @property
    def stopping(self) -> bool:
        """Whether the worker is stopping: no new event or tick is taken (what is in hand goes on)."""
        return self._stop.is_set() or self.server.shutting_down

    def request_stop(self) -> None:
        """Stop taking new events and ticks (what is in hand goes on)."""
        self._stop.set()

    def stop(self, timeout: float) -> None:
        """Stop taking work, wait for the work in hand, stop the keeper, then remove the registry entry.

        The keeper keeps the registry entry and the events in hand alive until the work in hand is done
        (or ``timeout`` runs out: an event still in hand is then redelivered elsewhere).

        Args:
            timeout: The most seconds to wait for the work in hand.
        """
        self.request_stop()
        self.set_state("stopping")
        deadline = time.monotonic() + timeout
        for component in self._components:
            if not component.join(deadline):
                _logger.warning(
                    "Stopped waiting after %s seconds for the work in hand of %s (it is abandoned)",
                    timeout,
                    type(component).__name__,
                )
        self._keeper_stop.set()
        if self._keeper is not None:
            self._keeper.join(5.0)
            self._keeper = None
        self.store_errors()
        if self.registry_enabled:
            try:
                self.store.deregister(str(self.server.service_name), self.instance_id)
            except FleetError as exc:
                _logger.warning("Could not remove the service registry entry (it expires by itself): %s", exc)
        self.fleet.close()
