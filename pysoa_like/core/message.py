"""The messages of a call and which of them a client accepts: everything a transport does to turn a job into
bytes and back on every call, for the clients and servers of both drivers. Its parts:

* framing: reading protocol versions 1, 2 and 3 and their header loop (PROTOCOL.md section 4; the framing a
  sender builds is in :mod:`pysoa_like.core.framing`);
* header rules: ``suppress_response`` and ``client_version`` (switches are in :mod:`pysoa_like.core.switches`);
* the envelope around every job body: building, checking and expiry (sections 3, 6 and 10), and a received
  request read in one step (``read_request``: deadline, client version, reply queue);
* a client's replies: the nonce a request carries, which replies a client thread accepts (``PendingReplies``)
  and when it pauses before popping a busy reply list (``batch_pause``);
* the rules of a sent message: its size, when it is chunked (section 5; splitting and reassembly are in
  :mod:`pysoa_like.core.chunks`) and its framing;
* how deeply a received message may nest (the cheap bound; the walks are in :mod:`pysoa_like.core.nesting`);
* a received request's deadline (``deadline_of``; the waits it bounds are in :mod:`pysoa_like.core.deadlines`).
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout, MessageTooLarge
from pysoa_like.core.chunks import ChunkReassembler, reject_chunked_request, split_into_chunks, validate_chunk_settings
from pysoa_like.core.constants import (
    EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS,
    REPLY_QUEUE_MARKER,
    VERSION_MARKER_PATTERN,
    ProtocolFeature,
    ProtocolVersion,
    UnsupportedProtocolVersionError,
    _version_from_marker_digits,
)
from pysoa_like.core.deadlines import DeadlineExpiry
from pysoa_like.core.framing import FramedMessage, OutgoingMessage, message_head
from pysoa_like.core.nesting import (
    MAXIMUM_NESTING_DEPTH,
    MessageTooDeep,
    container_depth_over,
    reference_depth_over,
    too_deep_message,
)
from pysoa_like.core.refusals import DroppedReply, ReplyChunk, UndecodableRequest, envelope_problem

if TYPE_CHECKING:
    from pysoa_like.common.serializer.base import Serializer

__all__ = [
    "BATCH_PAUSE_SECONDS",
    "BATCH_WAITING",
    "CLIENT_VERSION_META_KEY",
    "DEFAULT_CLIENT_VERSION",
    "EXPIRY_META_KEY",
    "MAXIMUM_REPLY_TO_LENGTH",
    "MESSAGE_TOO_LARGE_TEXT",
    "REPLY_NONCE_META_KEY",
    "ChunkReassembler",
    "DroppedReply",
    "FramedMessage",
    "MessageTooDeep",
    "OutgoingMessage",
    "ParsedMessage",
    "PendingReplies",
    "ReceivedMessage",
    "ReceivedMeta",
    "ReceivedRequest",
    "ReplyChunk",
    "ReplyVerdict",
    "RequestMeta",
    "UndecodableRequest",
    "accept_reply",
    "batch_pause",
    "check_envelope",
    "deadline_of",
    "decode_reply",
    "decode_request",
    "envelope_to_send",
    "expiry_time",
    "frame_for_sending",
    "is_expired",
    "nesting_too_deep",
    "new_reply_nonce",
    "parse_client_version",
    "parse_client_version_checked",
    "parse_message",
    "read_request",
    "reject_chunked_request",
    "reply_to_problem",
    "suppress_response_requested",
    "validate_chunk_settings",
    "without_version_marker",
]


# --------------------------------------------------------------------------------------------------------------------
# Message framing: protocol versions 1, 2 and 3 and the header loop (PROTOCOL.md section 4).
#
# ::
#
#     v1:  <payload>
#     v2:  b"content-type:" <mime> b";" <payload>
#     v3:  b"pysoa-redis/3//" (<name> b":" <value> b";")* <payload>
# --------------------------------------------------------------------------------------------------------------------


# The version marker, plus the content-type header in its usual compact form so the common case needs one match.
_VERSION_MARKER_RE = re.compile(VERSION_MARKER_PATTERN + rb"(?:content-type:([A-Za-z0-9_/.-]+);)?")
_V2_MARKER = b"content-type"
# One understood header: optional whitespace around every part, then a terminating ";". Anything else ends the
# header loop and stays in the payload, exactly as PySOA 1.4.9 reads it.
_HEADER_RE = re.compile(rb"\s*(content-type|chunk-count|chunk-id)\s*:\s*([A-Za-z0-9_/.-]+)\s*;")
_VERSIONS_BY_DIGITS = {b"%d" % version: version for version in ProtocolVersion}
# Decoded MIME types by raw header value; a handful of values ever occur, so decode each once.
_MIME_TYPES: dict[bytes, str] = {}


class ParsedMessage(NamedTuple):
    """One message (or one chunk) read from a Redis list, with its framing removed.

    Attributes:
        version: The detected protocol version.
        content_type: The ``content-type`` header value, or None when the message had none.
        chunk_count: The ``chunk-count`` header as an int, or None.
        chunk_id: The ``chunk-id`` header as an int, or None.
        payload: The bytes after the last understood header (the serialized envelope, or a slice of it).
    """

    version: ProtocolVersion
    content_type: str | None
    chunk_count: int | None
    chunk_id: int | None
    payload: bytes | bytearray | memoryview

    @property
    def is_chunk(self) -> bool:
        """Whether the message is one chunk of a chunked message (it has a ``chunk-count`` header)."""
        return self.chunk_count is not None


def _header_int(name: bytes, value: bytes) -> int:
    # A chunk number never needs 10 digits; longer ones could even hit Python's int-size limit.
    if not value.isdigit() or len(value) > 9:
        raise InvalidMessageError(f"Invalid {name.decode('ascii')} header value {value[:20].decode('ascii')!r}")
    return int(value)


def _mime_type(value: bytes) -> str:
    """A header's MIME type decoded, and remembered (256 at most) so that the next message finds it in ``_MIME_TYPES``
    without this call."""
    mime_type = value.decode("ascii")
    if len(_MIME_TYPES) < 256:
        _MIME_TYPES[value] = mime_type
    return mime_type


def without_version_marker(message: bytes | bytearray) -> bytes | bytearray:
    """The message without its ``pysoa-redis/N//`` marker, whatever N (the message itself when it has none).

    For answering a message of an unknown version in version 3: the rest is read as version 3.
    """
    marker = _VERSION_MARKER_RE.match(message)
    return message[marker.end(1) + 2 :] if marker else message


def parse_message(message: bytes | bytearray, *, view: bool = False) -> ParsedMessage:
    """Read the version marker and the understood headers at the start of a received message.

    Args:
        message: The raw bytes popped from Redis (a ``bytearray`` for a big message received in place).
        view: Give the payload as a ``memoryview`` into ``message`` rather than a ``bytes`` copy (a copy of a
            big message costs more than parsing it; read it with ``Serializer.buffer_to_dict``).

    Returns:
        The parsed framing. The payload is ``message`` itself (no copy) when there was no framing.

    Raises:
        UnsupportedProtocolVersionError: If the ``pysoa-redis/N//`` marker names an unknown version (an
            ``InvalidMessageError`` and a ``ValueError``).
        InvalidMessageError: If a ``chunk-count`` or ``chunk-id`` header is not a decimal number.
    """
    content_type: str | None = None
    chunk_count: int | None = None
    chunk_id: int | None = None
    offset = 0
    marker = _VERSION_MARKER_RE.match(message)
    if marker is not None:
        number, mime = marker.group(1, 2)
        version = _VERSIONS_BY_DIGITS.get(number) or _version_from_marker_digits(number)
        if mime is not None:
            content_type = _MIME_TYPES.get(mime) or _mime_type(mime)
        offset = marker.end()
    elif message.startswith(_V2_MARKER):
        version = ProtocolVersion.VERSION_2
    else:
        version = ProtocolVersion.VERSION_1

    header = _HEADER_RE.match(message, offset)
    while header is not None:
        name, value = header.group(1, 2)
        if name == b"content-type":
            content_type = _MIME_TYPES.get(value) or _mime_type(value)
        elif name == b"chunk-count":
            chunk_count = _header_int(name, value)
        else:
            chunk_id = _header_int(name, value)
        offset = header.end()
        header = _HEADER_RE.match(message, offset)

    if not offset:
        payload: bytes | bytearray | memoryview = message
    elif view:
        payload = memoryview(message)[offset:]
    else:
        payload = bytes(memoryview(message)[offset:])  # one copy, from bytes or bytearray alike
    return ParsedMessage(version, content_type, chunk_count, chunk_id, payload)


_JOIN_UP_TO_BYTES = 16384


# --------------------------------------------------------------------------------------------------------------------
# The rules for reading request header values, each in one place for clients, servers and transports
# (switches: core/switches.py).
#
# * ``control["suppress_response"]``: only the boolean ``True`` asks for no reply. The server's schema
#   accepts nothing but booleans there, so any other value gets a reply (with the validation error),
#   and clients and transports must then wait for it; clients always write a real boolean.
# * ``meta["client_version"]``: a non-empty list of ints; absent or malformed counts as 0.40.0 (what
#   PySOA assumes of clients older than the field).
# --------------------------------------------------------------------------------------------------------------------


CLIENT_VERSION_META_KEY = "client_version"
# What PySOA assumes for clients that send no version (they predate 0.70 and the field).
DEFAULT_CLIENT_VERSION: tuple[int, ...] = (0, 40, 0)


def suppress_response_requested(control: Any) -> bool:
    """Whether a (possibly malformed) control header asks for no reply: ``suppress_response`` is exactly ``True``."""
    return isinstance(control, dict) and control.get("suppress_response") is True


def parse_client_version_checked(meta: Mapping[str, Any] | None) -> tuple[tuple[int, ...], str | None]:
    """Read the client version from request meta, reporting a malformed value instead of failing.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints and None; or ``(0, 40, 0)`` and None when absent; or ``(0, 40, 0)``
        and a sentence describing the problem when the value is not a non-empty list of integers.
    """
    # Exact types first (every request's meta is a dict and its parts plain ints): the ABC and subclass checks only
    # for anything else.
    value = meta.get(CLIENT_VERSION_META_KEY) if type(meta) is dict or isinstance(meta, Mapping) else None
    if value is None:
        return DEFAULT_CLIENT_VERSION, None
    if not isinstance(value, (list, tuple)) or not value:
        return DEFAULT_CLIENT_VERSION, f"client_version {short_repr(value)} is not a non-empty list of integers"
    for part in value:
        # bool is an int subclass, but True/False in a version means a broken client.
        if type(part) is not int and (not isinstance(part, int) or isinstance(part, bool)):
            problem = f"client_version {short_repr(value)} has a non-integer element {short_repr(part)}"
            return DEFAULT_CLIENT_VERSION, problem
    return tuple(value), None


def parse_client_version(meta: Mapping[str, Any] | None) -> tuple[int, ...]:
    """Read the client version from request meta; never fails.

    Args:
        meta: The request meta (None counts as empty).

    Returns:
        The version as a tuple of ints, or ``(0, 40, 0)`` when absent or malformed (use
        :func:`parse_client_version_checked` to learn which).
    """
    return parse_client_version_checked(meta)[0]


# --------------------------------------------------------------------------------------------------------------------
# The envelope around every job body: building, checking, expiry and size (PROTOCOL.md sections 3, 6, 10).
#
# An envelope is the map ``{"request_id": ..., "meta": {...}, "body": {...}}``, serialized as the payload of a
# framed message.
# --------------------------------------------------------------------------------------------------------------------


# The meta key holding the absolute Unix time (sender's clock) after which the message is dropped.
EXPIRY_META_KEY = "__expiry__"


class ReceivedMessage(NamedTuple):
    """A received message; all three fields are ``None`` when nothing is outstanding."""

    request_id: Any
    meta: dict[str, Any] | None
    body: dict[str, Any] | None


def expiry_time(lifetime: float, now: float) -> float:
    """The ``__expiry__`` of a message stamped at ``now`` with ``lifetime`` seconds to live.

    That is ``now + lifetime``, but no later than the deadline a
    :class:`~pysoa_like.core.deadlines.DeadlineExpiry` carries: the time between working out the seconds left and
    stamping the message (middleware, serialization) is not added to it.
    A deadline already passed is stamped as it is: the message arrives expired, as one that waited too long in a
    queue (a Redis server drops it and the caller's wait ends without a reply; the local transport's server
    answers with a ``DEADLINE_EXCEEDED`` error).
    """
    expires = now + lifetime
    if isinstance(lifetime, DeadlineExpiry) and lifetime.deadline < expires:
        return lifetime.deadline
    return expires


def envelope_to_send(
    request_id: Any,
    meta: dict[str, Any],
    body: Any,
    now: float,
    default_expiry_seconds: float,
    explicit_expiry_seconds: float | None = None,
) -> tuple[dict[str, Any], int]:
    """The envelope to serialize for a message sent at ``now``, and the Redis EXPIRE of the list it goes to.

    The envelope is ``request_id``, ``meta`` (a shallow copy, never modified, with ``__expiry__`` added) and
    ``body`` (by reference), in that order. Its expiry: an explicit one T (a client call's timeout) gives
    ``__expiry__ = now + T`` (never past the deadline a :class:`~pysoa_like.core.deadlines.DeadlineExpiry` T
    carries) and EXPIRE ``T + 10``; otherwise (None or 0) the setting gives both. A fractional EXPIRE is rounded
    up, because Redis only takes integers and rounding down could drop a message before its envelope expiry.

    Args:
        request_id: The request id (echoed unchanged in responses).
        meta: The message meta.
        body: The job request or job response dict.
        now: The current Unix time.
        default_expiry_seconds: The transport's ``message_expiry_in_seconds`` setting.
        explicit_expiry_seconds: The per-call expiry, if any.

    Returns:
        ``(envelope, redis_expiry_seconds)``.

    Raises:
        InvalidMessageError: If ``request_id`` is None.
        ValueError: If the expiry to use is not positive.
    """
    if request_id is None:
        raise InvalidMessageError("No request ID")
    if explicit_expiry_seconds:
        if explicit_expiry_seconds < 0:
            raise ValueError(f"A message expiry must be positive, got {explicit_expiry_seconds}")
        lifetime = explicit_expiry_seconds
        redis_expiry_seconds = math.ceil(explicit_expiry_seconds + EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS)
    elif default_expiry_seconds > 0:
        lifetime = default_expiry_seconds
        redis_expiry_seconds = math.ceil(default_expiry_seconds)
    else:
        raise ValueError(f"message_expiry_in_seconds must be positive, got {default_expiry_seconds}")
    envelope_meta = dict(meta)
    envelope_meta[EXPIRY_META_KEY] = expiry_time(lifetime, now)
    return {"request_id": request_id, "meta": envelope_meta, "body": body}, redis_expiry_seconds


def is_expired(meta: dict[str, Any], now: float) -> bool:
    """Whether a received message has expired: its ``__expiry__`` is set, truthy and before ``now``.

    Args:
        meta: The received meta.
        now: The receiver's current Unix time.

    Raises:
        InvalidMessageError: If ``__expiry__`` is not a number.
    """
    expiry = meta.get(EXPIRY_META_KEY)
    if not expiry:
        return False
    if not isinstance(expiry, (int, float)):
        raise InvalidMessageError(f"Invalid {EXPIRY_META_KEY} value {short_repr(expiry)}: not a number")
    return expiry < now


def check_envelope(message: Any, now: float, service_name: str) -> ReceivedMessage:
    """Check a deserialized envelope as PySOA receivers do and unpack it.

    The expiry is checked first, then the request id. Extra top-level keys are ignored; a missing or null
    ``meta`` is an empty one.

    Args:
        message: What the payload deserialized to.
        now: The receiver's current Unix time.
        service_name: The service, for error messages.

    Returns:
        ``ReceivedMessage(request_id, meta, body)``; ``meta`` is the received dict itself.

    Raises:
        MessageReceiveTimeout: If the message has expired (it must be dropped silently).
        InvalidMessageError: If the message, its meta or its body is not a map, the expiry is not a number, or
            ``request_id`` is missing or null.
    """
    if not isinstance(message, dict):
        raise InvalidMessageError(f"Invalid message for service {service_name}: not a map")
    meta = message.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise InvalidMessageError(f"Invalid message for service {service_name}: meta is not a map")
    # The common case (a number in the future) is checked inline; is_expired handles the rest.
    expiry = meta.get(EXPIRY_META_KEY)
    if expiry and not (type(expiry) is float and expiry >= now) and is_expired(meta, now):
        raise MessageReceiveTimeout(f"Message expired for service {service_name}")
    request_id = message.get("request_id")
    if request_id is None:
        raise InvalidMessageError(f"No request ID for service {service_name}")
    body = message.get("body")
    if body is not None and not isinstance(body, dict):
        raise InvalidMessageError(f"Invalid message for service {service_name}: body is not a map")
    return ReceivedMessage(request_id, meta, body)


#: The longest ``reply_to`` a server answers (PySOA's are about 60 characters plus the service name).
MAXIMUM_REPLY_TO_LENGTH = 1024


def reply_to_problem(reply_to: object) -> str | None:
    """Why a server must not push a reply to ``reply_to``, or None when it may.

    A reply queue name is a non-empty string of at most :data:`MAXIMUM_REPLY_TO_LENGTH` characters containing
    ``!``, as every PySOA client builds it. The marker is what keeps replies out of request queues: no service
    name contains it, so a request naming its own service's queue (or another service's) as its reply queue
    cannot make servers answer each other forever.

    Args:
        reply_to: The ``reply_to`` value of a request's ``meta`` (any type, as received).

    Returns:
        A short description of the problem, or None.
    """
    if type(reply_to) is not str:
        return "the reply queue name is missing" if reply_to is None else "the reply queue name is not a string"
    if REPLY_QUEUE_MARKER not in reply_to:
        if not reply_to:
            return "the reply queue name is empty"
        return f"the reply queue name has no {REPLY_QUEUE_MARKER!r}, so it is not a reply queue"
    if len(reply_to) > MAXIMUM_REPLY_TO_LENGTH:
        return f"the reply queue name is longer than {MAXIMUM_REPLY_TO_LENGTH} characters"
    return None


class ReceivedRequest(NamedTuple):
    """A request's envelope as a server reads it (:func:`read_request`): what it serves and where it answers."""

    request_id: Any
    #: The received meta dict (an empty one when the envelope had none).
    meta: dict[str, Any]
    body: dict[str, Any] | None
    #: The deadline its ``__expiry__`` gives (:func:`deadline_of`), or None.
    deadline: float | None
    #: Its client's version (``(0, 40, 0)`` when absent or malformed).
    client_version: tuple[int, ...]
    #: Why its ``client_version`` is malformed (the request is served anyway), or None.
    client_version_problem: str | None
    #: Why no reply may be pushed to its ``reply_to`` (:func:`reply_to_problem`), or None; also None when the
    #: request suppresses its response, since then nothing is sent back.
    reply_problem: str | None


