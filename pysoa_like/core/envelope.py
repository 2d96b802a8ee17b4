"""The envelope around every job body: building, checking, expiry and size (PROTOCOL.md sections 3, 6, 10).

An envelope is the map ``{"request_id": ..., "meta": {...}, "body": {...}}``, serialized as the payload of a
framed message.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import InvalidMessageError, MessageReceiveTimeout, MessageTooLarge
from pysoa_like.core.chunking import MESSAGE_TOO_LARGE_TEXT
from pysoa_like.core.constants import EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS
from pysoa_like.core.keys import reply_to_problem

__all__ = [
    "EXPIRY_META_KEY",
    "ExpiryValues",
    "ReceivedMessage",
    "build_envelope",
    "check_envelope",
    "check_message_size",
    "compute_expiry",
    "is_expired",
    "reply_address",
    "should_log_oversized",
]

# The meta key holding the absolute Unix time (sender's clock) after which the message is dropped.
EXPIRY_META_KEY = "__expiry__"


class ReceivedMessage(NamedTuple):
    """A received message; all three fields are ``None`` when nothing is outstanding."""

    request_id: Any
    meta: dict[str, Any] | None
    body: dict[str, Any] | None


class ExpiryValues(NamedTuple):
    """The two expiry values of one send.

    Attributes:
        redis_expiry_seconds: The Redis EXPIRE argument for the list (an integer, as Redis demands).
        envelope_expiry: The absolute Unix time for ``meta["__expiry__"]``.
    """

    redis_expiry_seconds: int
    envelope_expiry: float


def compute_expiry(
    now: float,
    default_expiry_seconds: float,
    explicit_expiry_seconds: float | None = None,
) -> ExpiryValues:
    """The Redis EXPIRE and envelope ``__expiry__`` for a message sent at ``now``.

    An explicit expiry T (a client call's timeout) gives EXPIRE ``T + 10`` and ``__expiry__ = now + T``;
    otherwise (None or 0) the setting gives both. A fractional EXPIRE is rounded up, because Redis only takes
    integers and rounding down could drop a message before its envelope expiry.

    Args:
        now: The current Unix time.
        default_expiry_seconds: The transport's ``message_expiry_in_seconds`` setting.
        explicit_expiry_seconds: The per-call expiry, if any.

    Returns:
        The expiry values.

    Raises:
        ValueError: If the expiry to use is not positive.
    """
    if explicit_expiry_seconds:
        if explicit_expiry_seconds < 0:
            raise ValueError(f"A message expiry must be positive, got {explicit_expiry_seconds}")
        return ExpiryValues(
            math.ceil(explicit_expiry_seconds + EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS),
            now + explicit_expiry_seconds,
        )
    if default_expiry_seconds <= 0:
        raise ValueError(f"message_expiry_in_seconds must be positive, got {default_expiry_seconds}")
    return ExpiryValues(math.ceil(default_expiry_seconds), now + default_expiry_seconds)


def build_envelope(request_id: Any, meta: dict[str, Any], body: Any, envelope_expiry: float) -> dict[str, Any]:
    """The envelope to serialize: ``request_id``, ``meta`` (with ``__expiry__``) and ``body``, in that order.

    Args:
        request_id: The request id (echoed unchanged in responses).
        meta: The message meta; it is copied (shallowly), never modified.
        body: The job request or job response dict.
        envelope_expiry: The absolute expiry time (see :func:`compute_expiry`).

    Returns:
        A new dict; ``body`` is included by reference, not copied.

    Raises:
        InvalidMessageError: If ``request_id`` is None.
    """
    if request_id is None:
        raise InvalidMessageError("No request ID")
    envelope_meta = dict(meta)
    envelope_meta[EXPIRY_META_KEY] = envelope_expiry
    return {"request_id": request_id, "meta": envelope_meta, "body": body}


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


def reply_address(message: Any) -> tuple[Any, dict[str, Any]] | None:
    """Where a server can answer a message it cannot serve: ``(request_id, meta)``, or None.

    Only the envelope's top level is trusted: ``message`` must be a map with a non-null ``request_id`` and a
    ``meta`` map whose ``reply_to`` is a valid reply queue name (:func:`reply_to_problem`). The body, the expiry
    and everything else may be wrong: that is what the answer reports.

    Args:
        message: What the payload deserialized to.
    """
    if not isinstance(message, dict):
        return None
    request_id = message.get("request_id")
    meta = message.get("meta")
    if request_id is None or not isinstance(meta, dict) or reply_to_problem(meta.get("reply_to")) is not None:
        return None
    return request_id, meta


def check_message_size(message_size: int, maximum_message_size_in_bytes: int) -> None:
    """Refuse to send a serialized envelope larger than the maximum.

    Args:
        message_size: The size of the serialized envelope (headers excluded).
        maximum_message_size_in_bytes: The transport's maximum.

    Raises:
        MessageTooLarge: ``MessageTooLarge(size, "Message exceeds maximum message size")`` if it is larger.
    """
    if message_size > maximum_message_size_in_bytes:
        raise MessageTooLarge(message_size, MESSAGE_TOO_LARGE_TEXT)


def should_log_oversized(message_size: int, log_messages_larger_than_bytes: int) -> bool:
    """Whether a sent message is large enough for the oversized-message WARNING (a threshold of 0 disables it)."""
    return bool(log_messages_larger_than_bytes) and message_size > log_messages_larger_than_bytes
