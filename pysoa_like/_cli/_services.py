"""``pysoa-like services``: the services behind a Redis, their queues and whether they answer.

Where the rows come from (each a :class:`ServiceSource`, merged by service name):

* :class:`QueueKeySource`, always: every request queue key ``pysoa:service.<name>`` found on each Redis of
  the ring (a service whose queue is empty has no key: Redis deletes empty lists), the services the
  settings name and those named on the command line, with the depth of each queue (summed over the ring).
* :class:`RegistrySource`: the service registry on the same Redis (see ``docs/service_registry.rst``):
  every service with a live worker, with its live instances, their versions and the jobs in flight
  (the table shows those columns as soon as a row has them). Services whose workers do not register
  (PySOA 1.4.9, the registry turned off) are still found by their queues and the status probe.

Then, unless ``--no-probe``, every service is sent one ``status`` job (all in parallel, one wait): the
answer gives its version, and no answer within the timeout says it is down or backed up.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attr

from pysoa_like._cli._client import AnyServiceClient
from pysoa_like._cli._common import EXIT_OK, EXIT_TRANSPORT, CommandError, Output, positive_seconds
from pysoa_like._cli._target import Target, add_target_arguments, mask_url, redis_transport_of
from pysoa_like.common.transport.errors import MessageReceiveTimeout, PySOATransportError
from pysoa_like.common.types import JobResponse
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_CLUSTER, REDIS_BACKEND_TYPE_SENTINEL

if TYPE_CHECKING:
    from pysoa_like.core.endpoint import Endpoint

__all__ = ["SOURCES", "QueueKeySource", "RegistrySource", "ServiceRow", "ServiceSource", "add_services_command"]

_QUEUE_PREFIX = "pysoa:service."
_REPLY_MARKER = "!"

_EXAMPLES = """\
examples:
  pysoa-like services --redis-url redis://127.0.0.1:6379/0
  pysoa-like services calculator report --settings my_app.settings --timeout 1
  pysoa-like services --json --no-probe

