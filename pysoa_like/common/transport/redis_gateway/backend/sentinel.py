"""The Sentinel backend: each ring slot is the current master of one Sentinel service.

Masters are looked up through the Sentinels when first needed and again after any send or receive error on
that slot (:meth:`SentinelRedisClient.reset_client`), so a failover is followed on the next call. A lookup runs in a
thread of its own, one per slot at a time: every caller meanwhile waits for that one, each no longer than its own
deadline (a call's), and the lookup goes on without a caller that stopped waiting, for the next calls. The lookup asks
each Sentinel ``SENTINEL MASTERS`` itself (redis-py's ``discover_master`` decides the same way, but its error holds
the repr of each Sentinel's connection pool), so a failed one says briefly what each Sentinel answered. A forked child
forgets the lookups under way in its parent (their threads are not in the child): its calls start their own.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent import futures
from typing import Any

import redis
import redis.sentinel

from pysoa_like.common._short_text import cap_line
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.redis_gateway.backend.base import (
    BaseRedisClient,
    CannotGetConnectionError,
    SlotClient,
    make_redis_client,
    merge_connection_kwargs,
    normalize_host,
)
from pysoa_like.common.transport.redis_gateway.protocol import queue_full_backoff_seconds
from pysoa_like.core.constants import DEFAULT_REDIS_PORT, DEFAULT_SENTINEL_PORT
from pysoa_like.core.endpoint import endpoint_of

__all__ = [
    "DEFAULT_SENTINEL_KWARGS",
    "MONITORS_NO_MASTER",
    "SERVICES_DISCOVERY_CLOSED",
    "SentinelRedisClient",
    "ServiceDiscovery",
    "discovery_timed_out",
    "lookup_closed",
    "lookup_timed_out",
    "master_not_found",
    "monitors_no_master_named",
    "services_not_discovered",
]

#: The error of a discovery of the Sentinel services that closing ended (the same for both Redis drivers).
SERVICES_DISCOVERY_CLOSED = "The discovery of the Sentinel services was closed before one listed any"

# Options of the connections to the Sentinels themselves, under the user's ``sentinel_kwargs``.
DEFAULT_SENTINEL_KWARGS: Mapping[str, Any] = {
    "socket_connect_timeout": 5.0,
    "socket_timeout": 5.0,
    "socket_keepalive": True,
}

# Why a Sentinel that answered SENTINEL MASTERS gave no service to discover.
MONITORS_NO_MASTER = "it monitors no master"
# The most characters of one Sentinel's answer quoted in an error (a few Sentinels keep the message one short line).
_CAUSE_CHARACTERS = 150

# Every Sentinel backend of the process, whose master lookups under way a forked child forgets (see _after_fork).
_BACKENDS: weakref.WeakSet[SentinelRedisClient] = weakref.WeakSet()


class SentinelRedisClient(BaseRedisClient):
    """A ring of Sentinel-managed masters, one per service.

    Args:
        hosts: The Sentinels: ``"host"`` (port 26379, or ``redis_port`` when given), ``"host:port"`` or
            ``("host", port)``; default ``[("localhost", 26379)]``.
        connection_kwargs: redis-py keyword arguments for the master connections (as for the standard
            backend, with the same defaults).
        redis_db: The database number on the masters.
        redis_port: The port of Sentinel host names given without one.
        sentinel_services: The services forming the ring, in order. When absent, they are discovered with
            ``SENTINEL MASTERS`` in the order the first Sentinel that lists any lists them (configure them
            explicitly: clients and servers must see the same order).
        sentinel_failover_retries: How many more times to ask the Sentinels when no master is known (during
            a failover), sleeping ``(2**i + random()) / 4`` seconds before retry i.
        sentinel_kwargs: redis-py keyword arguments for the Sentinel connections, over the defaults
            ``socket_connect_timeout=5.0``, ``socket_timeout=5.0`` and ``socket_keepalive=True``.

    Raises:
        ValueError: If a host is malformed.
        CannotGetConnectionError: If no service is configured and no Sentinel lists any (none answered, or those
            that did monitor no master): an outage, not a settings mistake, so the transports raise their
            ``MessageSendError`` or ``MessageReceiveError`` for it and the next use asks the Sentinels again. A
            Sentinel host that is not one (it answers ``SENTINEL MASTERS`` with an error) is named so in the message.
        redis.AuthenticationError: If no service is configured and a Sentinel refused the credentials while none
            listed any (a server stops on it, as when Redis refuses them).
    """

    def __init__(
        self,
        hosts: Sequence[Any] | None = None,
        connection_kwargs: Mapping[str, Any] | None = None,
        redis_db: int | None = None,
        redis_port: int | None = None,
        sentinel_services: Sequence[str] | None = None,
        sentinel_failover_retries: int = 0,
        sentinel_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.sentinel_addresses = _sentinel_addresses(hosts, redis_port)
        self.connection_kwargs = merge_connection_kwargs(connection_kwargs, redis_db)
        # A key the masters' connections cannot honour is refused now, not at the first master lookup.
        endpoint_of(("localhost", DEFAULT_REDIS_PORT), self.connection_kwargs)
        self.sentinel_failover_retries = sentinel_failover_retries
        # ("host:port", its client) in self._sentinels, in the order asked: one that knew a master is asked first the
        # next time.
        self.sentinel_kwargs, self._sentinel, self._sentinels = _sentinels_of(self.sentinel_addresses, sentinel_kwargs)
        self.services: list[str] = (
            list(sentinel_services) if sentinel_services else ServiceDiscovery(self._sentinels).run()
        )
        super().__init__(len(self.services))
        self._masters: list[SlotClient | None] = [None] * len(self.services)
        # Held through a master lookup: one thread at a time asks the Sentinels (and reorders them).
        self._lookup_lock = threading.Lock()
        # Held only to put a master client in or take one out, so close() and reset_client() never wait for a lookup.
        self._lock = threading.Lock()
        # Set by close() (and replaced by a new one): a master lookup under way then ends at once, even in its backoff.
        self._closed = threading.Event()
        # Ring slot -> the lookup of its master under way (under self._lock): the callers meanwhile share it.
        self._lookups: dict[int, futures.Future[SlotClient]] = {}
        _BACKENDS.add(self)

    def client_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> SlotClient:
        """The client of the current master of service ``services[index]``, looked up when not cached.

        The lookup runs in a thread of its own, which every caller asking for the slot meanwhile waits for.

        Args:
            deadline: ``time.monotonic()`` past which the caller stops waiting for the lookup (``None``: until it
                ends); the lookup goes on without it, and the master it finds serves the next calls.

        Raises:
            CannotGetConnectionError: If no master is found after ``sentinel_failover_retries`` retries, or by
                ``deadline``.
        """
        master = self._masters[index]
        if master is not None:
            return master
        started = time.monotonic()
        lookup = self._lookup_of(index, metrics, metrics_prefix)
        if deadline is not None and not futures.wait((lookup,), max(deadline - started, 0.0)).done:
            raise CannotGetConnectionError(lookup_timed_out(self.services[index], time.monotonic() - started))
        return lookup.result()

    def _lookup_of(
        self, index: int, metrics: MetricsRecorder | None, metrics_prefix: str
    ) -> futures.Future[SlotClient]:
        """The lookup of slot ``index``'s master under way, started in a thread of its own when there is none.

        Raises:
            CannotGetConnectionError: No thread could be started for it (nothing is kept: the next call tries again).
        """
        with self._lock:
            lookup = self._lookups.get(index)
            if lookup is None:
                lookup = futures.Future()
                self._start_lookup(index, lookup, metrics, metrics_prefix)
                # (Kept only once its thread runs; the thread's end waits for self._lock, so it finds it kept.)
                self._lookups[index] = lookup
        return lookup

    def _start_lookup(
        self, index: int, lookup: futures.Future[SlotClient], metrics: MetricsRecorder | None, metrics_prefix: str
    ) -> None:
        # (The close() event of now: a close() before the lookup ends ends it.)
        arguments = (index, lookup, self._closed, metrics, metrics_prefix)
        name = f"pysoa-like-sentinel-lookup-{self.services[index]}"
        try:
            threading.Thread(target=self._look_up, args=arguments, name=name, daemon=True).start()
        except RuntimeError as exc:  # the OS gives no more threads, or the interpreter is shutting down
            raise CannotGetConnectionError(_lookup_not_started(self.services[index], exc)) from exc

    def _forget_lookups(self) -> None:
        """In a forked child: the lookups under way in the parent have no thread here (they would never end) and a
        lock may be held by one, so the child starts afresh; the masters already known are kept."""
        self._lookup_lock = threading.Lock()
        self._lock = threading.Lock()
        self._lookups = {}

    def _look_up(
        self,
        index: int,
        lookup: futures.Future[SlotClient],
        closed: threading.Event,
        metrics: MetricsRecorder | None,
        metrics_prefix: str,
    ) -> None:
        """The thread of a master lookup: its outcome set on ``lookup``, once ``lookup`` is no longer the slot's (a
        caller then finds the master kept, or starts a new lookup)."""
        try:
            master = self._looked_up(index, closed, metrics, metrics_prefix)
        except BaseException as exc:
            self._lookup_ended(index, lookup)
            lookup.set_exception(exc)
        else:
            self._lookup_ended(index, lookup)
            lookup.set_result(master)

    def _lookup_ended(self, index: int, lookup: futures.Future[SlotClient]) -> None:
        with self._lock:
            if self._lookups.get(index) is lookup:
                del self._lookups[index]

    def _looked_up(
        self, index: int, closed: threading.Event, metrics: MetricsRecorder | None, metrics_prefix: str
    ) -> SlotClient:
        """Slot ``index``'s master client as the Sentinels name it, kept (one thread at a time asks them).

        Raises:
            CannotGetConnectionError: No master found, or ``closed`` was set (by :meth:`close`).
        """
        service = self.services[index]
        with self._lookup_lock:
            master = self._masters[index]
            if master is not None:
                return master
            if closed.is_set():
                raise CannotGetConnectionError(lookup_closed(service))
            try:
                if metrics is not None:
                    with metrics.timer(metrics_prefix + "backend.sentinel.populate_master_client"):
                        address = self._master_address(service, closed, metrics, metrics_prefix)
                else:
                    address = self._master_address(service, closed, None, metrics_prefix)
            finally:
                if closed.is_set():
                    self._disconnect_sentinels()  # (a connection the lookup opened after close() closed them)
            with self._lock:
                if closed.is_set():  # close() ran once a Sentinel had named the master: it is not kept
                    raise CannotGetConnectionError(lookup_closed(service, address))
                master = self._masters[index] = make_redis_client(address, self.connection_kwargs)
            return master

    def _master_address(
        self, service: str, closed: threading.Event, metrics: MetricsRecorder | None, metrics_prefix: str
    ) -> tuple[str, int]:
        for attempt in range(self.sentinel_failover_retries + 1):
            address, asked = self._find_master(service, closed)
            if address is not None:
                return address
            if closed.is_set():
                raise CannotGetConnectionError(lookup_closed(service))
            if attempt >= self.sentinel_failover_retries:
                raise CannotGetConnectionError(master_not_found(service, asked))
            if metrics is not None:
                metrics.counter(metrics_prefix + "backend.sentinel.master_not_found_retry").increment()
            closed.wait(queue_full_backoff_seconds(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _find_master(
        self, service: str, closed: threading.Event
    ) -> tuple[tuple[str, int] | None, list[tuple[str, str]]]:
        """The address of ``service``'s master as the first Sentinel that knows it up says, and why each Sentinel
        asked before it did not say (redis-py's rule: the master must be up and not subjectively or objectively
        down); no other Sentinel is asked once ``closed`` is set (by :meth:`close`)."""
        asked: list[tuple[str, str]] = []
        for position, (address, sentinel) in enumerate(self._sentinels):
            if closed.is_set():
                break
            try:
                state: Any = sentinel.sentinel_masters().get(service)
            except redis.RedisError as exc:
                asked.append((address, str(exc)))
                continue
            if not state:
                asked.append((address, monitors_no_master_named(service)))
            elif not self._sentinel.check_master_state(state, service):  # type: ignore[no-untyped-call, unused-ignore]
                asked.append((address, f"it sees master {state['ip']}:{state['port']} down"))
            else:
                if position:
                    self._sentinels.insert(0, self._sentinels.pop(position))
                return (str(state["ip"]), int(state["port"])), asked
        return None, asked

    def reset_client(self, index: int) -> None:
        """Drop slot ``index``'s master client after an error; the next call asks the Sentinels again."""
        with self._lock:
            master, self._masters[index] = self._masters[index], None
        if master is not None:
            master.connection_pool.disconnect()

    def close(self) -> None:
        """Close the master and Sentinel connections (they reopen if used again).

        A master lookup under way (in its thread) is not waited for: the Sentinel it is asking is no longer
        awaited (its connection is closed under the question), no other is asked, its wait before asking again
        (``sentinel_failover_retries``) ends, and its callers get
        :class:`CannotGetConnectionError` saying so; it keeps no master (not even one a Sentinel has just named) and
        no Sentinel connection. A lookup asked for before close() and still waiting for another slot's (one at a
        time asks the Sentinels) ends so too, asking no Sentinel. One still
        connecting to a Sentinel that does not answer the connection raises so at the Sentinels'
        ``socket_connect_timeout`` (redis-py gives no hold on that socket), but close() does not wait for it.
        """
        with self._lock:
            # (A lookup asked for from now on is a new one, not one that this close() ends.)
            closed, self._closed = self._closed, threading.Event()
            self._lookups.clear()
        closed.set()
        self._disconnect_sentinels()
        self.close_lanes()
        for index in range(self.ring_size):
            self.reset_client(index)
        self._disconnect_sentinels()  # (any a lookup opened meanwhile)

    def _disconnect_sentinels(self) -> None:
        for sentinel in self._sentinel.sentinels:
            sentinel.connection_pool.disconnect()