def read_request(message: Any, payload: Any, mime_type: str | None, now: float, service_name: str) -> ReceivedRequest:
    """Read a received request's envelope: its nesting bounded, then checked and unpacked as every envelope
    (:func:`check_envelope`), and its deadline, client version and reply queue read from its meta.

    Args:
        message: What the payload deserialized to.
        payload: The bytes it was deserialized from (``bytes``, ``bytearray`` or ``memoryview``).
        mime_type: The serializer's MIME type (for :func:`nesting_too_deep`).
        now: The receiver's current Unix time.
        service_name: The service, for error messages.

    Raises:
        MessageTooDeep: If the message nests maps and lists too deeply (checked first).
        MessageReceiveTimeout: If the request has expired (it must be dropped silently).
        InvalidMessageError: If the envelope is not a request's (see :func:`check_envelope`).
    """
    if nesting_too_deep(message, payload, mime_type):
        raise MessageTooDeep(too_deep_message())
    request_id, received_meta, body = check_envelope(message, now, service_name)
    meta = received_meta or {}
    client_version, client_version_problem = parse_client_version_checked(meta)
    reply_problem = reply_to_problem(meta.get("reply_to"))
    if reply_problem is not None and isinstance(body, dict) and suppress_response_requested(body.get("control")):
        reply_problem = None
    deadline = deadline_of(meta.get(EXPIRY_META_KEY))
    return ReceivedRequest(request_id, meta, body, deadline, client_version, client_version_problem, reply_problem)


