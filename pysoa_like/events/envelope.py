"""How an event is stored in its stream: two fields, its serializer's MIME type and the serialized envelope.

Pure functions (no I/O). A stream entry holds::

    ct  the MIME type of the serializer ("application/msgpack" by default, or "application/json")
    e   the serialized envelope: {"v": 1, "name": ..., "body": {...}, "context": {...},
        "published_at": <Unix time>, "publisher": <service name or None>}

Bodies use the same serializers, and so the same types (datetimes, decimals, currint amounts with
msgpack), as action requests.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.serializer import MsgpackSerializer, Serializer
from pysoa_like.fleet.errors import InvalidEventError

__all__ = ["CONTENT_TYPE_FIELD", "ENVELOPE_FIELD", "ENVELOPE_VERSION", "decode_event", "encode_event"]

#: The stream entry field holding the serializer's MIME type.
CONTENT_TYPE_FIELD = b"ct"
#: The stream entry field holding the serialized envelope.
ENVELOPE_FIELD = b"e"
#: The envelope format version (``v``).
ENVELOPE_VERSION = 1

_DEFAULT_SERIALIZER = MsgpackSerializer()


def encode_event(
    name: str,
    body: Mapping[str, Any],
    context: Mapping[str, Any],
    publisher: str | None,
    serializer: Serializer | None = None,
    published_at: float | None = None,
) -> dict[bytes, bytes]:
    """The fields of the stream entry of one event.

    Raises:
        InvalidField: The body or context cannot be serialized.
    """
    serializer = serializer or _DEFAULT_SERIALIZER
    envelope = {
        "v": ENVELOPE_VERSION,
        "name": name,
        "body": dict(body),
        "context": dict(context),
        "published_at": time.time() if published_at is None else published_at,
        "publisher": publisher,
    }
    return {
        CONTENT_TYPE_FIELD: str(serializer.mime_type).encode("ascii"),
        ENVELOPE_FIELD: serializer.dict_to_blob(envelope),
    }


def _field(fields: Mapping[Any, Any], name: bytes) -> Any:
    value = fields.get(name)
    if value is None:
        value = fields.get(name.decode("ascii"))
    return value


def decode_event(fields: Mapping[Any, Any]) -> dict[str, Any]:
    """The envelope of a stream entry: ``name``, ``body``, ``context``, ``published_at``, ``publisher``.

    Raises:
        InvalidEventError: The entry is not an event this library can read (the message says why).
    """
    blob = _field(fields, ENVELOPE_FIELD)
    if not isinstance(blob, (bytes, bytearray)):
        raise InvalidEventError("the stream entry has no event envelope (field 'e')")
    content_type = _field(fields, CONTENT_TYPE_FIELD)
    serializer: Serializer = _DEFAULT_SERIALIZER
    if content_type is not None:
        mime = content_type.decode("ascii", "replace") if isinstance(content_type, bytes) else str(content_type)
        if mime != _DEFAULT_SERIALIZER.mime_type:
            try:
                serializer = Serializer.resolve_serializer(mime)
            except ValueError as exc:
                raise InvalidEventError(f"unknown event content type {mime!r}") from exc
    try:
        envelope = serializer.blob_to_dict(bytes(blob))
    except Exception as exc:
        raise InvalidEventError(f"the event envelope cannot be decoded: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("name"), str):
        raise InvalidEventError("the event envelope is not a map with a name")
    body = envelope.get("body")
    context = envelope.get("context")
    if not isinstance(body, dict):
        raise InvalidEventError("the event body is not a map")
    published_at = envelope.get("published_at")
    publisher = envelope.get("publisher")
    return {
        "name": envelope["name"],
        "body": body,
        "context": context if isinstance(context, dict) else {},
        "published_at": float(published_at) if isinstance(published_at, (int, float)) else 0.0,
        "publisher": publisher if isinstance(publisher, str) else None,
    }
