"""The server side of dead-worker detection: the liveness key of the watched request a worker holds.

See :mod:`pysoa_like.core.worker_watch` for the protocol. Only requests whose
client asked for it (``meta.watch_worker``) cost anything: a ``SET`` when the request is taken, a ``PEXPIRE`` a
second from a background thread while its job runs, a ``DEL`` after its reply (or, when its job asked for no reply
while it ran, a last ``PEXPIRE`` to a little after the request's deadline). A failure of any of these is
logged and never fails the request.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import redis

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common.transport.errors import MessageSendError
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.keys import reply_to_problem
from pysoa_like.core.message import REPLY_NONCE_META_KEY, suppress_response_requested
from pysoa_like.core.worker_watch import (
    WATCH_META_KEY,
    WORKER_KEY_REFRESH_SECONDS,
    WORKER_KEY_TTL_MILLISECONDS,
    released_key_ttl_milliseconds,
    worker_key,
)

__all__ = ["WorkerWatch"]

_logger = logging.getLogger("pysoa_like.transport")
# The longest nonce accepted in a watched request's key.
_MAXIMUM_NONCE_LENGTH = 64


def watched_key(meta: Any) -> str | None:
    """The liveness key a request asks its worker to keep, or None (not watched, or unusable)."""
    if not isinstance(meta, dict) or meta.get(WATCH_META_KEY) is not True:
        return None
    nonce = meta.get(REPLY_NONCE_META_KEY)
    reply_to = meta.get("reply_to")
    if type(nonce) is not str or not 0 < len(nonce) <= _MAXIMUM_NONCE_LENGTH:
        return None
    if type(reply_to) is not str or reply_to_problem(reply_to):
        return None
    return worker_key(reply_to, nonce)


class WorkerWatch:
    """Keeps the liveness keys of the watched requests this worker holds.

    A worker running one job at a time holds at most one (:attr:`exclusive`: taking a request ends the key of
    the one before, answered or not); a concurrent worker holds one per watched job in flight, each ended by
    its own reply.

    Args:
        core: The server transport's core (for the Redis commands).
    """

    def __init__(self, core: RedisTransportCore) -> None:
        self.core = core
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        #: Whether the worker holds one request at a time (see the class docstring).
        self.exclusive = True
        #: The liveness keys held now (read without the lock: empty for a worker no watching client ever called).
        self.held: dict[str, None] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(self, meta: Any, body: Any) -> None:
        """The worker took a request: set its liveness key if its client watches it (and waits for a reply).

        Nothing to do unless the request asks to be watched (``meta[WATCH_META_KEY]``) or a key is :attr:`held`: the
        transport asks this only then.
        """
        if self.exclusive and self.held:
            self.end()
        key = watched_key(meta)
        if key is None or (isinstance(body, dict) and suppress_response_requested(body.get("control"))):
            return
        try:
            self.core.run_on_key_master(key, "SET", key, self.identity, "PX", WORKER_KEY_TTL_MILLISECONDS)
        except (redis.RedisError, MessageSendError) as exc:
            self._log("Could not set the liveness key of a watched request: %s", exc)
            return
        with self._lock:
            self.held[key] = None
        self._ensure_thread()

    def end(self, meta: Any = None) -> None:
        """A request's reply was pushed (or the worker moved on): delete its liveness key (``meta``: that request's;
        every key held when the worker is :attr:`exclusive` or ``meta`` is ``None``)."""
        if not self.held:  # the usual case: no watched request held
            return
        if meta is None or self.exclusive:
            with self._lock:
                keys = list(self.held)
                self.held.clear()
        else:
            key = self._let_go(meta)
            if key is None:
                return
            keys = [key]
        for key in keys:
            try:
                self.core.run_on_key_master(key, "DEL", key)
            except (redis.RedisError, MessageSendError) as exc:
                self._log("Could not delete the liveness key of a watched request: %s", exc)

    def release(self, meta: Any, deadline: float | None) -> None:
        """A watched request is done, but no reply will be pushed (its job asked for none while it ran): its key
        is no longer refreshed, and left to expire a little after the request's ``deadline``
        (:func:`~pysoa_like.core.worker_watch.released_key_ttl_milliseconds`). Deleting it would tell its client,
        which waits for the reply until its timeout, that the worker died."""
        key = self._let_go(meta) if self.held else None
        if key is None:
            return
        ttl = released_key_ttl_milliseconds(deadline, time.time(), self.core.message_expiry_in_seconds)
        try:
            self.core.run_on_key_master(key, "PEXPIRE", key, ttl)
        except (redis.RedisError, MessageSendError) as exc:
            self._log("Could not set the expiry of the liveness key of a request given no reply: %s", exc)

    def _let_go(self, meta: Any) -> str | None:
        """Stop holding (and refreshing) the liveness key of the request ``meta`` belongs to; that key, or ``None``
        when it holds none for it."""
        key = watched_key(meta)
        with self._lock:
            if key is None or key not in self.held:
                return None
            del self.held[key]
        return key

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._refresh_forever, name="pysoa-like-worker-watch", daemon=True)
            self._thread.start()

    def _refresh_forever(self) -> None:
        # A daemon thread: it dies with the worker, and so does the key a little later. That is the point.
        while not self._wake.wait(WORKER_KEY_REFRESH_SECONDS):
            with self._lock:
                keys = list(self.held)
            for key in keys:
                try:
                    self.core.run_on_key_master(key, "PEXPIRE", key, WORKER_KEY_TTL_MILLISECONDS)
                except (redis.RedisError, MessageSendError) as exc:
                    self._log("Could not refresh the liveness key of a watched request: %s", exc)

    def _log(self, template: str, error: Exception) -> None:
        log_bounded(_logger, logging.WARNING, self.core.log_throttle, "worker watch", template, error)