class ReceivedMeta(dict[str, Any]):
    """The meta of a received request, as a server transport may hand it over: the dict, plus what the transport
    already read from it, so that the server does not read it a second time.

    A transport that returns a plain dict is served as well; the server then reads the client's version and the
    deadline itself. (Also importable from :mod:`pysoa_like.common.transport.base`.)

    Args:
        meta: The request's meta.
        client_version: The requesting client's version (PySOA's 0.40.0 for a missing or malformed one, which the
            transport has reported).

    Attributes:
        deadline: When the caller stops waiting (the ``__expiry__`` the meta carries, as the core's ``deadline_of``
            reads it), or ``None``.
    """

    __slots__ = ("client_version", "deadline")

    def __init__(self, meta: dict[str, Any], client_version: tuple[int, ...]) -> None:
        super().__init__(meta)
        self.client_version = client_version
        self.deadline = deadline_of(meta.get(EXPIRY_META_KEY))


class RequestMeta(ReceivedMeta):
    """The meta of a request read by :func:`decode_request`, remembering (off the wire) how the request was framed.

    The Redis server transport hands it to the server and gets it back with the response: these attributes make
    the reply, including any error reply that replaces it, use the request's protocol version and serializer, and
    the server reads the client's version and the deadline from them instead of the meta again. (Also importable
    from :mod:`pysoa_like.common.transport.redis_gateway.server`.)

    Args:
        meta: The request's meta.
        protocol_version: The protocol version the request was framed with.
        serializer: The serializer its payload was read with.
        client_version: The requesting client's version.
        deadline: When the caller stops waiting (the meta's ``__expiry__``, read already), or ``None``.
        client_version_problem: Why the meta's ``client_version`` is malformed (the request is served all the same,
            its client taken for 0.40.0), or ``None``.
    """

    __slots__ = ("client_version_problem", "delivery", "protocol_version", "serializer")

    def __init__(
        self,
        meta: dict[str, Any],
        protocol_version: ProtocolVersion,
        serializer: Serializer,
        client_version: tuple[int, ...],
        deadline: float | None = None,
        client_version_problem: str | None = None,
    ) -> None:
        dict.__init__(self, meta)  # (ReceivedMeta's __init__ would read client_version and the deadline again)
        self.client_version = client_version
        self.deadline = deadline
        self.protocol_version = protocol_version
        self.serializer = serializer
        self.client_version_problem = client_version_problem
        #: With at-least-once delivery, the request's place in the worker's in-progress list (else None).
        self.delivery: Any = None


