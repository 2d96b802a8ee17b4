"""Where the fleet keys live: :class:`FleetRedis`, a ring of Redis masters chosen per key.

By default the fleet features use the Redis of the transports (a server uses its own transport's
``backend_type`` and ``backend_layer_kwargs``; a client uses those of its Redis services, when they
all agree), so one ``redis.standard`` Redis serves requests, events, periodic tasks and the registry
alike. The ``fleet`` setting (servers) or argument (clients) names another one, in the same shape::

    {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": ["redis://events-redis:6379/0"]}}

Every member of a fleet must name the same Redis (the same hosts in the same order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis
from redis.commands.core import Script
from redis.exceptions import ClusterDownError

from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient, CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.backend.sentinel import ServiceDiscovery
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS, Redirect, cluster_down
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_SENTINEL, REDIS_BACKEND_TYPE_STANDARD
from pysoa_like.fleet._asking import asking_client, redirect_of
from pysoa_like.fleet.errors import FleetConnectionError
from pysoa_like.fleet.keys import ring_index
from pysoa_like.fleet.settings import FLEET_SETTINGS_SCHEMA

__all__ = ["FleetRedis", "fleet_settings_from_transport"]

_T = TypeVar("_T")


_REDIS_TRANSPORT_PATHS = (
    "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
    "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
)


def fleet_settings_from_transport(transport: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The fleet settings implied by a transport class configuration, or ``None`` for a non-Redis transport.

    Args:
        transport: ``{"path": ..., "kwargs": ..., "object": ...}`` (``object`` optional).

    Returns:
        ``{"backend_type", "backend_layer_kwargs"}`` of a Redis Gateway transport (or a subclass).
    """
    if not transport:
        return None
    transport_class = transport.get("object")
    is_redis = transport.get("path") in _REDIS_TRANSPORT_PATHS
    if transport_class is not None and not is_redis:
        from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
        from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport

        is_redis = isinstance(transport_class, type) and issubclass(
            transport_class, (RedisClientTransport, RedisServerTransport)
        )
    if not is_redis:
        return None
    kwargs = transport.get("kwargs") or {}
    return {
        "backend_type": kwargs.get("backend_type") or REDIS_BACKEND_TYPE_STANDARD,
        "backend_layer_kwargs": dict(kwargs.get("backend_layer_kwargs") or {}),
    }


