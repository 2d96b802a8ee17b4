"""The backend a Redis transport core uses, and the thread's lanes it hands out.

One backend per process and unique ``(backend_type, backend_layer_kwargs)`` (:func:`backend_key`) is shared by the
process's client transports, and one by its server transports. A thread's lane to a ring slot is looked up here
when the thread first needs it (on every use when the backend's lanes are not fixed), and made anew when Redis
closed its connection while it was idle, after the slot's master is looked up again (a restart, a failover).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import redis

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError, ReceiveAuthenticationError
from pysoa_like.common.transport.redis_gateway._backend_making import BACKEND_MAKING, Keep, needs_discovery
from pysoa_like.common.transport.redis_gateway.backend import make_backend
from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient, CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.backend.sentinel import SERVICES_DISCOVERY_CLOSED

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.common.transport.redis_gateway.core import _ThreadState

__all__ = ["SharedBackends", "backend_key", "without_transport_prefix"]


def without_transport_prefix(exc: Exception) -> BaseException:
    """What ``exc`` says went wrong, for a message that names the service itself: the cause of a transport error
    raised for a missing connection (its text begins ``Redis error sending to service <name>: ``, see
    :meth:`SharedBackends._no_connection`), ``exc`` itself otherwise."""
    cause = exc.__cause__
    if isinstance(exc, (MessageSendError, MessageReceiveError)) and isinstance(
        cause, (CannotGetConnectionError, redis.AuthenticationError)
    ):
        return cause
    return exc


def _freeze(value: Any) -> Hashable:
    """A hashable, order-insensitive (for mappings) form of a settings value, for the backend cache key."""
    if isinstance(value, Mapping):
        return ("map", frozenset((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(item) for item in value)
    try:
        hash(value)
    except TypeError:
        # An unhashable object (an SSL context, say) only matches itself.
        return ("object", id(value))
    return value  # type: ignore[no-any-return]


def backend_key(backend_type: str, backend_layer_kwargs: Mapping[str, Any]) -> Hashable:
    """What makes two transports' backends the same (equal settings share one backend, or one asyncio pool)."""
    return (backend_type, _freeze(backend_layer_kwargs))