def decode_request(
    raw: bytes | bytearray,
    serializers: Mapping[str | None, Serializer],
    now: float,
    service_name: str,
    deserialize: Callable[[Serializer, Any], Any] | None = None,
) -> ReceivedMessage:
    """A request popped from a service's list, from its bytes to what the server serves: unframed
    (:func:`parse_message`), deserialized by the serializer its ``content-type`` names, its envelope read
    (:func:`read_request`).

    Args:
        raw: The message as popped (a view of its payload is deserialized, not a copy).
        serializers: The serializer of each ``content-type`` (``None``: no header), as a server transport keeps them.
        now: The receiver's current Unix time.
        service_name: The service, for error messages.
        deserialize: Called as ``deserialize(serializer, payload)`` instead of ``serializer.buffer_to_dict(payload)``
            (a transport that times its deserialization); ``None`` for the serializer's own.

    Returns:
        ``ReceivedMessage(request_id, meta, body)``, its meta a :class:`RequestMeta`.

    Raises:
        MessageReceiveTimeout: If the request has expired (it must be dropped silently).
        UndecodableRequest: If the message must not be served (see its ``reason``).
    """
    try:
        parsed = parse_message(raw, view=True)
    except UnsupportedProtocolVersionError as exc:
        raise UndecodableRequest("unsupported_protocol_version", exc) from exc
    except InvalidMessageError as exc:
        raise UndecodableRequest("invalid_message", exc) from exc
    if parsed.is_chunk:
        try:
            reject_chunked_request(parsed)
        except InvalidMessageError as exc:
            raise UndecodableRequest("chunked_request", exc) from exc
    serializer = serializers[parsed.content_type]
    payload = parsed.payload
    try:
        message = serializer.buffer_to_dict(payload) if deserialize is None else deserialize(serializer, payload)
    except Exception as exc:
        raise UndecodableRequest("invalid_message", exc) from exc
    try:
        request = read_request(message, payload, serializer.mime_type, now, service_name)
    except InvalidMessageError as exc:
        raise UndecodableRequest(envelope_problem(message, exc), exc, message, parsed.version, serializer) from exc
    if request.reply_problem is not None:
        meta = request.meta
        if meta.get("reply_to") in (None, ""):
            raise UndecodableRequest("missing_reply_queue", InvalidMessageError("Missing reply queue name"))
        raise UndecodableRequest("invalid_reply_queue", InvalidMessageError(request.reply_problem))
    meta = RequestMeta(
        request.meta,
        parsed.version,
        serializer,
        request.client_version,
        request.deadline,
        request.client_version_problem,
    )
    return ReceivedMessage(request.request_id, meta, request.body)


