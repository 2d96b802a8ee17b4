"""The replies a blocking client drops (foreign, forged, duplicate, expired, malformed): counted and logged while the
receive goes on waiting, unless the unusable reply is the one awaited."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import cap_line, short_repr
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.message import ReplyVerdict

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.client import _ThreadState

__all__ = ["DroppedReplies", "DroppedReply"]

_logger = logging.getLogger("pysoa_like.transport")


class DroppedReply(Exception):
    """A reply that is not this call's to have (foreign, forged, duplicate, expired, malformed): skip it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


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

    def _is_ours(self, message: Any) -> bool:
        """Whether an unusable ``message`` answers one of this thread's requests (that request is no longer awaited)."""
        if not isinstance(message, dict):
            return False
        return self._state.pending.verdict(message.get("request_id"), message.get("meta")) is ReplyVerdict.ACCEPTED

    def _fail_if_ours(self, message: Any, problem: str) -> None:
        """Raise ``InvalidMessageError`` if ``message`` is the (unusable) reply to one of this thread's requests."""
        if self._is_ours(message):
            request_id = message.get("request_id")
            raise InvalidMessageError(f"The reply to request {short_repr(request_id)} is unusable: {problem}")
