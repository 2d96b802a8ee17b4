"""The registry in Redis: writing a worker's entry, removing it, and reading the live services.

Liveness is judged by the Redis clock (``TIME`` inside the scripts), so hosts whose clocks disagree
still agree on who is alive. Every script touches the keys of one service only (one hash tag, one
Cluster slot); the catalog of service names is written and read by separate commands. See
:mod:`pysoa_like.fleet.keys` for the key layout.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis

from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common.transport.redis_gateway.backend import master_name
from pysoa_like.core.keys import queue_key, queue_name_of, request_queue_name
from pysoa_like.core.resp_replies import RespError
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.keys import (
    REGISTRY_SERVICES_KEY,
    registry_actions_key,
    registry_errors_key,
    registry_instances_key,
    registry_records_key,
)
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.records import InstanceInfo, RecentError, ServiceInfo, read_json

__all__ = [
    "CATALOG_RETENTION_SECONDS",
    "READ_SCRIPT",
    "RECENT_ERRORS_KEPT",
    "RegistryStore",
    "catalog_command",
    "instance_keys",
    "instances_of",
    "queue_depths_of",
    "wrong_type",
]

_logger = logging.getLogger("pysoa_like.fleet")
# The warnings of a master whose request queues cannot be read: every health check (the status action) and every
# dashboard poll reads the depths, so each master's are let through a few times a minute.
_UNREADABLE_MASTERS = LogThrottle(burst=3, interval=60.0)

#: A service none of whose instances refreshed for this long leaves the catalog of names.
CATALOG_RETENTION_SECONDS = 7 * 24 * 3600
#: How many of a service's latest error records the registry keeps (the fleet's workers together).
RECENT_ERRORS_KEPT = 100
# The error list outlives its last write by this long; the published introspection (every version's answer in one
# hash, one expiry), the last heartbeat of a worker whose version's answer it holds.
_SIDE_KEYS_TTL_SECONDS = 24 * 3600
# Catalog entries older than this (by the reader's clock) are not even looked at.
_CATALOG_LOOKBACK_SECONDS = 3600.0

# KEYS: instances zset, records hash, actions hash. ARGV: instance id, record JSON, ttl in milliseconds, version,
# actions ttl in seconds. Drops expired entries, writes this one, keeps both entry keys alive for at least the ttl, and
# the actions hash for its own ttl when it holds this version's answer. Returns "now expires published": 0 when the
# hash lacks this version's answer, 1 when it holds it or the key holds another kind of value (readers skip it). Only
# commands of the registry's documented ACL rights (docs/security.rst): HGET, its WRONGTYPE answered as an error
# table by redis.pcall, and PEXPIRE. Any other error of that HGET is the script's error: an ACL refusal (Redis 6.2 and
# 7.x do not name the command) says NOPERM and HGET; taken for WRONGTYPE, it said the actions were published.
_REGISTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl_ms = tonumber(ARGV[3])
local expires = now + ttl_ms / 1000
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.6f', now))
for _, id in ipairs(dead) do
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
redis.call('ZADD', KEYS[1], string.format('%.6f', expires), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < ttl_ms then
    redis.call('PEXPIRE', KEYS[i], ttl_ms)
  end
end
local published = 1
local answer = redis.pcall('HGET', KEYS[3], ARGV[4])
if type(answer) == 'table' and string.sub(tostring(answer.err), 1, 9) ~= 'WRONGTYPE' then
  local text = tostring(answer.err)
  if string.find(text, "can't run this command", 1, true) or string.find(text, 'no permissions to run', 1, true)
      or string.find(text, 'NOPERM', 1, true) then
    text = 'NOPERM the Redis user may not run HGET on ' .. KEYS[3] .. ' (the registry heartbeat reads it)'
  end
  return redis.error_reply(text)
end
if not answer then
  published = 0
elseif type(answer) ~= 'table' then
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) * 1000)
end
return string.format('%.6f %.6f %d', now, expires, published)
"""