# --------------------------------------------------------------------------------------------------------------------
# A client's replies: which ones a thread accepts, and when it pops a busy reply list.
#
# A client thread waits on its own reply list. Anything can land there: the reply to a request whose caller gave
# up, a reply a server sent twice, a reply to some other request with the same reply list (pushed by anyone who can
# write to Redis), or a reply a server was tricked into sending there (a request naming this thread's reply list
# and a request id it waits for). :class:`PendingReplies` remembers, per request id, a random nonce sent in the
# request's meta (``reply_nonce``, :data:`REPLY_NONCE_META_KEY`); every server echoes the request's meta in its
# reply (PySOA 1.4.9 included), so a reply proves which request it answers: once its envelope is checked
# (:func:`check_envelope`), each reply gets a :class:`ReplyVerdict`. Which waiting call an accepted reply goes to
# is the client's business (``ReplyRouter`` in ``pysoa_like.client.client``).
# --------------------------------------------------------------------------------------------------------------------


#: The request meta key holding the request's nonce (echoed in the reply's meta).
REPLY_NONCE_META_KEY = "reply_nonce"
# Every this many ids awaited, the expired ones are forgotten (a full pass: amortized, it costs next to nothing).
_PRUNE_EVERY = 256
# The most ids awaited at once per thread; the oldest go first beyond it.
_MAXIMUM_PENDING = 100_000