class ServiceDiscovery:
    """One reading of the services to discover (``SENTINEL MASTERS``), asking each Sentinel in turn until one lists
    any, which another thread may end early with :meth:`close`.

    Args:
        sentinels: Each Sentinel as ``("host:port", its redis-py client)``, in the order to ask them.
    """

    def __init__(self, sentinels: Sequence[tuple[str, Any]]) -> None:
        self._sentinels = list(sentinels)
        self._closed = False

    @classmethod
    def of_settings(cls, backend_layer_kwargs: Mapping[str, Any]) -> ServiceDiscovery:
        """The discovery a :class:`SentinelRedisClient` of these settings would run (its ``hosts``, ``redis_port``
        and ``sentinel_kwargs``), on Sentinel connections of its own (closed by :meth:`close`).

        Raises:
            ValueError: If a host is malformed.
        """
        addresses = _sentinel_addresses(backend_layer_kwargs.get("hosts"), backend_layer_kwargs.get("redis_port"))
        return cls(_sentinels_of(addresses, backend_layer_kwargs.get("sentinel_kwargs"))[2])

    def run(self) -> list[str]:
        """The services, in the order the first Sentinel that lists any lists them (as PySOA does: see
        :class:`SentinelRedisClient`).

        Raises:
            CannotGetConnectionError: No Sentinel lists any (none answered, or those that did monitor no master), or
                the discovery was closed meanwhile (said so).
            redis.AuthenticationError: A Sentinel refused the credentials while none listed any.
        """
        asked: list[tuple[str, str]] = []
        refused: redis.AuthenticationError | None = None
        for address, sentinel in self._sentinels:
            if self._closed:
                break
            try:
                masters: Any = sentinel.sentinel_masters()
            except redis.AuthenticationError as exc:
                refused = exc
                asked.append((address, f"the credentials are refused: {exc}"))
                continue
            except redis.ResponseError as exc:
                # (A host that is not a Sentinel answers "unknown command"; an ACL without +sentinel, NOPERM.)
                asked.append((address, f"is it a Sentinel? it answered: {exc}"))
                continue
            except redis.RedisError as exc:
                asked.append((address, str(exc)))
                continue
            if masters:
                return list(masters)
            asked.append((address, MONITORS_NO_MASTER))
        self._disconnect()
        if self._closed:
            raise CannotGetConnectionError(SERVICES_DISCOVERY_CLOSED)
        if refused is not None:
            # Waiting cannot fix refused credentials: not an outage (see the transports).
            raise redis.AuthenticationError(services_not_discovered(asked)) from refused
        raise CannotGetConnectionError(services_not_discovered(asked))

    def close(self) -> None:
        """End the discovery and close its Sentinel connections; safe from another thread while :meth:`run` runs.

        A Sentinel being asked stops being awaited at once (its connection is closed under the question): :meth:`run`
        asks no other and raises. One still being connected to (it does not answer the connection) ends at its
        ``socket_connect_timeout``; redis-py gives no hold on that socket.
        """
        self._closed = True
        self._disconnect()

    def _disconnect(self) -> None:
        for _address, sentinel in self._sentinels:
            sentinel.connection_pool.disconnect()


