"""Telling a waiting caller that the worker handling its request died (opt-in: ``detect_dead_workers``).

A client that asks for it (``meta.watch_worker`` true in the request) gets a liveness key for its request: the
worker that takes the request sets ``<reply list key>.worker.<nonce>`` at once, with a time to live of
:data:`WORKER_KEY_TTL_MILLISECONDS`, refreshes it every :data:`WORKER_KEY_REFRESH_SECONDS` from a thread of its
own while the job runs, and deletes it right after pushing the reply. The key holds the worker's host and pid, so
workers holding requests are visible in Redis. The key contains the reply list's name, so it lives on the same
master as the reply list.

The client waits for a watched reply in slices of :data:`WATCH_CHECK_SECONDS` and, between slices, asks whether
the key exists. A key seen and then gone without a reply means the worker ended without answering: killed
(``SIGKILL``, out of memory), or it lost Redis. The caller is told within about
``WORKER_KEY_TTL_MILLISECONDS / 1000 + WATCH_CHECK_SECONDS`` seconds instead of waiting out its timeout. A key
never seen means the request still waits in the queue (or its worker died in the microseconds between taking
it and setting the key, which this cannot tell from a long queue).

Pure decisions only: the drivers do the Redis commands.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_WORKER_DIED
from pysoa_like.core.constants import QUEUE_NAME_PREFIX

__all__ = [
    "WATCH_CHECK_SECONDS",
    "WATCH_META_KEY",
    "WORKER_KEY_REFRESH_SECONDS",
    "WORKER_KEY_TTL_MILLISECONDS",
    "WatchVerdict",
    "WatchedRequests",
    "released_key_ttl_milliseconds",
    "worker_died_body",
    "worker_died_message",
    "worker_key",
]

#: The request meta key a client sets (to ``True``) to have its request's worker watched.
WATCH_META_KEY = "watch_worker"
#: How long a worker's liveness key lives without being refreshed.
WORKER_KEY_TTL_MILLISECONDS = 3000
#: How often a worker refreshes the liveness key of the request it holds.
WORKER_KEY_REFRESH_SECONDS = 1.0
#: How often a waiting client checks the liveness keys of its watched requests.
WATCH_CHECK_SECONDS = 1.0


def released_key_ttl_milliseconds(deadline: float | None, now: float, default_expiry_seconds: float) -> int:
    """How long the liveness key of a watched request that will get no reply (its job asked for none while it ran)
    is left to live, no longer refreshed: until the request's deadline, plus :data:`WORKER_KEY_TTL_MILLISECONDS`.

    Its client, still waiting, then ends with its own timeout; a key gone earlier would tell it that the worker
    died.

    Args:
        deadline: The request's deadline (its ``__expiry__``, a Unix time), or ``None``.
        now: The current Unix time.
        default_expiry_seconds: How long a request without a deadline may wait (the transport's message expiry).
    """
    left = (deadline - now) if deadline is not None else default_expiry_seconds
    return max(0, int(left * 1000)) + WORKER_KEY_TTL_MILLISECONDS


def worker_key(reply_to: str, nonce: str) -> str:
    """The liveness key of the request that carried ``nonce`` and named ``reply_to`` (same master as the reply)."""
    return f"{QUEUE_NAME_PREFIX}{reply_to}.worker.{nonce}"


def worker_died_message() -> str:
    """The text of the ``WORKER_DIED`` job error a caller gets."""
    return "The worker handling this request died before replying (its liveness key expired while it held the request)"


def worker_died_body() -> dict[str, Any]:
    """The response body that stands for the reply of a request whose worker died: one ``WORKER_DIED`` job error."""
    error = {
        "code": ERROR_CODE_WORKER_DIED,
        "message": worker_died_message(),
        "field": None,
        "traceback": None,
        "variables": None,
        "denied_permissions": None,
        "is_caller_error": False,
    }
    return {"errors": [error], "context": {}, "actions": []}


class WatchVerdict(enum.Enum):
    """What a liveness check says about one watched request."""

    WAITING = "waiting"  # the key was never seen: the request is still queued
    ALIVE = "alive"  # the key exists: a worker holds the request
    GONE = "gone"  # the key was seen and is gone: the worker ended (a reply may have just been pushed)


class WatchedRequests:
    """The watched requests of one client thread: request id -> (liveness key, whether it was seen)."""

    __slots__ = ("_watched",)

    def __init__(self) -> None:
        self._watched: dict[Any, list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._watched)

    def watch(self, request_id: Any, key: str) -> None:
        """Start watching ``request_id``'s worker through ``key``."""
        self._watched[request_id] = [key, False]

    def forget(self, request_id: Any) -> None:
        """Stop watching (its reply came, or the call gave up)."""
        with contextlib.suppress(TypeError):  # an unhashable id from a misbehaving server
            self._watched.pop(request_id, None)

    def watched(self) -> Iterator[tuple[Any, str]]:
        """``(request_id, liveness key)`` of every watched request."""
        for request_id, (key, _seen) in list(self._watched.items()):
            yield request_id, key

    def observe(self, request_id: Any, exists: bool) -> WatchVerdict:
        """Record whether ``request_id``'s liveness key exists now, and say what that means."""
        entry = self._watched.get(request_id)
        if entry is None:
            return WatchVerdict.WAITING
        if exists:
            entry[1] = True
            return WatchVerdict.ALIVE
        return WatchVerdict.GONE if entry[1] else WatchVerdict.WAITING