def new_reply_nonce() -> str:
    """A fresh nonce for one request: 64 random bits from the operating system, as 16 hex digits."""
    return os.urandom(8).hex()


class ReplyVerdict(enum.Enum):
    """What to do with a received reply (:meth:`PendingReplies.verdict`).

    * ``ACCEPTED``: its request id is awaited and its nonce matches (or, when allowed, it has none); the id is then
      no longer awaited, so a duplicate is refused;
    * ``UNKNOWN``: nobody waits for its request id (late after the request was forgotten, a duplicate, or a
      stranger's);
    * ``FORGED``: the id is awaited but the nonce is missing or wrong; the real reply may still come, so the id
      stays awaited.
    """

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    FORGED = "forged"


class PendingReplies(dict[Any, tuple[str, float]]):
    """The replies one client thread waits for: a dict of request id -> (nonce, time after which it stops waiting).

    A dict itself, so that ``len()`` and an emptiness test (asked on every send and receive) cost no call; change
    it only through its methods.

    Args:
        require_nonce: Refuse replies whose meta has no nonce (every PySOA 1.4.9 and pysoa_like server echoes
            it); False also accepts them, for servers that rebuild the reply's meta.
    """

    __slots__ = ("_added", "require_nonce")

    def __init__(self, require_nonce: bool = True) -> None:
        super().__init__()
        self.require_nonce = require_nonce
        self._added = 0

    def expect(self, request_id: Any, nonce: str, forget_after: float, now: float) -> None:
        """Wait for the reply to ``request_id``, which must echo ``nonce``.

        Args:
            request_id: The request's id.
            nonce: The nonce sent in the request's meta.
            forget_after: When (same clock as ``now``) to stop waiting even if no reply came: after the reply
                could no longer arrive (the request and any reply have expired).
            now: The current time.
        """
        pending = self
        self._added += 1
        if self._added % _PRUNE_EVERY == 0 or len(pending) >= _MAXIMUM_PENDING:
            self.prune(now)
            while len(pending) >= _MAXIMUM_PENDING:
                del pending[next(iter(pending))]  # the oldest
        pending[request_id] = (nonce, forget_after)

    def forget(self, request_id: Any) -> None:
        """Stop waiting for ``request_id`` (its send failed)."""
        self.pop(request_id, None)

    def prune(self, now: float) -> None:
        """Stop waiting for every request whose reply can no longer come (:meth:`expect` calls it now and then)."""
        pending = self
        for request_id in [key for key, (_nonce, forget_after) in pending.items() if forget_after < now]:
            del pending[request_id]

    def verdict(self, request_id: Any, meta: Any) -> ReplyVerdict:
        """Judge one received reply by its request id and meta; an accepted one is no longer awaited."""
        try:
            entry = self.get(request_id)
        except TypeError:  # an unhashable id: nobody's
            return ReplyVerdict.UNKNOWN
        if entry is None:
            return ReplyVerdict.UNKNOWN
        echoed = meta.get(REPLY_NONCE_META_KEY) if isinstance(meta, Mapping) else None
        if echoed != entry[0] and (echoed is not None or self.require_nonce):
            return ReplyVerdict.FORGED
        del self[request_id]
        return ReplyVerdict.ACCEPTED


def decode_reply(
    raw: bytes | bytearray,
    serializers: Mapping[str | None, Serializer],
    now: float,
    service_name: str,
    pending: PendingReplies,
    deserialize: Callable[[Serializer, Any], Any] | None = None,
) -> ReceivedMessage:
    """A reply popped from a client's reply list, from its bytes to the message its waiting call gets: unframed
    (:func:`parse_message`), deserialized by the serializer its ``content-type`` names, and accepted
    (:func:`accept_reply`; no longer awaited then).

    Args:
        raw: The reply as popped (a view of its payload is deserialized, not a copy).
        serializers: The serializer of each ``content-type`` (``None``: no header).
        now: The receiver's current Unix time.
        service_name: The service, for error messages.
        pending: The requests the client's thread awaits (by request id).
        deserialize: Called as ``deserialize(serializer, payload)`` instead of ``serializer.buffer_to_dict(payload)``
            (a transport that times its deserialization); ``None`` for the serializer's own.

    Raises:
        ReplyChunk: ``raw`` is a chunk of a chunked reply.
        DroppedReply: The reply is for no waiting call, or unusable (see its ``answers``).
    """
    try:
        parsed = parse_message(raw, view=True)
    except InvalidMessageError as exc:
        raise DroppedReply("invalid_message", str(exc), error=exc) from exc
    if parsed.is_chunk:
        raise ReplyChunk(parsed)
    serializer = serializers[parsed.content_type]
    try:
        if deserialize is None:
            message = serializer.buffer_to_dict(parsed.payload)
        else:
            message = deserialize(serializer, parsed.payload)
    except Exception as exc:  # a serializer's own errors, or any other: the reply is unreadable, never the caller's
        raise DroppedReply("invalid_message", str(exc), error=exc) from exc
    return accept_reply(message, now, service_name, pending)[1]


