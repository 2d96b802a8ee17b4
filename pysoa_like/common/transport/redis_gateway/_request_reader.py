"""Reading requests on the server side without ever failing the worker.

Each raw message popped from the service list is turned into a ``ReceivedMessage`` or rejected. A rejected
message is logged on ``pysoa_like.transport``, counted as ``server.transport.redis_gateway.receive.error.<reason>``
and, when its reply queue and request id are known, answered with a job-level error in the request's own protocol
version and serializer. The server transport then moves on to the next message (see ``RedisServerTransport``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import cap_line, short_repr
from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.errors import Error
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.transport.base import ReceivedMessage, ReceivedMeta
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.protocol import (
    ParsedMessage,
    check_envelope,
    parse_client_version_checked,
    parse_message,
    reject_chunked_request,
    reply_address,
    reply_to_problem,
)
from pysoa_like.common.types import JobResponse, job_response_to_dict
from pysoa_like.core.constants import ProtocolVersion, UnsupportedProtocolVersionError
from pysoa_like.core.message import (
    nesting_too_deep,
    suppress_response_requested,
    too_deep_message,
    without_version_marker,
)
from pysoa_like.core.replies import REPLY_NONCE_META_KEY

__all__ = ["RejectedRequest", "RequestMeta", "RequestReader"]

_logger = logging.getLogger("pysoa_like.transport")
# The meta keys echoed in the answer to a rejected request.
_ECHOED_META_KEYS = ("reply_to", "client_version", REPLY_NONCE_META_KEY)


class RequestMeta(ReceivedMeta):
    """The meta of a received request, remembering (off the wire) how the request was framed and who sent it.

    The server passes the request's meta back to ``send_response_message``; these attributes make the reply,
    including any error reply that replaces it, use the request's protocol version and serializer, and the server
    reads the client's version from :attr:`client_version` instead of the meta again.
    """

    __slots__ = ("delivery", "protocol_version", "serializer")

    def __init__(
        self,
        meta: dict[str, Any],
        protocol_version: ProtocolVersion,
        serializer: Serializer,
        client_version: tuple[int, ...],
    ) -> None:
        dict.__init__(self, meta)  # (ReceivedMeta's __init__ would only set client_version too)
        self.client_version = client_version
        self.protocol_version = protocol_version
        self.serializer = serializer
        #: With at-least-once delivery, the request's place in the worker's in-progress list (else None).
        self.delivery: Any = None


class RejectedRequest(Exception):
    """A request message that was dealt with (logged, counted, answered if possible) and must not be served."""


# Answers a rejected request: (request_id, meta, body) -> None.
ReplySender = Callable[[Any, dict[str, Any], dict[str, Any]], None]


class RequestReader:
    """Decodes raw request messages for one server transport.

    Args:
        core: The transport's core (serializers, metrics prefix).
        send_reply: Sends a reply as the transport's ``send_response_message`` does.
    """

    def __init__(self, core: RedisTransportCore, send_reply: ReplySender) -> None:
        self.core = core
        self.send_reply = send_reply

    def read(self, raw: RawMessage) -> ReceivedMessage:
        """Decode one raw request.

        Returns:
            The request; its meta is a :class:`RequestMeta`.

        Raises:
            MessageReceiveTimeout: The request had expired (it is dropped; the server treats this as idle).
            RejectedRequest: The message was bad and has been dealt with.
        """
        try:
            parsed = parse_message(raw, view=True)
        except UnsupportedProtocolVersionError as exc:
            # Read the rest as version 3 to find out where to say so; a newer client still gets its answer.
            rest = without_version_marker(raw)
            self._reject_decodable(ProtocolVersion.VERSION_3.prefix + rest, "unsupported_protocol_version", exc)
        except InvalidMessageError as exc:
            self._reject("invalid_message", exc, raw)
        if parsed.is_chunk:
            try:
                reject_chunked_request(parsed)
            except InvalidMessageError as chunk_error:
                self._reject_decodable(raw, "chunked_request", chunk_error)
        serializer = self.core.serializer_for(parsed.content_type)
        message = self._deserialize(parsed, serializer, raw)
        if nesting_too_deep(message, parsed.payload, serializer.mime_type):
            too_deep = InvalidMessageError(too_deep_message())
            self._answer_if_possible(message, parsed.version, serializer, str(too_deep))
            self._reject("too_deep", too_deep, raw)
        try:
            received = check_envelope(message, time.time(), self.core.service_name)
        except MessageReceiveTimeout:
            self._count("message_expired")
            raise
        except InvalidMessageError as exc:
            reason = "no_request_id" if isinstance(message, dict) and message.get("request_id") is None else None
            self._answer_if_possible(message, parsed.version, serializer, str(exc))
            self._reject(reason or "invalid_message", exc, raw)
        meta = received.meta or {}
        body = received.body
        problem = reply_to_problem(meta.get("reply_to"))
        # With a response suppressed nothing will be sent back, so the reply queue does not matter.
        if problem is not None and not (isinstance(body, dict) and suppress_response_requested(body.get("control"))):
            missing = meta.get("reply_to") in (None, "")
            reason = "missing_reply_queue" if missing else "invalid_reply_queue"
            self._reject(reason, InvalidMessageError("Missing reply queue name" if missing else problem), raw)
        client_version, version_problem = parse_client_version_checked(meta)
        if version_problem is not None:
            self._malformed_client_version(received.request_id, version_problem)
        return ReceivedMessage(received.request_id, RequestMeta(meta, parsed.version, serializer, client_version), body)

    def _malformed_client_version(self, request_id: Any, problem: str) -> None:
        """Count and log a malformed client version (once: the server reads the version from the meta's attribute).

        The request is served anyway, its client treated as 0.40.0 (no ``is_caller_error``), PySOA's assumption.
        """
        self._count("invalid_client_version")
        self._log(
            logging.WARNING,
            "invalid_client_version",
            "Request %s for service %s: %s",
            short_repr(request_id),
            self.core.service_name,
            problem,
        )

    def _deserialize(self, parsed: ParsedMessage, serializer: Serializer, raw: RawMessage) -> Any:
        core = self.core
        try:
            if core.measured:
                with core.metrics.timer(core.prefix + "receive.deserialize"):
                    return serializer.buffer_to_dict(parsed.payload)
            return serializer.buffer_to_dict(parsed.payload)
        except Exception as exc:
            self._reject("invalid_message", exc, raw)

    def _reject_decodable(self, raw: RawMessage, reason: str, error: Exception) -> NoReturn:
        """Reject a message whose envelope may still be readable; answer it if it names a reply queue."""
        try:
            parsed = parse_message(raw)
            serializer = self.core.serializer_for(parsed.content_type)
            message = serializer.buffer_to_dict(parsed.payload)
        except Exception:
            self._reject(reason, error, raw)
        version = ProtocolVersion(min(parsed.version, ProtocolVersion.VERSION_3))
        self._answer_if_possible(message, version, serializer, str(error))
        self._reject(reason, error, raw)

    def _answer_if_possible(self, message: Any, version: ProtocolVersion, serializer: Serializer, text: str) -> None:
        """Answer a rejected request with an INVALID job error, if its request id and reply queue can be read."""
        address = reply_address(message)
        if address is None:
            return
        request_id, meta = address
        # Only what the client needs is echoed: the rest of a bad request's meta may be what is wrong with it.
        echoed = {key: meta[key] for key in _ECHOED_META_KEYS if key in meta}
        client_version, _ = parse_client_version_checked(echoed)
        request_meta = RequestMeta(echoed, version, serializer, client_version)
        error = Error(code=ERROR_CODE_INVALID, message=cap_line(text, 500), is_caller_error=True)
        body = job_response_to_dict(JobResponse(errors=[error]), client_version)
        try:
            self.send_reply(request_id, request_meta, body)
        except Exception as exc:
            self._log(
                logging.ERROR,
                "answer failed",
                "Could not answer a rejected request for service %s: %s",
                self.core.service_name,
                exc,
            )

    def _count(self, reason: str) -> None:
        self.core.metrics.counter(f"{self.core.prefix}receive.error.{reason}").increment()

    def _log(self, level: int, kind: str, template: str, *args: object) -> None:
        log_bounded(_logger, level, self.core.log_throttle, kind, template, *args)

    def _reject(self, reason: str, error: BaseException, raw: RawMessage) -> NoReturn:
        self._count(reason)
        self._log(
            logging.ERROR,
            reason,
            "Skipped a bad request message for service %s (%s): %s; first bytes: %r",
            self.core.service_name,
            reason,
            cap_line(str(error), 300),
            bytes(raw[:64]),
        )
        raise RejectedRequest(reason) from error
