"""The replies a blocking client drops (foreign, forged, duplicate, expired, malformed): counted and logged while the
receive goes on waiting, unless the unusable reply is the one awaited."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import cap_line, short_repr
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.message import DroppedReply

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.client import _ThreadState

__all__ = ["DroppedReplies"]

_logger = logging.getLogger("pysoa_like.transport")


class DroppedReplies:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`: the replies it
    drops."""

    service_name: str
    metrics: MetricsRecorder
    core: RedisTransportCore
    _state: _ThreadState
    _prefix: str

    def _drop(self, dropped: DroppedReply) -> None:
        self.metrics.counter(f"{self._prefix}receive.error.{dropped.reason}").increment()
        log_bounded(
            _logger,
            logging.WARNING,
            self.core.log_throttle,
            dropped.reason,
            "Dropped a reply for service %s (%s): %s",
            self.service_name,
            dropped.reason,
            cap_line(str(dropped), 300),
        )

    def _dropped(self, dropped: DroppedReply) -> None:
        """Count and log a dropped reply, or fail the receive when it is the awaited call's own, unusable, reply.

        Raises:
            MessageReceiveTimeout: The awaited call's reply had expired (PySOA's behaviour: the call times out at
                once).
            InvalidMessageError: The awaited call's reply is unusable.
        """
        if dropped.answers is None:
            self._drop(dropped)
            return
        # That request is no longer awaited: no longer watched either (a worker gone later is not its news).
        watched = self._state.watched
        if watched:
            watched.forget(dropped.answers)
        if isinstance(dropped.error, MessageReceiveTimeout):
            self.metrics.counter(self._prefix + "receive.error.message_expired").increment()
            raise dropped.error from None
        raise InvalidMessageError(
            f"The reply to request {short_repr(dropped.answers)} is unusable: {dropped}"
        ) from dropped.error
