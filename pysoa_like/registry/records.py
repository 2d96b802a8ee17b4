"""What the registry holds about each worker (:class:`InstanceInfo`), each service (:class:`ServiceInfo`)
and each recent error response (:class:`RecentError`).

Each instance record is stored as JSON (readable with ``redis-cli``, and by tools in other languages).
Readers ignore keys they do not know and fill in keys that are missing, so older and newer workers
can share one registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attr

from pysoa_like.registry.versions import ServiceVersion

__all__ = ["InstanceInfo", "RecentError", "ServiceInfo", "read_json"]


def _finite_or_none(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def read_json(text: str | bytes) -> Any:
    """Parse a stored JSON record as plain JSON: ``NaN`` and infinities (which no JSON answer can carry) read as
    ``None``.

    Raises:
        ValueError: ``text`` is not JSON, or nests too deeply to be parsed.
    """
    try:
        return json.loads(text, parse_constant=lambda _name: None, parse_float=_finite_or_none)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None


def _stored_object(text: str | bytes, *string_keys: str) -> dict[str, Any] | None:
    """A stored record's JSON object, or ``None`` when it is not valid JSON, not an object, or one of
    ``string_keys`` does not hold a string."""
    try:
        record = read_json(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(record, dict) or not all(isinstance(record.get(key), str) for key in string_keys):
        return None
    return record


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value)
    return ()


def _events(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    result = []
    for item in value:
        if isinstance(item, Mapping) and "name" in item:
            result.append((str(item["name"]), str(item.get("mode", ""))))
    return tuple(result)


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


@attr.s(frozen=True, slots=True, auto_attribs=True)
class InstanceInfo:
    """One live worker (a ``Server.run`` loop in one process).

    Attributes:
        service: The service name.
        instance_id: Unique per worker run (``<host>:<pid>:<random>``); also its event consumer name.
        version: The service version it serves.
        host: The host name.
        pid: The process id.
        fork_id: The fork id under ``--fork N`` (``None`` when not forked).
        started_at: When the worker started (Unix time).
        concurrency: How many jobs it may run at once (1 for the sync worker).
        worker: ``"sync"`` (later also ``"asyncio"``).
        actions: The actions it serves, sorted (the built-in ``introspect`` and ``status`` included).
        events: ``(event name, delivery mode)`` of each event it handles.
        periodic_tasks: The names of its periodic tasks.
        deprecated_actions: Deprecated action name -> what to use instead.
        state: ``"starting"``, ``"waiting for dependencies"``, ``"serving"`` or ``"stopping"``.
        in_flight: Jobs running when it last refreshed its entry.
        jobs_handled: Jobs it handled so far (as of its last refresh).
        jobs_failed: Of those, the jobs whose response carried an error (job or action error, caller
            errors included).
        dependencies: Required service -> ``{"minimum_version": ..., "available": bool}``.
        library_version: The pysoa_like version it runs.
        ttl_seconds: How long its entry lives without a refresh.
        expires_at: When its entry expires unless refreshed (Unix time, by the Redis clock).
    """

    service: str
    instance_id: str
    version: str = "unknown"
    host: str = ""
    pid: int = 0
    fork_id: int | None = None
    started_at: float = 0.0
    concurrency: int = 1
    worker: str = "sync"
    actions: tuple[str, ...] = ()
    events: tuple[tuple[str, str], ...] = ()
    periodic_tasks: tuple[str, ...] = ()
    deprecated_actions: Mapping[str, str] = attr.ib(factory=dict)
    state: str = "serving"
    in_flight: int = 0
    jobs_handled: int = 0
    jobs_failed: int = 0
    dependencies: Mapping[str, Any] = attr.ib(factory=dict)
    library_version: str = ""
    ttl_seconds: float = 0.0
    expires_at: float = 0.0

    @property
    def refreshed_at(self) -> float:
        """When the entry was last refreshed (Unix time, by the Redis clock)."""
        return self.expires_at - self.ttl_seconds

    def to_json(self) -> str:
        """The stored JSON record (without ``expires_at``, which the registry keeps as the entry's score)."""
        record = attr.asdict(self, recurse=False)
        record.pop("expires_at")
        record["events"] = [{"name": name, "mode": mode} for name, mode in self.events]
        record["actions"] = list(self.actions)
        record["periodic_tasks"] = list(self.periodic_tasks)
        record["deprecated_actions"] = dict(self.deprecated_actions)
        record["dependencies"] = dict(self.dependencies)
        return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes, expires_at: float) -> InstanceInfo | None:
        """Parse a stored record; ``None`` if it is not a JSON object naming a service and an instance id."""
        record = _stored_object(text, "service", "instance_id")
        if record is None:
            return None
        fork_id = record.get("fork_id")
        deprecated = record.get("deprecated_actions")
        dependencies = record.get("dependencies")
        return cls(
            service=record["service"],
            instance_id=record["instance_id"],
            version=str(record.get("version", "unknown")),
            host=str(record.get("host", "")),
            pid=_int(record.get("pid")),
            fork_id=fork_id if isinstance(fork_id, int) and not isinstance(fork_id, bool) else None,
            started_at=_float(record.get("started_at")),
            concurrency=_int(record.get("concurrency"), 1),
            worker=str(record.get("worker", "sync")),
            actions=_tuple_of_str(record.get("actions")),
            events=_events(record.get("events")),
            periodic_tasks=_tuple_of_str(record.get("periodic_tasks")),
            deprecated_actions={str(k): str(v) for k, v in deprecated.items()} if isinstance(deprecated, dict) else {},
            state=str(record.get("state", "serving")),
            in_flight=_int(record.get("in_flight")),
            jobs_handled=_int(record.get("jobs_handled")),
            jobs_failed=_int(record.get("jobs_failed")),
            dependencies=dict(dependencies) if isinstance(dependencies, dict) else {},
            library_version=str(record.get("library_version", "")),
            ttl_seconds=_float(record.get("ttl_seconds")),
            expires_at=expires_at,
        )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RecentError:
    """One error of a job response, as a worker recorded it for dashboards (newest kept, see the docs).

    Attributes:
        service: The service name.
        instance_id: The worker that answered.
        time: When the response was sent (Unix time, the worker's clock).
        request_id: The job's request id.
        correlation_id: The job's correlation id (``None`` when it had none).
        action: The action whose error it is (``None`` for a job-level error).
        code: The error code.
        message: The error message (cut at 500 characters).
        field: The field it names (``None`` when none).
        is_caller_error: Whether the caller's request was at fault.
    """

    service: str
    instance_id: str
    time: float
    request_id: str | None
    correlation_id: str | None
    action: str | None
    code: str
    message: str
    field: str | None = None
    is_caller_error: bool = False

    def to_json(self) -> str:
        """The stored JSON record."""
        return json.dumps(attr.asdict(self), sort_keys=True, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> RecentError | None:
        """Parse a stored record; ``None`` if it is not a JSON object with a service, a code and a time."""
        record = _stored_object(text, "service", "code")
        if record is None or not isinstance(record.get("time"), (int, float)):
            return None
        return cls(
            service=record["service"],
            instance_id=str(record.get("instance_id", "")),
            time=float(record["time"]),
            request_id=_optional_str(record.get("request_id")),
            correlation_id=_optional_str(record.get("correlation_id")),
            action=_optional_str(record.get("action")),
            code=record["code"],
            message=str(record.get("message", "")),
            field=_optional_str(record.get("field")),
            is_caller_error=record.get("is_caller_error") is True,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every attribute."""
        return attr.asdict(self)


def _sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(versions), key=ServiceVersion))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ServiceInfo:
    """One service and its live instances.

    Attributes:
        name: The service name.
        instances: Its live instances, by instance id.
        queue_depth: Requests waiting in its request queue (summed over the ring), or ``None`` if not read (not
            asked for, or a master that may hold part of the queue could not be read).
    """

    name: str
    instances: tuple[InstanceInfo, ...] = ()
    queue_depth: int | None = None

    @property
    def versions(self) -> tuple[str, ...]:
        """The distinct versions of the live instances, oldest first."""
        return _sorted_versions(instance.version for instance in self.instances)

    @property
    def in_flight(self) -> int:
        """Jobs running on its instances (as of their last refreshes)."""
        return sum(instance.in_flight for instance in self.instances)

    @property
    def concurrency(self) -> int:
        """How many jobs its live instances may run at once, together."""
        return sum(instance.concurrency for instance in self.instances)

    @property
    def events(self) -> tuple[tuple[str, str], ...]:
        """``(event name, delivery mode)`` handled by any of its instances, sorted."""
        return tuple(sorted({event for instance in self.instances for event in instance.events}))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (what the ``status`` action and the CLI show)."""
        return {
            "name": self.name,
            "versions": list(self.versions),
            "queue_depth": self.queue_depth,
            "in_flight": self.in_flight,
            "concurrency": self.concurrency,
            "instances": [
                {
                    "instance_id": i.instance_id,
                    "version": i.version,
                    "host": i.host,
                    "pid": i.pid,
                    "fork_id": i.fork_id,
                    "state": i.state,
                    "started_at": i.started_at,
                    "in_flight": i.in_flight,
                    "jobs_handled": i.jobs_handled,
                    "jobs_failed": i.jobs_failed,
                    "concurrency": i.concurrency,
                    "worker": i.worker,
                    "expires_at": i.expires_at,
                }
                for i in self.instances
            ],
        }