# KEYS: instances zset, records hash. ARGV: instance id.
_DEREGISTER = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
"""

# KEYS: instances zset, records hash. Returns {now, id, expires, record, id, expires, record, ...} of live entries.
_READ = """
local t = redis.call('TIME')
local now = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local out = {now}
for i = 1, #live, 2 do
  local record = redis.call('HGET', KEYS[2], live[i])
  if record then
    out[#out + 1] = live[i]
    out[#out + 1] = live[i + 1]
    out[#out + 1] = record
  end
end
return out
"""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RegistryStore:
    """Reads and writes the registry keys on the fleet's Redis.

    Args:
        fleet: Where the keys live.
    """

    def __init__(self, fleet: FleetRedis) -> None:
        self.fleet = fleet

    # Writing (workers)

    def register(self, instance: InstanceInfo, ttl_seconds: float) -> float:
        """Write (or refresh) a worker's entry, alive for ``ttl_seconds`` from now by the Redis clock (see
        :meth:`heartbeat`, which this is without its answer about the published actions).

        Returns:
            When the entry expires (Unix time, Redis clock).

        Raises:
            FleetConnectionError: Redis failed.
        """
        return self.heartbeat(instance, ttl_seconds)[0]

    def heartbeat(self, instance: InstanceInfo, ttl_seconds: float) -> tuple[float, bool]:
        """Write (or refresh) a worker's entry, alive for ``ttl_seconds`` from now by the Redis clock, and keep the
        service's published actions (:meth:`publish_actions`) alive while they hold the answer of the instance's
        version: they expire 24 hours after the last such heartbeat, not after the last publication. The answers of
        all the versions share one expiry, so a version no longer running keeps its answer while another one runs.

        Returns:
            When the entry expires (Unix time, Redis clock), and whether the actions of the instance's version are
            published (``False`` after Redis lost them, restarting empty: the worker should publish them again).

        Raises:
            FleetConnectionError: Redis failed.
        """
        service = instance.service
        keys = (registry_instances_key(service), registry_records_key(service), registry_actions_key(service))
        ttl_ms = max(int(ttl_seconds * 1000), 1)
        args = (instance.instance_id, instance.to_json(), ttl_ms, instance.version, _SIDE_KEYS_TTL_SECONDS)
        reply = self.fleet.run_script(_REGISTER, keys, args, f"registering {service}")
        now_text, expires_text, published_text = _text(reply).split()
        expires = float(expires_text)
        oldest = float(now_text) - CATALOG_RETENTION_SECONDS

        def index(client: Any) -> None:
            pipeline = client.pipeline(transaction=False)
            pipeline.zadd(REGISTRY_SERVICES_KEY, {service: expires}, gt=True)
            pipeline.zremrangebyscore(REGISTRY_SERVICES_KEY, "-inf", f"({oldest}")
            pipeline.execute()

        self.fleet.run(REGISTRY_SERVICES_KEY, index, "updating the service catalog")
        return expires, published_text == "1"

    def deregister(self, service: str, instance_id: str) -> None:
        """Remove a worker's entry at once (a clean shutdown).

        Raises:
            FleetConnectionError: Redis failed.
        """
        keys = (registry_instances_key(service), registry_records_key(service))
        self.fleet.run_script(_DEREGISTER, keys, (instance_id,), f"deregistering {service}")

    def record_errors(self, service: str, errors: Sequence[RecentError]) -> None:
        """Add error records (oldest first) to the service's list of recent errors, keeping the newest.

        Raises:
            FleetConnectionError: Redis failed.
        """
        if not errors:
            return
        key = registry_errors_key(service)

        def push(client: Any) -> None:
            pipeline = client.pipeline(transaction=False)
            pipeline.lpush(key, *(error.to_json() for error in errors))
            pipeline.ltrim(key, 0, RECENT_ERRORS_KEPT - 1)
            pipeline.expire(key, _SIDE_KEYS_TTL_SECONDS)
            pipeline.execute()

        self.fleet.run(key, push, f"recording errors of {service}")

    def publish_actions(self, service: str, version: str, description: Any) -> None:
        """Store what the service's ``introspect`` action answers for ``version`` (JSON-friendly).

        Raises:
            FleetConnectionError: Redis failed.
        """
        key = registry_actions_key(service)
        text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)

        def store(client: Any) -> None:
            pipeline = client.pipeline(transaction=False)
            pipeline.hset(key, version, text)
            pipeline.expire(key, _SIDE_KEYS_TTL_SECONDS)
            pipeline.execute()

        self.fleet.run(key, store, f"publishing the actions of {service}")

    # Reading

    def recent_errors(self, service: str, count: int = RECENT_ERRORS_KEPT) -> list[RecentError]:
        """The service's latest error records, newest first (unreadable records are left out; none when the key
        holds another kind of value).

        Raises:
            FleetConnectionError: Redis failed.
        """
        key = registry_errors_key(service)
        try:
            texts = self.fleet.run(key, lambda client: client.lrange(key, 0, count - 1), f"reading errors of {service}")
        except FleetConnectionError as exc:
            if wrong_type(exc):
                return []
            raise
        errors = (RecentError.from_json(text) for text in texts)
        return [error for error in errors if error is not None]

    def actions(self, service: str) -> dict[str, Any]:
        """What the service's workers published of their ``introspect`` answers: version -> answer (unreadable
        ones left out; none when the key holds another kind of value).

        Raises:
            FleetConnectionError: Redis failed.
        """
        key = registry_actions_key(service)
        try:
            stored = self.fleet.run(key, lambda client: client.hgetall(key), f"reading the actions of {service}")
        except FleetConnectionError as exc:
            if wrong_type(exc):
                return {}
            raise
        found: dict[str, Any] = {}
        for version, text in stored.items():
            try:
                found[_text(version)] = read_json(text)
            except (TypeError, ValueError):
                continue
        return found

    def service_names(self) -> list[str]:
        """The services whose entries were refreshed within the last hour (by the catalog), sorted."""
        command = catalog_command(time.time())
        names = self.fleet.run(
            REGISTRY_SERVICES_KEY,
            lambda client: client.zrangebyscore(REGISTRY_SERVICES_KEY, command[2], command[3]),
            "reading the service catalog",
        )
        return sorted(_text(name) for name in names)

    def instances(self, service: str) -> list[InstanceInfo]:
        """The live instances of one service, by instance id (none when its keys hold another kind of value).

        Raises:
            FleetConnectionError: Redis failed.
        """
        try:
            reply = self.fleet.run_script(_READ, instance_keys(service), (), f"reading the registry of {service}")
        except FleetConnectionError as exc:
            if wrong_type(exc):
                return []
            raise
        return instances_of(service, reply)

    def queue_depths(self, services: Sequence[str]) -> dict[str, int | None]:
        """Requests waiting in each service's request queue, summed over every master that may hold it.

        Over a ring, request queues sit on every master (clients push round-robin), so each master is asked;
        under Redis Cluster a queue is one key, on the master of its slot. One pipeline per master.

        A master that cannot be read (or answers an error for a queue) leaves the depth of the services it may hold
        unknown: ``None``, not a sum of the other masters' lengths, and a warning on the ``pysoa_like.fleet`` logger
        names the master. The other services' depths are still read.

        Raises:
            FleetConnectionError: The fleet's Redis cannot be had at all (no Sentinel lists a service to discover).
        """
        readings: list[tuple[str, int | None]] = []
        failures: dict[int, BaseException] = {}
        by_master: dict[int, tuple[int, list[str]]] = {}
        for service in services:
            key = queue_key(request_queue_name(service))
            for index in self.fleet.queue_indexes(key):
                if index in failures:  # (its master was looked up once: a Sentinel is not asked again per service)
                    readings.append((service, None))
                    continue
                try:
                    client = self.fleet.client_at(index)
                except FleetConnectionError as exc:
                    failures[index] = exc
                    readings.append((service, None))
                    continue
                by_master.setdefault(id(client), (index, []))[1].append(service)
        for index, named in by_master.values():
            client = self.fleet.client_at(index)
            try:
                pipeline = client.pipeline(transaction=False)
                for service in named:
                    pipeline.llen(queue_key(request_queue_name(service)))
                values = pipeline.execute(raise_on_error=False)
            except (redis.RedisError, OSError) as exc:
                self.fleet.backend.reset_client(index)
                failures.setdefault(index, exc)
                values = [exc] * len(named)
            for service, value in zip(named, values, strict=True):
                if isinstance(value, Exception):
                    failures.setdefault(index, value)
                    readings.append((service, None))
                else:
                    readings.append((service, int(value)))
        return queue_depths_of(self.fleet, services, readings, failures)

    def queued_services(self) -> list[str]:
        """The services whose request queue holds requests now, on any master of the ring, sorted.

        Found by ``SCAN`` of the request-queue keys (reply queues left out), so services whose workers do
        not register (PySOA 1.4.9, the registry turned off) are seen while they have a backlog (Redis
        deletes an empty list). A ``SCAN`` walks every key of a master: call it now and then, not per request.

        A master that cannot be read is named in a warning (``pysoa_like.fleet`` logger) and its keys are left out:
        the services found on the others are still returned.

        Raises:
            FleetConnectionError: No master could be read.
        """
        prefix = request_queue_name("")
        names: set[str] = set()
        indexes = self.fleet.master_indexes()
        failures: dict[int, BaseException] = {}
        for index in indexes:
            try:
                client = self.fleet.client_at(index)
                keys = list(client.scan_iter(match=queue_key(prefix) + "*", count=1000, _type="list"))
            except FleetConnectionError as exc:
                failures[index] = exc
                continue
            except (redis.RedisError, OSError) as exc:
                self.fleet.backend.reset_client(index)
                failures[index] = exc
                continue
            for key in keys:
                name = queue_name_of(_text(key))[len(prefix) :]
                if name and "!" not in name:  # reply queues are "<service>.<client>!<thread>"
                    names.add(name)
        if failures and len(failures) == len(indexes):
            error = next(iter(failures.values()))
            raise FleetConnectionError(f"Redis failed while looking for request queues: {error}") from error
        for index, error in failures.items():
            master = _master_named(self.fleet, index)
            log_bounded(
                _logger,
                logging.WARNING,
                _UNREADABLE_MASTERS,
                ("look", master),
                "Could not look for request queues on %s: the services queued only there are not listed: %s",
                master,
                error,
            )
        return sorted(names)

    def list_services(self, names: Iterable[str] | None = None, queue_depths: bool = True) -> list[ServiceInfo]:
        """The services with at least one live instance (or those named, live or not), by name.

        Args:
            names: Only these services (each listed even with no live instance); ``None`` for every
                live service.
            queue_depths: Also read each service's request queue depth (``None`` for a service whose queue could
                not be read on every master that may hold it: see :meth:`queue_depths`).

        Raises:
            FleetConnectionError: Redis failed (reading the catalog or a service's instances).
        """
        wanted = sorted(set(names)) if names is not None else self.service_names()
        found = [(name, self.instances(name)) for name in wanted]
        if names is None:
            found = [(name, instances) for name, instances in found if instances]
        depths = self.queue_depths([name for name, _ in found]) if queue_depths else {}
        return [ServiceInfo(name, tuple(instances), depths.get(name)) for name, instances in found]


#: The script reading one service's live instances (``EVAL <text> 2 <instances> <records>``; see :func:`instances_of`).
READ_SCRIPT = _READ


def catalog_command(now: float) -> tuple[Any, ...]:
    """The command reading the services refreshed within the last hour from the catalog (``now``: Unix time)."""
    return ("ZRANGEBYSCORE", REGISTRY_SERVICES_KEY, now - _CATALOG_LOOKBACK_SECONDS, "+inf")


def instance_keys(service: str) -> tuple[str, str]:
    """The keys :data:`READ_SCRIPT` reads for ``service`` (one hash tag: one slot)."""
    return (registry_instances_key(service), registry_records_key(service))


def queue_depths_of(
    fleet: FleetRedis,
    services: Sequence[str],
    readings: Iterable[tuple[str, int | None]],
    failures: Mapping[int, BaseException],
) -> dict[str, int | None]:
    """Each service's request-queue depth from its readings, as both registry readers (blocking and asyncio) give it.

    Args:
        fleet: The fleet's Redis (to name a master that failed).
        services: The services asked about (a service with no reading has an empty queue: 0).
        readings: ``(service, length)`` per master that may hold its queue; ``length`` ``None`` when that master's
            could not be read.
        failures: Ring slot -> the error of each master that could not be read (each named in one warning).

    Returns:
        The sum of each service's lengths, or ``None`` when any of them is unknown (the others are only part of it).
    """
    depths: dict[str, int | None] = dict.fromkeys(services, 0)
    for service, length in readings:
        depth = depths[service]
        depths[service] = None if depth is None or length is None else depth + length
    for index, error in failures.items():
        master = _master_named(fleet, index)
        log_bounded(
            _logger,
            logging.WARNING,
            _UNREADABLE_MASTERS,
            ("read", master),
            "Could not read the request queues on %s: the queue depth of its services is unknown: %s",
            master,
            error,
        )
    return depths


def _master_named(fleet: FleetRedis, index: int) -> str:
    """How a warning names the master of ring slot ``index`` (never asking Redis)."""
    try:
        backend = fleet.backend
    except FleetConnectionError:
        return f"ring slot {index}"
    named = master_name(backend, index)
    if named is not None:
        return named
    return "the fleet's Redis" if backend.ring_size <= 1 else f"the master of slot {index}"


def wrong_type(exc: FleetConnectionError) -> bool:
    """Whether Redis refused a registry read because a key holds another kind of value (``WRONGTYPE``, inside a
    script or not), as the blocking driver (redis-py) or the asyncio one reports it: the entry is unreadable, Redis
    itself is fine, and the readers take the entry as empty."""
    cause = exc.__cause__
    return isinstance(cause, (redis.ResponseError, RespError)) and "WRONGTYPE" in str(cause)


def instances_of(service: str, reply: Any) -> list[InstanceInfo]:
    """The live instances in :data:`READ_SCRIPT`'s reply for ``service``, by instance id.

    An entry whose expiry is not finite is left out like an unreadable record: workers never write one, and it
    would never expire (nor could its expiry be written as JSON).
    """
    instances = []
    for position in range(1, len(reply) - 2, 3):
        expires_at = float(_text(reply[position + 1]))
        if not math.isfinite(expires_at):
            continue
        info = InstanceInfo.from_json(reply[position + 2], expires_at)
        if info is not None and info.service == service:
            instances.append(info)
    return sorted(instances, key=lambda instance: instance.instance_id)