def _sentinel_addresses(hosts: Sequence[Any] | None, redis_port: int | None) -> list[tuple[str, int]]:
    """The Sentinels of the ``hosts`` and ``redis_port`` settings (the default Sentinel when no host is given).

    Raises:
        ValueError: If ``hosts`` is not a list, or a host is malformed or a URL.
    """
    port = redis_port or DEFAULT_SENTINEL_PORT
    entries = BaseRedisClient._check_hosts(hosts) or [("localhost", port)]
    addresses = [normalize_host(host, port) for host in entries]
    if any(isinstance(address, str) for address in addresses):
        raise ValueError("Sentinel hosts must be 'host', 'host:port' or ('host', port), not URLs")
    return [address for address in addresses if not isinstance(address, str)]


def _sentinels_of(
    addresses: Sequence[tuple[str, int]], sentinel_kwargs: Mapping[str, Any] | None
) -> tuple[dict[str, Any], redis.sentinel.Sentinel, list[tuple[str, Any]]]:
    """The options of the Sentinel connections (the user's ``sentinel_kwargs`` over the defaults), redis-py's
    ``Sentinel`` of ``addresses`` with them, and each of its Sentinel clients with its ``"host:port"``."""
    options = {**DEFAULT_SENTINEL_KWARGS, **(sentinel_kwargs or {})}
    sentinel = redis.sentinel.Sentinel(addresses, sentinel_kwargs=options)  # type: ignore[no-untyped-call, unused-ignore]
    named = [(f"{host}:{port}", client) for (host, port), client in zip(addresses, sentinel.sentinels, strict=True)]
    return options, sentinel, named


