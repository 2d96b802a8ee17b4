"""What the core refuses or sets aside of a popped message, and why: the exceptions its decoding raises for a
driver to act on (answer or count a refused request, fail the awaited call, pop a chunked reply's other chunks).

They are raised by ``decode_request``, ``decode_reply`` and ``accept_reply`` of :mod:`pysoa_like.core.message` (and
importable from there too); a good message never creates one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.core.constants import ProtocolVersion
from pysoa_like.core.nesting import MessageTooDeep

if TYPE_CHECKING:
    from pysoa_like.common.serializer.base import Serializer
    from pysoa_like.core.message import ParsedMessage

__all__ = ["DroppedReply", "ReplyChunk", "UndecodableRequest", "envelope_problem"]


class UndecodableRequest(Exception):
    """Why ``decode_request`` will not give a popped message to the server, and what could be read of it.

    Args:
        reason: The metric and log name of the problem: ``"unsupported_protocol_version"`` (a newer framing),
            ``"chunked_request"`` (chunks are for replies), ``"invalid_message"`` (bad framing, an undecodable
            payload, or an envelope that is not a request's), ``"too_deep"`` (nesting too deep),
            ``"no_request_id"``, ``"missing_reply_queue"`` or ``"invalid_reply_queue"``.
        error: The underlying error; its text is what is logged, and what an answer says.
        message: The deserialized message, when the problem is in its envelope (``None`` otherwise).
        version: The protocol version the message was framed with (with ``message``).
        serializer: The serializer it was read with (with ``message``): an answer is written with these.
    """

    def __init__(
        self,
        reason: str,
        error: BaseException,
        message: Any = None,
        version: ProtocolVersion | None = None,
        serializer: Serializer | None = None,
    ) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error
        self.message = message
        self.version = version
        self.serializer = serializer


def envelope_problem(message: Any, error: InvalidMessageError) -> str:
    """The reason name of a deserialized request whose envelope ``read_request`` refused."""
    if isinstance(error, MessageTooDeep):
        return "too_deep"
    if isinstance(message, dict) and message.get("request_id") is None:
        return "no_request_id"
    return "invalid_message"


class DroppedReply(Exception):
    """A popped reply a client hands to no call: foreign, forged, a duplicate, expired or malformed.

    A driver counts it (``receive.error.<reason>``), logs it now and then, and goes on waiting; unless it
    ``answers`` an awaited call (an expired or unusable reply whose request id and nonce match a waiting request):
    then that call fails.

    Args:
        reason: ``"invalid_message"``, ``"message_expired"``, ``"forged_reply"`` or ``"unknown_reply"``.
        detail: What is wrong with it, for the log.
        answers: The key (in ``PendingReplies``) of the awaited call an expired or unusable reply answers, which is
            then no longer awaited; ``None`` when it answers none.
        error: The error that made an expired or malformed reply unusable (``None`` for a refused one).
    """

    def __init__(self, reason: str, detail: str, answers: Any = None, error: BaseException | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.answers = answers
        self.error = error


class ReplyChunk(Exception):
    """Raised by ``decode_reply`` for a chunk of a chunked reply: its driver collects the other chunks (popping them is
    I/O), reassembles the payload (``ChunkReassembler``), deserializes it and hands the message to ``accept_reply``."""

    def __init__(self, parsed: ParsedMessage) -> None:
        super().__init__("a chunk of a chunked reply")
        self.parsed = parsed