def accept_reply(
    message: Any,
    now: float,
    service_name: str,
    pending: PendingReplies,
    key_of: Callable[[Any, Any], Any] | None = None,
) -> tuple[Any, ReceivedMessage]:
    """Check a deserialized reply's envelope (:func:`check_envelope`) and judge it (:meth:`PendingReplies.verdict`).

    Args:
        message: What the reply's payload deserialized to.
        now: The receiver's current Unix time.
        service_name: The service, for error messages.
        pending: The replies awaited.
        key_of: ``key_of(request_id, meta)``: the key ``pending`` awaits a reply under, or ``None`` for none (a driver
            that keeps its calls by another key than the request id); ``None`` when the keys are the request ids.

    Returns:
        ``(key, received)``: the awaited call's key (the request id without ``key_of``) and the reply's
        ``ReceivedMessage``; the key is no longer awaited.

    Raises:
        DroppedReply: The reply is for no waiting call (``"forged_reply"``: it does not echo its request's nonce;
            ``"unknown_reply"``: late, duplicate or foreign), or expired or malformed (``answers``: the call it
            answers, if any).
    """
    try:
        received = check_envelope(message, now, service_name)
    except MessageReceiveTimeout as exc:
        raise DroppedReply(
            "message_expired", "the reply had expired", _answered(message, pending, key_of), exc
        ) from None
    except InvalidMessageError as exc:
        raise DroppedReply("invalid_message", str(exc), _answered(message, pending, key_of), exc) from exc
    request_id = received.request_id
    key = request_id if key_of is None else key_of(request_id, received.meta)
    verdict = ReplyVerdict.UNKNOWN if key is None else pending.verdict(key, received.meta)
    if verdict is ReplyVerdict.ACCEPTED:
        return key, received
    if verdict is ReplyVerdict.FORGED:
        raise DroppedReply(
            "forged_reply", f"the reply to request {short_repr(request_id)} does not echo its request's nonce"
        )
    raise DroppedReply("unknown_reply", f"no request {short_repr(request_id)} is awaited (late, duplicate or foreign)")


def _answered(message: Any, pending: PendingReplies, key_of: Callable[[Any, Any], Any] | None) -> Any:
    """The key of the awaited call an unusable ``message`` answers (its id and nonce match; then no longer awaited), or
    ``None``."""
    if not isinstance(message, dict):
        return None
    request_id, meta = message.get("request_id"), message.get("meta")
    try:
        key = request_id if key_of is None else key_of(request_id, meta)
    except TypeError:  # an unhashable id: nobody's
        return None
    if key is None or pending.verdict(key, meta) is not ReplyVerdict.ACCEPTED:
        return None
    return key


# When a client pops a busy reply list.
#
# With many calls waiting on one reply list, a pop made the moment the previous one returned finds one or two
# replies; waiting a millisecond first lets the replies pile up, so one pop (BLPOP, then LPOP with a count) takes
# dozens: fewer round trips, wake-ups and Redis commands per reply. A serial call (one reply awaited) never waits.

#: From this many replies awaited on one reply list, a driver pauses before its next pop.
BATCH_WAITING = 32
#: How long that pause is.
BATCH_PAUSE_SECONDS = 0.001


def batch_pause(awaited: int) -> float:
    """Seconds a driver waits before popping one reply list on which ``awaited`` replies are awaited (0: none)."""
    return BATCH_PAUSE_SECONDS if awaited >= BATCH_WAITING else 0.0


# --------------------------------------------------------------------------------------------------------------------
# The rules of a sent message: its size, when it is chunked (PROTOCOL.md section 5; splitting and reassembly:
# core/chunks.py), and its framing (built once per version and MIME type: core/framing.py).
#
# Only servers chunk, only for protocol version 3 requests, and only when the setting
# ``chunk_messages_larger_than_bytes`` (T) is enabled: a payload of ``size > T`` bytes goes out as
# ``ceil(size / T)`` messages of at most T payload bytes each, every one framed with its own
# ``content-type``, ``chunk-count`` and ``chunk-id`` headers.
# --------------------------------------------------------------------------------------------------------------------


# The text of every MessageTooLarge the transports raise.
MESSAGE_TOO_LARGE_TEXT = "Message exceeds maximum message size"