class SharedBackends:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its backend, from the
    per-process cache, and the thread's lanes of that backend."""

    # One backend per (process, backend_type, backend_layer_kwargs), shared by the process's client transports (and
    # one for its server transports, see serve_on_own_backend).
    _backend_layer_cache: ClassVar[dict[Hashable, BaseRedisClient]] = {}
    _backend_cache_lock: ClassVar[threading.Lock] = threading.Lock()
    # How many times the cache was cleared: a backend made across a clear is closed, not kept.
    _backend_cache_clears: ClassVar[int] = 0

    service_name: str
    metrics: MetricsRecorder
    prefix: str
    measured: bool
    backend_type: str
    backend_layer_kwargs: Mapping[str, Any]
    _backend: BaseRedisClient | None
    _cache_key: Hashable
    _thread: _ThreadState

    if TYPE_CHECKING:

        @property
        def backend_layer(self) -> BaseRedisClient: ...

    def _get_backend(self, deadline: float | None = None) -> BaseRedisClient:
        """The cached backend, made first if need be. A Sentinel backend whose services must be discovered is made in a
        thread of its own (``_backend_making.py``), not under the cache's lock, and waited for until ``deadline``
        (``time.monotonic()``, a call's; ``None``: until it is made).

        Raises:
            CannotGetConnectionError: It needs Redis and cannot have it yet (or not by ``deadline``).
            redis.AuthenticationError: The Sentinels refused the credentials while none listed a service.
        """
        key = (os.getpid(), self._cache_key)
        backend = self._backend_layer_cache.get(key)
        if backend is not None:
            return backend
        if needs_discovery(self.backend_type, self.backend_layer_kwargs):
            timer = self.metrics.timer(self.prefix + "backend.initialize")
            keeper = functools.partial(self._keeper, key)
            return BACKEND_MAKING.backend(key, self.backend_layer_kwargs, keeper, deadline, timer)
        with self._backend_cache_lock:
            backend = self._backend_layer_cache.get(key)
            if backend is None:
                with self.metrics.timer(self.prefix + "backend.initialize"):
                    backend = make_backend(self.backend_type, self.backend_layer_kwargs)
                self._backend_layer_cache[key] = backend
        return backend

    def _keeper(self, key: Hashable) -> Keep:
        """What caches a backend made in its own thread for ``key``: the one cached meanwhile if any (the new one is
        closed), nothing when the cache was cleared since now (it is closed, and its callers told so). Called as the
        making starts, under the makings' lock, so a call that began before a clear of the cache does not count it."""
        with self._backend_cache_lock:
            clears = self._backend_cache_clears

        def keep(made: BaseRedisClient) -> BaseRedisClient:
            with self._backend_cache_lock:
                current = self._backend_layer_cache.get(key)
                kept = clears == self._backend_cache_clears and current is None
                if kept:
                    self._backend_layer_cache[key] = made
            if kept:
                return made
            made.close()
            if current is None:
                raise CannotGetConnectionError(SERVICES_DISCOVERY_CLOSED)
            return current

        return keep

    def _backend_for(self, error_prefix: str, deadline: float | None = None) -> BaseRedisClient:
        """The backend, made on first use (see :attr:`backend_layer`), for a send (``error_prefix`` ``"send"``) or a
        receive (any other).

        Making it can need Redis: the Sentinel backend without ``sentinel_services`` asks the Sentinels for the
        services (waited for until ``deadline``, a call's, at most: see :meth:`_get_backend`). When none lists any,
        that is an outage like Redis being down (nothing is cached: the next call asks again), so it is the transport
        error of the call that needed the backend.

        Raises:
            MessageSendError: (``error_prefix`` ``"send"``) The backend cannot be made yet.
            MessageReceiveError: (any other ``error_prefix``) The same.
            ReceiveAuthenticationError: (a receive) The Sentinels refused the credentials: waiting cannot help, so a
                server stops on it, as when Redis refuses them.
        """
        backend = self._backend
        if backend is not None:
            return backend
        try:
            backend = self._backend = self._get_backend(deadline)
            return backend
        except redis.AuthenticationError as exc:
            if error_prefix == "send":
                raise self._no_connection(error_prefix, exc) from exc
            self.metrics.counter(self.prefix + error_prefix + ".error.connection").increment()
            raise ReceiveAuthenticationError(f"Redis error receiving from service {self.service_name}: {exc}") from exc
        except CannotGetConnectionError as exc:
            raise self._no_connection(error_prefix, exc) from exc

    def _no_connection(self, error_prefix: str, exc: Exception) -> MessageSendError | MessageReceiveError:
        """The transport error (counted) for a send (``error_prefix`` ``"send"``) or a receive that found no
        connection (``exc``: no master known, no service discovered), worded as the transport's other Redis
        failures: ``Redis error sending to service <name>: ...`` (``receiving from`` for a receive)."""
        self.metrics.counter(self.prefix + error_prefix + ".error.connection").increment()
        if error_prefix == "send":
            return MessageSendError(f"Redis error sending to service {self.service_name}: {exc}")
        return MessageReceiveError(f"Redis error receiving from service {self.service_name}: {exc}")

    def serve_on_own_backend(self) -> None:
        """Use the backend of this process's server transports, not the one its client transports share (before
        first use): a server's connections then carry nothing but its own commands, so the wait for its next
        request may go out with its reply (:meth:`send_reply_then_pop`) while a client in the same thread (a
        hook's nested call) uses its own connection meanwhile."""
        self._cache_key = ("server", self._cache_key)

    @classmethod
    def clear_backend_cache(cls) -> None:
        """Close and forget every cached backend of this process (for tests and reconfiguration)."""
        backends: list[BaseRedisClient] = []

        def clear() -> None:
            with cls._backend_cache_lock:
                backends.extend(cls._backend_layer_cache.values())
                cls._backend_layer_cache = {}
                cls._backend_cache_clears += 1

        BACKEND_MAKING.end_all(clear)  # (a Sentinel backend being made across the clear is closed, not kept)
        for backend in backends:
            backend.close()

    @classmethod
    def _forget_cache_lock_after_fork(cls) -> None:
        """In a forked child: the cache's lock may be held by a thread of the parent (a discovery's thread keeps
        the backend it made under it), which is not in the child, so it would never be released."""
        cls._backend_cache_lock = threading.Lock()

    def _lane_at(
        self, index: int, timer_name: str, error_prefix: str, deadline: float | None = None
    ) -> tuple[int, Lane]:
        """The thread's lane to ring slot ``index`` (the lookup timed as ``timer_name`` when measured), made anew if
        Redis closed its connection while it was idle. ``deadline`` (``time.monotonic()``, a call's): when the slot's
        master must be looked up (Sentinel), the call waits for the lookup until then, not longer.

        Raises:
            MessageSendError: (``error_prefix`` ``"send"``) No master is known for the slot, or none was found by
                ``deadline`` (or, see :meth:`_backend_for`, no service).
            MessageReceiveError: (any other ``error_prefix``) The same.
        """
        backend = self._backend or self._backend_for(error_prefix, deadline)
        timer = self.metrics.timer(self.prefix + timer_name) if self.measured else None
        if timer is not None:
            timer.start()
        try:
            lane = backend.lane_at(index, self.metrics, self.prefix, deadline)
            if lane.check_connection():
                # Redis closed the connection while it was idle (restart, failover, idle timeout): the slot's master
                # is looked up again (Sentinel) before a new connection is opened.
                self.metrics.counter(self.prefix + "reconnect").increment()
                backend.reset_client(index)
                lane = backend.lane_at(index, self.metrics, self.prefix, deadline)
        except CannotGetConnectionError as exc:
            raise self._no_connection(error_prefix, exc) from exc
        finally:
            if timer is not None:
                timer.stop()
        if backend.fixed_lanes and timer is None:
            self._thread.lanes[index] = lane  # (the lookup stays timed when measured)
        return index, lane


if hasattr(os, "register_at_fork"):  # (no fork, so no such hook, on Windows)
    os.register_at_fork(after_in_child=SharedBackends._forget_cache_lock_after_fork)
