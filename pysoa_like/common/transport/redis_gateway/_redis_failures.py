"""What a Redis failure means for a transport core: the transport error raised (the slot's connection reset first, so
that a failover is followed), and Redis Cluster's ``MOVED``/``ASK`` answers read (the backend learns from them)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NoReturn

import redis

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError
from pysoa_like.common.transport.redis_gateway.backend.base import CannotGetConnectionError
from pysoa_like.core.cluster import STANDARD_BACKEND_HINT, Redirect, parse_redirect

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient

__all__ = ["RedisFailures"]

_logger = logging.getLogger("pysoa_like.transport")


class RedisFailures:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its Redis failures and
    redirections."""

    service_name: str
    metrics: MetricsRecorder
    prefix: str

    if TYPE_CHECKING:

        @property
        def backend_layer(self) -> BaseRedisClient: ...

        def _no_connection(self, error_prefix: str, exc: Exception) -> MessageSendError | MessageReceiveError: ...

    def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None:
        """The ``MOVED``/``ASK`` answer ``error`` is, once the backend learned from it; None for any other error.

        Only a backend that follows redirections (Redis Cluster) gets one; for the others such an answer is an
        error like any other (see :meth:`_fail`, which says what it means).
        """
        if not isinstance(error, redis.ResponseError):
            return None
        backend = self.backend_layer
        if not backend.follows_redirects:
            return None
        replying_host = ""
        if lane is not None:
            replying_host = str(getattr(lane.client.connection_pool, "connection_kwargs", {}).get("host") or "")
        redirect = parse_redirect(str(error), replying_host)
        if redirect is not None:
            backend.note_redirect(redirect)
            self.metrics.counter(self.prefix + ("redirect.ask" if redirect.ask else "redirect.moved")).increment()
        return redirect

    def _lane_at_address(self, redirect: Redirect, error_prefix: str) -> Lane:
        """The thread's lane to the node an ``ASK`` answer names."""
        try:
            return self.backend_layer.lane_for_address(redirect.address)
        except CannotGetConnectionError as exc:
            raise self._no_connection(error_prefix, exc) from exc

    def _fail_send(self, index: int, exc: Exception) -> NoReturn:
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            self._fail(index, "send.error.connection", exc, MessageSendError, "sending to")
        if isinstance(exc, redis.RedisError):
            self._fail(index, "send.error.response", exc, MessageSendError, "sending to")
        self._fail(index, "send.error.unknown", exc, MessageSendError, "sending to")

    def _fail(
        self,
        index: int,
        metric: str,
        exc: Exception,
        error_class: type[MessageSendError] | type[MessageReceiveError],
        verb: str,
    ) -> NoReturn:
        self.metrics.counter(self.prefix + metric).increment()
        # Sentinel looks the master up again on the next call (Cluster its slot map), so a failover is followed.
        backend = self.backend_layer
        backend.reset_client(index)
        _logger.debug("Redis error %s service %s: %r", verb, self.service_name, exc)
        hint = ""
        if not backend.follows_redirects and parse_redirect(str(exc)) is not None:
            hint = STANDARD_BACKEND_HINT
        raise error_class(f"Redis error {verb} service {self.service_name}: {exc}{hint}") from exc