def frame_for_sending(
    payload: bytes,
    mime_type: str,
    version: ProtocolVersion | int,
    maximum_message_size_in_bytes: int,
    log_messages_larger_than_bytes: int = 0,
    chunk_messages_larger_than_bytes: int = -1,
) -> tuple[list[OutgoingMessage], bool, bool]:
    """Frame a serialized envelope for pushing, after the size rules of a sent message.

    The payload must be at most ``maximum_message_size_in_bytes``; it is oversized (for the WARNING) above
    ``log_messages_larger_than_bytes`` (0 disables); it goes in chunks (:func:`split_into_chunks`) when
    ``0 < chunk_messages_larger_than_bytes < size`` (a server's setting: only replies are chunked), which needs
    a version with chunked responses. Otherwise it is framed whole, and a payload over 16 KiB is not copied to
    prepend its framing (a :class:`FramedMessage` keeps the two pieces).

    Args:
        payload: The serialized envelope.
        mime_type: The serializer's MIME type (ignored by version 1).
        version: The protocol version to speak (a server: its request's).
        maximum_message_size_in_bytes: The largest payload that may be sent.
        log_messages_larger_than_bytes: The oversized-message WARNING threshold.
        chunk_messages_larger_than_bytes: The chunking threshold T (``-1`` or ``0`` disables).

    Returns:
        ``(messages, oversized, chunked)``: the framed message (bytes, or a :class:`FramedMessage` for a big
        payload) or its chunks; whether the sender must log the oversized-message WARNING; whether the payload
        was chunked (a plain tuple: built on every send).

    Raises:
        MessageTooLarge: ``MessageTooLarge(size, "Message exceeds maximum message size")`` if the payload is over
            the maximum, or over the chunking threshold for a version that cannot receive chunks.
        ValueError: If the version is unknown or the MIME type has characters a header cannot carry.
    """
    size = len(payload)
    if size > maximum_message_size_in_bytes:
        raise MessageTooLarge(size, MESSAGE_TOO_LARGE_TEXT)
    oversized = bool(log_messages_larger_than_bytes) and size > log_messages_larger_than_bytes
    if 0 < chunk_messages_larger_than_bytes < size:
        if not ProtocolFeature.CHUNKED_RESPONSES.supported_in(version):
            raise MessageTooLarge(size, MESSAGE_TOO_LARGE_TEXT)
        chunks: list[OutgoingMessage] = list(split_into_chunks(payload, mime_type, chunk_messages_larger_than_bytes))
        return chunks, oversized, True
    head = message_head(int(version), mime_type)
    message: OutgoingMessage
    if not head:
        message = bytes(payload)
    elif size <= _JOIN_UP_TO_BYTES:
        message = head + payload
    else:
        message = FramedMessage(head, bytes(payload))
    return [message], oversized, False


# --------------------------------------------------------------------------------------------------------------------
# How deeply a received message may nest, checked right after it is decoded (the reasons, the exact walks and
# the refusal: core/nesting.py). A cheap upper bound first: a small payload cannot nest deeper than it opens
# maps and lists; only a bound over the limit costs the walks.
# --------------------------------------------------------------------------------------------------------------------


# Every byte that starts a MessagePack map or array (fixmap, fixarray, map16/32, array16/32): a message cannot
# nest deeper than it has such bytes.
_MSGPACK_CONTAINER_BYTES = bytes(range(0x80, 0xA0)) + b"\xdc\xdd\xde\xdf"
# Above this size, counting header bytes costs more than walking the decoded objects.
_COUNTING_LIMIT_BYTES = 16384
# The MIME types whose bytes tell how many maps and lists a payload opens.
_MSGPACK, _JSON = "application/msgpack", "application/json"


def nesting_too_deep(message: Any, payload: Any, mime_type: str | None, limit: int = MAXIMUM_NESTING_DEPTH) -> bool:
    """Whether a decoded message nests maps and lists deeper than ``limit`` levels.

    Args:
        message: The decoded message.
        payload: The bytes it was decoded from (``bytes``, ``bytearray`` or ``memoryview``).
        mime_type: The serializer's MIME type (None or another type: no byte-level bound).
        limit: The deepest nesting allowed (the message itself is level 1).
    """
    if len(payload) <= limit:
        return False
    if len(payload) <= _COUNTING_LIMIT_BYTES and mime_type in (_MSGPACK, _JSON):
        # A small payload's bytes bound its nesting: it cannot nest deeper than it opens maps and lists.
        data = payload
        if isinstance(data, memoryview):
            data = data.obj if isinstance(data.obj, bytes | bytearray) else bytes(data)
        if mime_type == _MSGPACK:
            bound = len(data) - len(data.translate(None, _MSGPACK_CONTAINER_BYTES))
        else:
            bound = data.count(b"[") + data.count(b"{")
        if bound <= limit:
            return False
    if type(message) is not dict and type(message) is not list:
        return False
    return reference_depth_over(message, limit, len(payload)) and container_depth_over(message, limit)


# --------------------------------------------------------------------------------------------------------------------
# A received request's deadline: its envelope's ``__expiry__`` (PROTOCOL.md section 6), an absolute Unix time.
# How long a call may then still take, and the waits it bounds: core/deadlines.py.
# --------------------------------------------------------------------------------------------------------------------


def deadline_of(expiry: Any) -> float | None:
    """The deadline a received request's ``__expiry__`` gives: a positive number, else ``None`` (no deadline).

    PySOA treats a missing, null or zero expiry as "never expires"; anything that is not a number (a bool
    included) carries no deadline either.
    """
    if isinstance(expiry, bool) or not isinstance(expiry, int | float) or not expiry > 0:
        return None
    return float(expiry)