def lookup_closed(service: str, found: tuple[str, int] | None = None) -> str:
    """The error of a master lookup that closing ended (:meth:`SentinelRedisClient.close`, or the asyncio driver's
    connections closed), before a Sentinel named the master or once one had (``found``, its address: not kept)."""
    lookup = f"Cannot get connection: the lookup of the master of service {service!r} was closed"
    if found is None:
        return f"{lookup} before a Sentinel named one"
    return f"{lookup} after a Sentinel named one ({found[0]}:{found[1]}), which is not kept"


def _lookup_not_started(service: str, cause: RuntimeError) -> str:
    return f"Cannot get connection: the lookup of the master of service {service!r} could not start a thread ({cause})"


def lookup_timed_out(service: str, waited: float) -> str:
    """The error of a call that stopped waiting, at its deadline, for the lookup of ``service``'s master (``waited``:
    for how many seconds); the lookup goes on without it (the same for both Redis drivers)."""
    return (
        f"Cannot get connection: no Sentinel had named the master of service {service!r} when the call's time was "
        f"up (after {round(waited, 1):g} s; the lookup goes on for the next calls)"
    )


def discovery_timed_out(waited: float) -> str:
    """The error of a call that stopped waiting, at its deadline, for the discovery of the Sentinel services
    (``SENTINEL MASTERS``, no ``sentinel_services`` configured; ``waited``: for how many seconds); the discovery goes
    on without it (the same for both Redis drivers)."""
    return (
        f"Cannot get connection: no Sentinel had listed the services (SENTINEL MASTERS; no sentinel_services "
        f"configured) when the call's time was up (after {round(waited, 1):g} s; the discovery goes on for the next "
        f"calls)"
    )


