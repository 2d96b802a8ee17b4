"""One small command at a time on a given master: at-least-once delivery's and the liveness keys'; the replies owed
on the connection are read first, and Redis Cluster's redirects followed. A timed-out call's look at its queue goes
on a connection of its own (:meth:`MasterCommands._look_lane`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import redis

from pysoa_like.core.cluster import MAXIMUM_REDIRECTS

if TYPE_CHECKING:
    from pysoa_like.common.metrics import MetricsRecorder
    from pysoa_like.common.transport.redis_gateway._lanes import Lane
    from pysoa_like.common.transport.redis_gateway.backend.base import BaseRedisClient
    from pysoa_like.core.cluster import Redirect

__all__ = ["MasterCommands"]


class MasterCommands:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its single commands."""

    if TYPE_CHECKING:

        @property
        def backend_layer(self) -> BaseRedisClient: ...

        def _backend_for(self, error_prefix: str) -> BaseRedisClient: ...

        metrics: MetricsRecorder
        prefix: str

        def _lane(self, key: str, timer_name: str, error_prefix: str) -> tuple[int, Lane]: ...

        def _lane_at(self, index: int, timer_name: str, error_prefix: str) -> tuple[int, Lane]: ...

        def _settle_lane(self, index: int, lane: Lane) -> None: ...

        def _redirected(self, error: BaseException, lane: Lane | None = None) -> Redirect | None: ...

        def _lane_at_address(self, redirect: Redirect, error_prefix: str) -> Lane: ...

    def run_at(self, index: int, *command: Any, within: float | None = None) -> Any:
        """Run one small command on the master at ring ``index``, after reading the replies owed on its connection.

        Args:
            within: Seconds Redis has to answer (connecting included); None for ``socket_timeout``.

        Raises:
            redis.RedisError: Redis refused the command or could not be reached (the connection is then reset).
            MessageSendError: No master is known for the slot.
        """
        index, lane = self._lane_at(index, "send.get_redis_connection", "send")
        if lane.has_deferred:
            self._settle_lane(index, lane)
        try:
            return lane.execute(*command, deadline=None if within is None else time.monotonic() + within)
        except (redis.ConnectionError, redis.TimeoutError):
            self.backend_layer.reset_client(index)
            raise

    def _look_lane(self, index: int) -> Lane:
        """The thread's connection to ring slot ``index``'s master kept for looks at a request queue (see
        :meth:`~pysoa_like.common.transport.redis_gateway.backend.base.BaseRedisClient.look_lane`): a look that
        times out leaves it open (its reply dropped later), and neither the thread's lane of the transport's commands
        nor the slot's client is touched.

        Raises:
            MessageSendError: The backend cannot be made yet (no Sentinel lists the services to discover).
            CannotGetConnectionError: No master is known for the slot.
        """
        return self._backend_for("send").look_lane(index, self.metrics, self.prefix)

    def queue_indexes(self, key: str) -> list[int]:
        """The ring slots where the request queue ``key`` may hold messages: every master of a ring, or the
        queue's slot under Redis Cluster (at-least-once delivery keeps its keys beside the queue on each).

        Raises:
            MessageSendError: The backend cannot be made yet (no Sentinel lists the services to discover).
        """
        return self._backend_for("send").queue_indexes(key)

    def run_on_key_master(self, key: str, *command: Any, within: float | None = None) -> Any:
        """Run one small command on the master serving ``key`` (hashed like a reply list when it has ``!``).

        For the liveness keys of watched requests; the caller decides what a failure means.

        Args:
            within: Seconds Redis has to answer (connecting included); None for ``socket_timeout``.

        Raises:
            redis.RedisError: Redis refused the command or could not be reached (or did not answer in time).
            MessageSendError: No master is known for the slot.
        """
        index, lane = self._lane(key, "send.get_redis_connection", "send")
        deadline = None if within is None else time.monotonic() + within
        redirects = 0
        while True:
            try:
                return lane.execute(*command, deadline=deadline)
            except (redis.ConnectionError, redis.TimeoutError):
                self.backend_layer.reset_client(index)
                raise
            except redis.ResponseError as exc:
                redirect = self._redirected(exc, lane)
                if redirect is None or redirects >= MAXIMUM_REDIRECTS:
                    raise
                redirects += 1
                if redirect.ask:
                    reply = self._lane_at_address(redirect, "send").execute_asking(tuple(command), deadline)
                    if isinstance(reply, Exception):
                        raise reply from None
                    return reply
                index, lane = self._lane(key, "send.get_redis_connection", "send")
