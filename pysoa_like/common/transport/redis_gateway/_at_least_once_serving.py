"""The Redis server transport's side of at-least-once delivery (the server setting ``delivery: "at_least_once"``).

:class:`AtLeastOnceServing` is a base of the Redis server transport
(:class:`~pysoa_like.common.transport.redis_gateway.server.RedisServerTransport`): taking a request into the
worker's in-progress list, claiming a job that must not run twice, answering a request that was dead-lettered or
whose worker died, and keeping a reply with its push. The delivery's state and Redis work are
``AtLeastOnceDelivery``'s (:mod:`._delivery`); none of this runs with the default at-most-once delivery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis

from pysoa_like.common.constants import ERROR_CODE_DEAD_LETTERED, ERROR_CODE_WORKER_DIED
from pysoa_like.common.errors import Error
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ReceivedMessage
from pysoa_like.common.transport.errors import MessageReceiveError, MessageReceiveTimeout, MessageSendError
from pysoa_like.common.transport.redis_gateway._backends import without_transport_prefix
from pysoa_like.common.transport.redis_gateway._delivery import AtLeastOnceDelivery, Held
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway._rejected_requests import RejectedRequest
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import OutgoingMessage
from pysoa_like.common.types import JobResponse, job_response_to_dict
from pysoa_like.core.delivery import (
    ClaimVerdict,
    DeliveryOptions,
    dead_lettered_message,
    decode_finished,
    interrupted_message,
)
from pysoa_like.core.message import parse_client_version_checked, suppress_response_requested

__all__ = ["AtLeastOnceServing"]

_logger = logging.getLogger("pysoa_like.transport")


class AtLeastOnceServing:
    """At-least-once delivery for a server transport that has a ``core``, reads raw requests and sends replies."""

    service_name: str
    core: RedisTransportCore
    _delivery: AtLeastOnceDelivery | None
    _prefix: str

    metrics: MetricsRecorder

    if TYPE_CHECKING:

        def _read(self, raw: RawMessage) -> ReceivedMessage: ...

        def _time_left(self, deadline: float, skipped: str) -> float: ...

        def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None: ...

    def enable_at_least_once(self, options: DeliveryOptions, is_idempotent: Callable[[str], bool]) -> None:
        """Deliver requests at least once (the server setting ``delivery: "at_least_once"``; see ``docs/delivery.rst``).

        Each request is moved into this worker's in-progress list and removed only after its reply was pushed;
        the requests of workers that stopped advertising are delivered again. Call before the first receive.

        Args:
            options: The delivery settings.
            is_idempotent: Whether running the named action twice for one request is safe; jobs with any other
                action are claimed by request id, never run twice, and a redelivery is answered with the kept reply.

        Raises:
            ValueError: The service name cannot be used (it contains a brace).
        """
        self._delivery = AtLeastOnceDelivery(self.core, options, is_idempotent)

    def stop_at_least_once(self) -> None:
        """Acknowledge what was answered, give back the rest and stop advertising this worker (when it stops)."""
        delivery = self._delivery
        if delivery is not None:
            self.core.settle_deferred()
            delivery.stop(self._answer_dead_lettered)

    def _receive_at_least_once(self, delivery: AtLeastOnceDelivery, timeout: float) -> ReceivedMessage:
        """``receive_request_message`` with at-least-once delivery (see :mod:`._delivery`)."""
        # The transport's module imports this one: its meta class is looked up when first needed.
        from pysoa_like.common.transport.redis_gateway.server import RequestMeta

        deadline = time.monotonic() + timeout
        with self.metrics.timer(self._prefix + "receive"):
            delivery.before_take(self._answer_dead_lettered)
            while True:
                held, raw = delivery.take(timeout)
                try:
                    received = self._read(raw)
                except RejectedRequest:
                    delivery.finish(held)  # dealt with (answered where possible)
                    timeout = self._time_left(deadline, "bad messages were skipped")
                    continue
                except MessageReceiveTimeout:
                    delivery.finish(held)  # expired: dropped
                    raise
                meta = received.meta if received.meta is not None else {}
                body = received.body
                if isinstance(meta, RequestMeta):
                    meta.delivery = held
                if not isinstance(body, dict) or suppress_response_requested(body.get("control")):
                    held.answered = True  # nothing will be sent back
                if not delivery.needs_claim(body) or self._claimed(delivery, held, received.request_id, meta, body):
                    return received
                timeout = self._time_left(deadline, "requests answered without running or given back")

    def _claimed(
        self, delivery: AtLeastOnceDelivery, held: Held, request_id: Any, meta: dict[str, Any], body: Any
    ) -> bool:
        """Claim a non-idempotent job; False when it must not run here (answered, or running elsewhere)."""
        try:
            claim = delivery.claim(held, meta.get("reply_to"), request_id, meta.get("__expiry__"))
        except (redis.RedisError, MessageSendError) as exc:
            # Held, unanswered: given back (counted) before the next take.
            why = without_transport_prefix(exc)
            raise MessageReceiveError(f"Redis error claiming a request of service {self.service_name}: {why}") from exc
        verdict = claim.verdict
        if verdict is ClaimVerdict.RUN:
            return True
        if verdict is ClaimVerdict.BUSY:
            delivery.give_back(held)
            return False
        self.metrics.counter(self._prefix + "delivery." + verdict.value).increment()
        if verdict is ClaimVerdict.DONE:
            try:
                messages, expiry = decode_finished(claim.state or b"")
            except ValueError as exc:
                _logger.error("Could not read the kept reply of request %r: %s", request_id, exc)
                return True
            try:
                # Pushed again as it was: the same bytes the caller would have received the first time.
                self.core.send_reply(str(meta.get("reply_to")), messages, expiry)
            except MessageSendError:
                return False  # logged; held, unanswered: given back (counted) before the next take
        else:
            _logger.error(
                "Request %r of service %s was not run again: its worker (%s) died while running it, and its actions "
                "are not declared idempotent",
                request_id,
                self.service_name,
                claim.holder,
            )
            error = Error(code=ERROR_CODE_WORKER_DIED, message=interrupted_message(), is_caller_error=False)
            self._answer_error(request_id, meta, body, error)
        held.answered = True
        delivery.finish(held)
        return False

    def _answer_error(self, request_id: Any, meta: dict[str, Any], body: Any, error: Error) -> None:
        """Answer a request with one job-level error, in its protocol version and serializer (if it wants a reply)."""
        if isinstance(body, dict) and suppress_response_requested(body.get("control")):
            return
        client_version, _ = parse_client_version_checked(meta)
        response = job_response_to_dict(JobResponse(errors=[error]), client_version)
        try:
            self.send_response_message(request_id, meta, response)
        except Exception as exc:
            _logger.error("Could not send a %s error to request %r: %s", error.code, request_id, exc)

    def _answer_dead_lettered(self, raw: RawMessage) -> None:
        """Answer the caller of a dead-lettered request with a ``DEAD_LETTERED`` job error (when it still waits)."""
        try:
            received = self._read(raw)
        except (RejectedRequest, MessageReceiveTimeout):
            return  # bad (dealt with) or expired: nobody to answer
        delivery = self._delivery
        max_deliveries = delivery.options.max_deliveries if delivery is not None else 0
        message = dead_lettered_message(max_deliveries)
        error = Error(code=ERROR_CODE_DEAD_LETTERED, message=message, is_caller_error=False)
        self._answer_error(received.request_id, received.meta or {}, received.body, error)

    def request_done(self, meta: dict[str, Any]) -> None:
        """A concurrent worker is done with a request (answered or not), called from its replying thread.

        With at-least-once delivery, an answered request is removed from the in-progress list once its reply's
        push is confirmed (:meth:`flush_responses`); an unanswered one goes back on the queue, its failed delivery
        counted (or to the dead-letter list, its caller told).
        """
        held = getattr(meta, "delivery", None)
        delivery = self._delivery
        if held is not None and delivery is not None:
            delivery.release(held, self._answer_dead_lettered)

    def _send_held(self, held: Held, reply_to: str, messages: Sequence[OutgoingMessage], expiry: int) -> None:
        """Push the reply of a request taken at least once: kept first when its job is not idempotent (in the push's
        write when the reply list is on the request's master)."""
        delivery = self._delivery
        before = delivery.keep_finished(held, messages, expiry) if delivery is not None else None
        self.core.send_reply(reply_to, messages, expiry, before=before)
        held.answered = True
