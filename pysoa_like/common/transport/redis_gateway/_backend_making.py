"""A Sentinel backend whose services must be discovered first, made in a thread of its own.

Without ``sentinel_services`` the Sentinel backend asks the Sentinels for the services (``SENTINEL MASTERS``) before it
can exist. That discovery runs here, in a daemon thread per process and backend settings, not under the backend
cache's lock: every caller meanwhile waits for that one, each until its own deadline (a call's), and the backend it
makes is cached for the next calls even when no caller waits any more. A failed discovery keeps nothing: the next
call starts another. :meth:`~pysoa_like.common.transport.redis_gateway._backends.SharedBackends.clear_backend_cache`
ends those under way (and only those: a making started after it keeps its backend). A forked child makes its own
(the cache key holds the process id) and forgets its parent's, whose threads are not in the child, and whose lock
one of them may have held (as it may have held the backend cache's, see ``_backends.py``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent import futures
from typing import Any

from pysoa_like.common.metrics import Timer
from pysoa_like.common.transport.redis_gateway.backend import checked_backend_kwargs, make_backend
from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient, CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.backend.sentinel import ServiceDiscovery, discovery_timed_out
from pysoa_like.core.constants import REDIS_BACKEND_TYPE_SENTINEL

__all__ = ["BACKEND_MAKING", "BackendMaking", "Keep", "Keeper", "needs_discovery"]

# Puts a made backend in the process's cache (unless the cache was cleared since the making began): what it keeps.
Keep = Callable[[BaseRedisClient], BaseRedisClient]
# The Keep of a making, got as the making starts (under BackendMaking's lock: a clear of the cache is before or after).
Keeper = Callable[[], Keep]


def needs_discovery(backend_type: str, backend_layer_kwargs: Mapping[str, Any]) -> bool:
    """Whether making this backend asks the Sentinels for its services (Sentinel without ``sentinel_services``)."""
    return backend_type == REDIS_BACKEND_TYPE_SENTINEL and not backend_layer_kwargs.get("sentinel_services")


class _Making:
    """One backend being made: its outcome, and its discovery (which :meth:`BackendMaking.end_all` closes)."""

    __slots__ = ("discovery", "outcome")

    def __init__(self, discovery: ServiceDiscovery) -> None:
        self.outcome: futures.Future[BaseRedisClient] = futures.Future()
        self.discovery = discovery


class BackendMaking:
    """The process's Sentinel backends being made (their services discovered), by backend cache key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._under_way: dict[Hashable, _Making] = {}

    def backend(
        self,
        key: Hashable,
        backend_layer_kwargs: Mapping[str, Any],
        keeper: Keeper,
        deadline: float | None,
        timer: Timer,
    ) -> BaseRedisClient:
        """The Sentinel backend of ``backend_layer_kwargs`` once its services are discovered (by the making under way
        for ``key``, or one started now), waited for until ``deadline`` (``time.monotonic()``; ``None``: until it
        ends). ``keeper`` gives what caches it, when a making starts now; ``timer`` times that making (discovery
        included).

        Raises:
            ValueError: Invalid backend arguments (before any Sentinel is asked).
            CannotGetConnectionError: No Sentinel listed a service (or had, by ``deadline``), the discovery was ended
                (:meth:`end_all`), or no thread could be started for it.
            redis.AuthenticationError: A Sentinel refused the credentials while none listed any.
        """
        checked_backend_kwargs(REDIS_BACKEND_TYPE_SENTINEL, backend_layer_kwargs)
        started = time.monotonic()
        outcome = self._making(key, backend_layer_kwargs, keeper, timer).outcome
        if deadline is not None and not futures.wait((outcome,), max(deadline - started, 0.0)).done:
            raise CannotGetConnectionError(discovery_timed_out(time.monotonic() - started))
        return outcome.result()

    def _making(self, key: Hashable, backend_layer_kwargs: Mapping[str, Any], keeper: Keeper, timer: Timer) -> _Making:
        """The making of ``key``'s backend under way, started in a thread of its own when there is none.

        Raises:
            CannotGetConnectionError: No thread could be started (nothing is kept: the next call tries again).
        """
        with self._lock:
            making = self._under_way.get(key)
            if making is None:
                making = _Making(ServiceDiscovery.of_settings(backend_layer_kwargs))
                # (Under the lock: a clear of the cache (end_all) either ends this making or came before its keep.)
                arguments = (key, making, backend_layer_kwargs, keeper(), timer)
                try:
                    threading.Thread(
                        target=self._make, args=arguments, name="pysoa-like-sentinel-discovery", daemon=True
                    ).start()
                except RuntimeError as exc:  # the OS gives no more threads, or the interpreter is shutting down
                    making.discovery.close()
                    raise CannotGetConnectionError(_discovery_not_started(exc)) from exc
                # (Kept only once its thread runs; the thread's end waits for self._lock, so it finds it kept.)
                self._under_way[key] = making
        return making

    def _make(
        self, key: Hashable, making: _Making, backend_layer_kwargs: Mapping[str, Any], keep: Keep, timer: Timer
    ) -> None:
        """The thread of a making: the services discovered, the backend made and kept (timed), the outcome set."""
        try:
            with timer:
                try:
                    services = making.discovery.run()
                finally:
                    making.discovery.close()  # the backend asks the Sentinels on connections of its own
                kwargs = {**backend_layer_kwargs, "sentinel_services": services}
                backend = keep(make_backend(REDIS_BACKEND_TYPE_SENTINEL, kwargs))
        except BaseException as exc:
            self._ended(key, making)
            making.outcome.set_exception(exc)
        else:
            self._ended(key, making)
            making.outcome.set_result(backend)

    def _ended(self, key: Hashable, making: _Making) -> None:
        with self._lock:
            if self._under_way.get(key) is making:
                del self._under_way[key]

    def end_all(self, clear: Callable[[], None]) -> None:
        """Clear the backend cache (``clear``) and end every making under way, at once as far as the makings go: one
        started after it is not ended, and its ``keep`` knows the clear. An ended making's discovery is closed (its
        callers get ``CannotGetConnectionError`` saying so), and a backend it still makes is not kept (the ``keep`` of
        the backend cache sees to that)."""
        with self._lock:
            clear()
            makings, self._under_way = list(self._under_way.values()), {}
        for making in makings:
            making.discovery.close()

    def forget_after_fork(self) -> None:
        """In a forked child: the makings under way in the parent have no thread here (they would never end), and
        the lock may be held by one."""
        self._lock = threading.Lock()
        self._under_way = {}


def _discovery_not_started(cause: RuntimeError) -> str:
    return f"Cannot get connection: the discovery of the Sentinel services could not start a thread ({cause})"


#: The process's makings (see the module docstring).
BACKEND_MAKING = BackendMaking()

if hasattr(os, "register_at_fork"):  # (no fork, so no such hook, on Windows)
    os.register_at_fork(after_in_child=BACKEND_MAKING.forget_after_fork)