def services_not_discovered(asked: Sequence[tuple[str, str]]) -> str:
    """The text of a failed discovery of the Sentinel services (the same for both Redis drivers).

    Args:
        asked: Each Sentinel asked, as ``("host:port", why it gave no service)``, in the order asked.
    """
    return f"No sentinel_services configured and none could be discovered with SENTINEL MASTERS ({_asked(asked)})"


def master_not_found(service: str, asked: Sequence[tuple[str, str]]) -> str:
    """The text of a failed lookup of a service's master (the same for both Redis drivers): short, whatever the
    Sentinels answered.

    Args:
        service: The Sentinel service name.
        asked: Each Sentinel asked, as ``("host:port", why it gave no master)``, in the order asked.
    """
    return f"Cannot get connection: no Sentinel knows a master for service {service!r} ({_asked(asked)})"


def monitors_no_master_named(service: str) -> str:
    """Why a Sentinel gave no master for ``service``: it does not monitor one of that name."""
    return f"it monitors no master named {service!r}"


def _asked(asked: Sequence[tuple[str, str]]) -> str:
    causes = "; ".join(f"{address}: {cap_line(cause, _CAUSE_CHARACTERS)}" for address, cause in asked)
    return f"asked {causes}" if causes else "no Sentinel asked"


def _after_fork() -> None:
    """In a forked child, every Sentinel backend forgets its parent's master lookups under way
    (:meth:`SentinelRedisClient._forget_lookups`)."""
    for backend in list(_BACKENDS):
        backend._forget_lookups()


if hasattr(os, "register_at_fork"):  # (no fork, so no such hook, on Windows)
    os.register_at_fork(after_in_child=_after_fork)