class FleetRedis:
    """The Redis masters holding the fleet keys, with the one serving each key.

    Connections are made lazily and shared by the threads of a process (redis-py pools); a worker's
    blocking reads hold their own connection for the read's duration.

    Args:
        backend_type: ``"redis.standard"``, ``"redis.sentinel"`` or ``"redis.cluster"`` (whose ring is the 16384
            slots: a key's ring slot is its hash slot).
        backend_layer_kwargs: As for the Redis transports (``hosts``, ``connection_kwargs``, ...).

    Raises:
        ValueError: An unknown backend type, or invalid backend arguments.
    """

    def __init__(
        self, backend_type: str = REDIS_BACKEND_TYPE_STANDARD, backend_layer_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        problems = FLEET_SETTINGS_SCHEMA.errors(
            {"backend_type": backend_type, "backend_layer_kwargs": dict(backend_layer_kwargs or {})}
        )
        if problems:
            details = "; ".join(f"{p.pointer or 'fleet'}: {p.message}" for p in problems)
            raise ValueError(f"Invalid fleet settings: {details}")
        self.backend_type = backend_type
        self.backend_layer_kwargs = dict(backend_layer_kwargs or {})
        self._backend: BaseRedisClient | None = None
        # Held while the backend is made (one maker at a time); close() never waits for it.
        self._lock = threading.Lock()
        # Guards what close() changes: the backend, the discovery under way and the count of closes.
        self._state_lock = threading.Lock()
        # The discovery of the Sentinel services under way (the Sentinel backend without sentinel_services).
        self._discovery: ServiceDiscovery | None = None
        # How many times close() ran: a backend made across a close is closed at once, not kept.
        self._closes = 0
        self._scripts: dict[str, Script] = {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FleetRedis:
        """Build from ``{"backend_type", "backend_layer_kwargs"}`` (the ``fleet`` setting's shape)."""
        return cls(settings.get("backend_type") or REDIS_BACKEND_TYPE_STANDARD, settings.get("backend_layer_kwargs"))

    def same_place(self, settings: Mapping[str, Any]) -> bool:
        """Whether ``settings`` name the Redis this object uses."""
        return (settings.get("backend_type") or REDIS_BACKEND_TYPE_STANDARD) == self.backend_type and dict(
            settings.get("backend_layer_kwargs") or {}
        ) == self.backend_layer_kwargs

    @property
    def backend(self) -> BaseRedisClient:
        """The ring of masters (built on first use; not kept when it cannot be built, so the next use tries again).

        Raises:
            FleetConnectionError: It needs Redis and cannot have it yet (the Sentinel backend without
                ``sentinel_services``, when no Sentinel lists a service).
        """
        backend = self._backend
        if backend is None:
            with self._lock:
                backend = self._backend
                if backend is None:
                    backend = self._make_backend()
        return backend

    def _make_backend(self) -> BaseRedisClient:
        """Make the backend and keep it, unless :meth:`close` ran meanwhile (it is then closed, and the caller gets
        a :class:`FleetConnectionError`).

        The Sentinel services to discover are discovered here first, where :meth:`close` can end the discovery
        (the backend would discover them in its constructor, out of reach).
        """
        from pysoa_like.common.transport.redis_gateway.backend import make_backend

        with self._state_lock:
            closes = self._closes
        kwargs = self.backend_layer_kwargs
        try:
            if self.backend_type == REDIS_BACKEND_TYPE_SENTINEL and not kwargs.get("sentinel_services"):
                kwargs = {**kwargs, "sentinel_services": self._discover_services(closes)}
            backend = make_backend(self.backend_type, kwargs)
        except (CannotGetConnectionError, redis.AuthenticationError) as exc:
            raise FleetConnectionError(f"No Redis for the fleet keys: {exc}") from exc
        with self._state_lock:
            if self._closes == closes:
                self._backend = backend
                return backend
        backend.close()
        raise FleetConnectionError("No Redis for the fleet keys: the FleetRedis was closed while connecting")

    def _discover_services(self, closes: int) -> list[str]:
        """The Sentinel services, discovered unless :meth:`close` runs (before or during the discovery).

        Raises:
            CannotGetConnectionError: No Sentinel lists any, or :meth:`close` ran.
            redis.AuthenticationError: A Sentinel refused the credentials while none listed any.
        """
        discovery = ServiceDiscovery.of_settings(self.backend_layer_kwargs)
        with self._state_lock:
            begun = self._closes == closes
            if begun:
                self._discovery = discovery
        try:
            if not begun:
                discovery.close()  # closed before it began: run() says so at once
            return discovery.run()
        finally:
            with self._state_lock:
                if self._discovery is discovery:
                    self._discovery = None
            discovery.close()  # the backend asks the Sentinels on connections of its own

    @property
    def ring_size(self) -> int:
        """The number of masters."""
        return self.backend.ring_size

    def index_for(self, key: str) -> int:
        """The ring slot holding ``key`` (see :mod:`pysoa_like.fleet.keys`)."""
        return ring_index(key, self.backend.ring_size)

    def client_for(self, key: str) -> redis.Redis:
        """The redis-py client of the master holding ``key``.

        Raises:
            FleetConnectionError: No master can be had for that slot (Sentinel knows none).
        """
        return self.client_at(self.index_for(key))

    def client_at(self, index: int) -> redis.Redis:
        """The redis-py client of ring slot ``index``.

        Raises:
            FleetConnectionError: No master can be had for that slot (or no backend yet: see :attr:`backend`).
        """
        try:
            return self.backend.client_at(index)
        except FleetConnectionError:
            raise  # (the backend's own, already saying so)
        except Exception as exc:
            raise FleetConnectionError(f"No Redis for the fleet keys on ring slot {index}: {exc}") from exc

    def clients(self) -> list[redis.Redis]:
        """Every master's client, in ring order."""
        return [self.client_at(index) for index in self.master_indexes()]

    def master_indexes(self) -> list[int]:
        """One ring slot per master (every slot of a ring; one slot of each master of a Redis Cluster).

        Raises:
            FleetConnectionError: The masters cannot be known (no node of the cluster answers).
        """
        try:
            return self.backend.master_indexes()
        except Exception as exc:
            raise FleetConnectionError(f"Cannot list the Redis masters of the fleet: {exc}") from exc

    def queue_indexes(self, key: str) -> list[int]:
        """The ring slots where the request queue ``key`` may hold messages (see ``BaseRedisClient.queue_indexes``)."""
        return self.backend.queue_indexes(key)

    def script(self, text: str) -> Script:
        """A redis-py script object for ``text`` (EVALSHA, loading it when a master does not know it)."""
        script = self._scripts.get(text)
        if script is None:
            # Bytes: the digest needs no client's encoder, and every call passes its client.
            script = self._scripts[text] = Script(None, text.encode("utf-8"))  # type: ignore[arg-type]
        return script

    def run(self, key: str, operation: Callable[[redis.Redis], _T], what: str) -> _T:
        """Run ``operation`` with the client holding ``key``, mapping Redis failures.

        Args:
            key: A key the operation touches (all its keys share one slot).
            operation: Called with the client.
            what: What is being done, for the error message ("publishing event user.created").

        Under Redis Cluster, ``MOVED`` (the slot moved: a failover or a resharding) runs the operation again on the
        slot's new master, and ``ASK`` (the slot is migrating, the key already moved) runs it on the node named,
        each command after ``ASKING``; at most :data:`~pysoa_like.core.cluster.MAXIMUM_REDIRECTS` in a row. The
        operation must be safe to run again (nothing ran where Redis redirected it, unless a pipeline's earlier
        commands did).

        Raises:
            FleetConnectionError: Redis failed (the slot's connection is reset for the next try).
        """
        asking: Redirect | None = None
        for attempt in range(MAXIMUM_REDIRECTS + 1):
            index = self.index_for(key)
            asked = self._asking_client(asking) if asking is not None else None
            try:
                return operation(asked if asked is not None else self.client_at(index))
            except redis.ResponseError as exc:
                redirect = redirect_of(exc) if self.backend.follows_redirects else None
                if redirect is None or attempt == MAXIMUM_REDIRECTS:
                    if isinstance(exc, ClusterDownError) or cluster_down(str(exc)):
                        self.backend.reset_client(index)
                    raise FleetConnectionError(f"Redis failed while {what}: {exc}") from exc
                self.backend.note_redirect(redirect)
                asking = redirect if redirect.ask else None
            except (redis.RedisError, OSError) as exc:
                if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, OSError)):
                    self.backend.reset_client(index)
                raise FleetConnectionError(f"Redis failed while {what}: {exc}") from exc
            finally:
                if asked is not None:
                    asked.close()  # its connection goes back to the node's pool
        raise AssertionError("unreachable")  # pragma: no cover

    def _asking_client(self, redirect: Redirect) -> redis.Redis:
        """A client of the node an ``ASK`` answer named, sending ``ASKING`` before each command."""
        try:
            return asking_client(self.backend.client_for_address(redirect.address))
        except Exception as exc:
            raise FleetConnectionError(f"No Redis for the fleet keys at {redirect.address}: {exc}") from exc

    def run_script(self, text: str, keys: Sequence[str], args: Sequence[Any], what: str) -> Any:
        """Run a Lua script on the master holding ``keys`` (one slot), mapping failures as :meth:`run` does."""
        script = self.script(text)
        return self.run(keys[0], lambda client: script(keys=list(keys), args=list(args), client=client), what)

    def close(self) -> None:
        """Close every connection (they reopen if used again), at once.

        A use of this object in another thread that is still making the connections (with Sentinel, discovering
        the services) is not waited for: the Sentinel it is asking is no longer awaited, what it made is closed, and
        it raises :class:`~pysoa_like.fleet.errors.FleetConnectionError`. One still connecting to a Sentinel that does
        not answer the connection ends at the Sentinels' ``socket_connect_timeout`` (``sentinel_kwargs``).
        """
        with self._state_lock:
            self._closes += 1
            backend, self._backend = self._backend, None
            discovery, self._discovery = self._discovery, None
        if discovery is not None:
            discovery.close()
        if backend is not None:
            backend.close()
