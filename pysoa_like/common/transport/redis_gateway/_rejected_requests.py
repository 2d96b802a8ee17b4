"""Requests the server transport will not serve, dealt with without ever failing the worker.

The core decodes each raw message popped from the service list (:func:`~pysoa_like.core.message.decode_request`);
what it finds wrong with one comes here. A rejected message is logged on ``pysoa_like.transport``, counted as
``server.transport.redis_gateway.receive.error.<reason>`` and, when its reply queue and request id are known,
answered with a job-level error in the request's own protocol version and serializer. The transport then moves
on to the next message. Nothing here runs for a good request, except the count and log line of a malformed
client version (served anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import cap_line, short_repr
from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.errors import Error
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.types import JobResponse, job_response_to_dict
from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.keys import reply_address
from pysoa_like.core.message import (
    REPLY_NONCE_META_KEY,
    UndecodableRequest,
    parse_client_version_checked,
    parse_message,
    without_version_marker,
)

__all__ = ["RejectedRequest", "Rejections"]

_logger = logging.getLogger("pysoa_like.transport")
# The meta keys echoed in the answer to a rejected request.
_ECHOED_META_KEYS = ("reply_to", "client_version", REPLY_NONCE_META_KEY)


class RejectedRequest(Exception):
    """A request message that was dealt with (logged, counted, answered if possible) and must not be served."""


# Answers a rejected request: (request_id, echoed meta, protocol version, serializer, client version, body) -> None.
RejectionAnswer = Callable[[Any, dict[str, Any], ProtocolVersion, Serializer, tuple[int, ...], dict[str, Any]], None]


class Rejections:
    """What a server transport does with the requests it will not serve.

    Args:
        core: The transport's core (serializers, metrics prefix, log throttle).
        answer: Sends a reply in the given protocol version and serializer, as the transport's
            ``send_response_message`` does.
    """

    def __init__(self, core: RedisTransportCore, answer: RejectionAnswer) -> None:
        self.core = core
        self.answer = answer

    def undecodable(self, problem: UndecodableRequest | MessageReceiveTimeout, raw: RawMessage) -> None:
        """Deal with a message :func:`~pysoa_like.core.message.decode_request` would not decode: logged, counted and
        answered where it says how; the caller skips it.

        Raises:
            MessageReceiveTimeout: ``problem`` itself, an expired request (counted; dropped silently, as PySOA does).
        """
        if isinstance(problem, MessageReceiveTimeout):
            self.count("message_expired")
            raise problem
        reason, error = problem.reason, problem.error
        if reason == "unsupported_protocol_version":
            # A newer protocol version: the rest is read as version 3 to find out where to say so.
            self._answer_decodable(ProtocolVersion.VERSION_3.prefix + without_version_marker(raw), error)
        elif reason == "chunked_request":
            self._answer_decodable(raw, error)
        elif problem.serializer is not None and problem.version is not None:
            self.answer_if_possible(problem.message, problem.version, problem.serializer, str(error))
        self.skip(reason, error, raw)

    def _answer_decodable(self, raw: RawMessage, error: BaseException) -> None:
        """Answer a refused message if its envelope can be read after all and names a reply queue."""
        try:
            parsed = parse_message(raw)
            serializer = self.core.serializers[parsed.content_type]
            message = serializer.buffer_to_dict(parsed.payload)
        except Exception:
            return
        version = ProtocolVersion(min(parsed.version, ProtocolVersion.VERSION_3))
        self.answer_if_possible(message, version, serializer, str(error))

    def malformed_client_version(self, request_id: Any, problem: str) -> None:
        """Count and log a malformed client version (once: the server reads the version from the meta's attribute).

        The request is served anyway, its client treated as 0.40.0 (no ``is_caller_error``), PySOA's assumption.
        """
        self.count("invalid_client_version")
        self._log(
            logging.WARNING,
            "invalid_client_version",
            "Request %s for service %s: %s",
            short_repr(request_id),
            self.core.service_name,
            problem,
        )

    def answer_if_possible(self, message: Any, version: ProtocolVersion, serializer: Serializer, text: str) -> None:
        """Answer a rejected request with an INVALID job error, if its request id and reply queue can be read."""
        address = reply_address(message)
        if address is None:
            return
        request_id, meta = address
        # Only what the client needs is echoed: the rest of a bad request's meta may be what is wrong with it.
        echoed = {key: meta[key] for key in _ECHOED_META_KEYS if key in meta}
        client_version, _ = parse_client_version_checked(echoed)
        error = Error(code=ERROR_CODE_INVALID, message=cap_line(text, 500), is_caller_error=True)
        body = job_response_to_dict(JobResponse(errors=[error]), client_version)
        try:
            self.answer(request_id, echoed, version, serializer, client_version, body)
        except Exception as exc:
            self._log(
                logging.ERROR,
                "answer failed",
                "Could not answer a rejected request for service %s: %s",
                self.core.service_name,
                exc,
            )

    def count(self, reason: str) -> None:
        """Count a rejected (or expired) request by reason."""
        self.core.metrics.counter(f"{self.core.prefix}receive.error.{reason}").increment()

    def _log(self, level: int, kind: str, template: str, *args: object) -> None:
        log_bounded(_logger, level, self.core.log_throttle, kind, template, *args)

    def skip(self, reason: str, error: BaseException, raw: RawMessage) -> None:
        """Count and log a bad message the transport skips."""
        self.count(reason)
        self._log(
            logging.ERROR,
            reason,
            "Skipped a bad request message for service %s (%s): %s; first bytes: %r",
            self.core.service_name,
            reason,
            cap_line(str(error), 300),
            bytes(raw[:64]),
        )