Columns: QUEUED is the number of requests waiting in the service's request queue ("-" when the
Redis it is on could not be read: a warning names it); INSTANCES and IN-FLIGHT (services whose
workers register) the live workers and the jobs they run, from the service registry; STATUS is
"answering" when the service replied to a status call within the timeout.
"""


@attr.s(auto_attribs=True)
class ServiceRow:
    """What is known about one service.

    ``None`` means unknown (no source said); ``instances`` and ``in_flight`` come from the service
    registry only, ``versions`` from the registry and the status probe.
    """

    name: str
    queued: int | None = None
    instances: int | None = None
    versions: tuple[str, ...] = ()
    in_flight: int | None = None
    status: str | None = None

    def merge(self, other: ServiceRow) -> None:
        """Take every value ``other`` knows and this row does not."""
        self.queued = self.queued if other.queued is None else (self.queued or 0) + other.queued
        self.instances = other.instances if self.instances is None else self.instances
        self.versions = tuple(dict.fromkeys(self.versions + other.versions))
        self.in_flight = other.in_flight if self.in_flight is None else self.in_flight
        self.status = other.status if self.status is None else self.status


class ServiceSource(Protocol):
    """Something that lists services (the queue keys today; a registry later)."""

    def rows(self, target: Target, named: Iterable[str], warn: Callable[[str], None]) -> Iterable[ServiceRow]:
        """The rows this source knows about the services behind ``target``.

        Args:
            target: Where the services are.
            named: Services asked for by name on the command line.
            warn: Reports a problem that still leaves something to show.

        Raises:
            CommandError: Nothing can be shown.
        """
        ...


def _backend(transport: Mapping[str, Any]) -> Any:
    """The Redis ring of ``transport``.

    Raises:
        CommandError: Its hosts or connection settings cannot be used (exit 2, the problem named).
        CannotGetConnectionError: Making it needs Redis, which cannot be reached (Sentinel's discovery).
    """
    from pysoa_like.common.transport.redis_gateway.backend import make_backend

    try:
        return make_backend(transport["backend_type"], transport["backend_layer_kwargs"])
    except ValueError as exc:
        raise CommandError(f"cannot use the Redis settings to read the request queues: {mask_url(str(exc))}") from exc


def _address(endpoint: Endpoint) -> str:
    """How the warnings give one Redis' address: ``host:port`` (or its unix socket), and its database unless 0."""
    return f"{endpoint} db {endpoint.db}" if endpoint.db else str(endpoint)


def _redis_named(transport: Mapping[str, Any]) -> str:
    """How the warnings name the Redis of ``transport`` as the settings give it (nothing is asked of Redis): each
    host of a ring by :func:`_address`, else the Sentinels' or Cluster nodes' addresses (passwords masked)."""
    from pysoa_like.common.transport.redis_gateway.backend import make_backend

    backend_type = transport["backend_type"]
    kinds = {REDIS_BACKEND_TYPE_SENTINEL: "the Redis of the Sentinels", REDIS_BACKEND_TYPE_CLUSTER: "Redis Cluster"}
    if backend_type not in kinds:
        try:
            ring = make_backend(backend_type, transport["backend_layer_kwargs"])  # a ring of hosts connects lazily
        except ValueError:
            pass  # named by its settings below
        else:
            try:
                addresses = [_address(ring.client_at(index).endpoint) for index in range(ring.ring_size)]
            finally:
                ring.close()
            return "Redis " + ", ".join(addresses)
    hosts = transport["backend_layer_kwargs"].get("hosts")
    if isinstance(hosts, (list, tuple)) and hosts:
        named_hosts = ", ".join(
            f"{host[0]}:{host[1]}" if isinstance(host, (list, tuple)) and len(host) == 2 else mask_url(str(host))
            for host in hosts
        )
    else:
        named_hosts = "at the default host" if not hosts else mask_url(str(hosts))
    return f"{kinds.get(backend_type, 'Redis')} {named_hosts}"


class _Whereabouts:
    """Which Redis of one transport a reading is at, for the warning when it fails (a master is named before the
    backend looks it up: a Sentinel lookup that fails is blamed on its service, not on the master read before)."""

    def __init__(self, transport: Mapping[str, Any]) -> None:
        self._transport = transport
        # The Redis being read now, when more is known of it than the settings say.
        self._named: str | None = None

    @property
    def named(self) -> str:
        """The Redis being read now, as the warnings name it (by the settings until a master is known)."""
        return self._named if self._named is not None else _redis_named(self._transport)

    def client_at(self, backend: Any, index: int) -> Any:
        """``backend``'s client of ring slot ``index``, from now on the Redis named."""
        from pysoa_like.common.transport.redis_gateway.backend.sentinel import SentinelRedisClient

        self._named = (
            f"the master of Sentinel service {backend.services[index]!r}"
            if isinstance(backend, SentinelRedisClient)
            else None
        )
        client = backend.client_at(index)
        self._named = f"Redis {_address(client.endpoint)}"
        return client


def _routed_to(target: Target, service: str) -> Mapping[str, Any] | None:
    """The Redis transport the settings send ``service``'s requests over (``None``: none the settings name)."""
    try:
        return redis_transport_of(target.settings_for(service))
    except CommandError:
        return None


class QueueKeySource:
    """Request queue keys and their depths, read from every Redis of the ring (SCAN, then LLEN).

    A Redis that cannot be read is named in a warning, and the services the settings send there (and those found
    only there) get an unknown depth (``None``), never 0; when no Redis can be read, the command fails.
    """

    def rows(self, target: Target, named: Iterable[str], warn: Callable[[str], None]) -> Iterable[ServiceRow]:
        import redis

        from pysoa_like.common.transport.redis_gateway.backend.base import CannotGetConnectionError

        wanted = set(named) | set(target.known_services())
        depths: dict[str, int] = dict.fromkeys(wanted, 0)
        only_unread: set[str] = set()  # services found on a Redis whose queues could not all be read
        transports = target.redis_transports()
        failed: list[Mapping[str, Any]] = []
        failures: list[str] = []
        for transport in transports:
            try:
                backend = _backend(transport)
            except (CannotGetConnectionError, redis.AuthenticationError) as exc:
                # Sentinel without sentinel_services, and no Sentinel lists a service: Redis is out of reach.
                failures.append(f"cannot read the request queues on {_redis_named(transport)}: {mask_url(str(exc))}")
                failed.append(transport)
                continue
            at = _Whereabouts(transport)
            names = set(wanted)
            try:
                here: dict[str, int] = {}
                for index in backend.master_indexes():
                    found = {
                        key.decode("utf-8", "replace")
                        for key in at.client_at(backend, index).scan_iter(
                            match=_QUEUE_PREFIX + "*", count=1000, _type="list"
                        )
                    }
                    names.update(key[len(_QUEUE_PREFIX) :] for key in found if _REPLY_MARKER not in key)
                for name in sorted(names):
                    key = _QUEUE_PREFIX + name
                    for index in backend.queue_indexes(key):
                        here[name] = here.get(name, 0) + int(at.client_at(backend, index).llen(key))
            except (redis.RedisError, OSError, PySOATransportError, CannotGetConnectionError) as exc:
                failures.append(f"cannot read the request queues on {at.named}: {mask_url(str(exc))}")
                failed.append(transport)
                only_unread.update(names)
            else:
                for name, depth in here.items():
                    depths[name] = depths.get(name, 0) + depth
            finally:
                backend.close()
        if failures and len(failures) == len(transports):
            raise CommandError("; ".join(dict.fromkeys(failures)), EXIT_TRANSPORT)
        for failure in failures:
            warn(
                f"Warning: {failure} (QUEUED shows - for the services sent there, or only what other Redis hold "
                "of theirs when some of their requests were found on one that was read)"
            )
        only_unread -= depths.keys()
        # Unknown: a service sent to a Redis that failed, or found only there; but requests found queued on a Redis
        # that was read are a depth read (a service the settings send nowhere of its own, found on another Redis
        # than the server's, has its queue there), so they are shown.
        unread = {name for name in depths if failed and _routed_to(target, name) in failed}
        unknown = only_unread | {name for name in unread if not depths[name]}
        return [
            ServiceRow(name, queued=None if name in unknown else depths[name])
            for name in sorted(depths.keys() | only_unread)
        ]


class RegistrySource:
    """Live services from the service registry: instances, versions and jobs in flight (not queue depths)."""

    def rows(self, target: Target, named: Iterable[str], warn: Callable[[str], None]) -> Iterable[ServiceRow]:
        from pysoa_like.fleet.errors import FleetError
        from pysoa_like.registry import list_services

        rows: list[ServiceRow] = []
        read: list[dict[str, Any]] = []
        for transport in target.redis_transports():
            fleet = {
                "backend_type": transport["backend_type"],
                "backend_layer_kwargs": transport["backend_layer_kwargs"],
            }
            if fleet in read:
                continue
            read.append(fleet)
            try:
                services = list_services(fleet, queue_depths=False)
            except (FleetError, ValueError) as exc:
                warn(f"Warning: cannot read the service registry on {_redis_named(transport)}: {mask_url(str(exc))}")
                continue
            rows.extend(
                ServiceRow(s.name, instances=len(s.instances), versions=s.versions, in_flight=s.in_flight)
                for s in services
            )
        return rows


#: Every source the ``services`` command asks, in order.
SOURCES: list[ServiceSource] = [QueueKeySource(), RegistrySource()]


def add_services_command(commands: Any) -> None:
    """Add ``services`` to the ``pysoa-like`` subcommands."""
    parser = commands.add_parser(
        "services",
        help="List services: request queue depths and whether they answer",
        description="List the services behind a Redis: request queue depths, and whether each answers a "
        "status call (with its version).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="SERVICE", help="Services to show even if their queue is empty")
    add_target_arguments(parser)
    parser.add_argument(
        "-t", "--timeout", type=positive_seconds, default=2.0, help="Seconds to wait for status replies (default 2)"
    )
    parser.add_argument("--no-probe", action="store_true", help="Do not send status calls; queues only")
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON")
    parser.set_defaults(run=run_services)


def _probe(target: Target, rows: list[ServiceRow], timeout: float, output: Output) -> None:
    client = AnyServiceClient(target)
    reachable = []
    for row in rows:
        try:
            target.settings_for(row.name)
        except CommandError:
            row.status = "not in settings"
            continue
        reachable.append(row)
    if not reachable:
        return
    output.progress(f"Asking {len(reachable)} service(s) for their status (up to {timeout:g} s)...")
    jobs = [
        {"service_name": row.name, "actions": [{"action": "status", "body": {"verbose": False}}]} for row in reachable
    ]
    results = client.call_jobs_parallel(
        jobs, timeout=timeout, catch_transport_errors=True, raise_job_errors=False, raise_action_errors=False
    )
    outcomes: list[Any] = list(results)  # transport errors stand in place of responses (catch_transport_errors)
    for row, result in zip(reachable, outcomes, strict=True):
        if isinstance(result, MessageReceiveTimeout):
            row.status = f"no reply in {timeout:g}s"
        elif isinstance(result, PySOATransportError):
            row.status = f"unreachable: {mask_url(str(result))}"
        elif isinstance(result, JobResponse):
            errors = list(result.errors) + [e for a in result.actions for e in a.errors]
            if errors:
                row.status = f"error {errors[0].code}"
            else:
                row.status = "answering"
                version = result.actions[0].body.get("version") if result.actions else None
                if version is not None:
                    row.versions = tuple(dict.fromkeys((*row.versions, str(version))))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return ", ".join(value) or "-"
    return str(value)


def run_services(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like services``."""
    target = Target.from_args(args)
    merged: dict[str, ServiceRow] = {}
    listed_by_queues: set[str] = set()
    for source in SOURCES:
        for row in source.rows(target, args.names, output.problem):
            if isinstance(source, QueueKeySource):
                listed_by_queues.add(row.name)
            if row.name in merged:
                merged[row.name].merge(row)
            else:
                merged[row.name] = row
    if any(isinstance(source, QueueKeySource) for source in SOURCES):
        # The queue keys were read: a service only another source found (the registry) has no key, so nothing
        # queued (Redis deletes an empty list). One the queue keys' source listed with no depth is on a Redis that
        # could not be read: its depth stays unknown.
        for row in merged.values():
            if row.queued is None and row.name not in listed_by_queues:
                row.queued = 0
    rows = [merged[name] for name in sorted(merged)]
    if rows and not args.no_probe:
        _probe(target, rows, args.timeout, output)
    if args.json:
        output.json([attr.asdict(row, retain_collection_types=False) for row in rows])
        return EXIT_OK
    if not rows:
        output.problem(
            f"No service found on {target.describe()}: no request queue holds requests (Redis deletes empty "
            "queues). Name the services to check them: pysoa-like services calculator report ..."
        )
        return EXIT_OK
    columns: list[tuple[str, str]] = [("SERVICE", "name"), ("QUEUED", "queued")]
    for header, field in (("INSTANCES", "instances"), ("IN-FLIGHT", "in_flight")):
        if any(getattr(row, field) is not None for row in rows):
            columns.append((header, field))
    if not args.no_probe or any(row.versions for row in rows):
        columns += [("VERSION", "versions"), ("STATUS", "status")]
    output.table([h for h, _ in columns], [[_cell(getattr(row, f)) for _, f in columns] for row in rows])
    return EXIT_OK
