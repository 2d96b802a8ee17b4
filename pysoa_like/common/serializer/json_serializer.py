"""``JSONSerializer``: plain JSON, byte-for-byte what PySOA's JSON serializer sends."""

from __future__ import annotations

import json
from typing import Any

from pysoa_like.common.serializer._paths import encoding_error
from pysoa_like.common.serializer.base import Serializer, not_a_dict
from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage

__all__ = ["JSONSerializer"]

# Roughly where json (and Python) give up on nesting; deeper failures fall back to a generic message.
_WALK_NESTING_LIMIT = 1000


class JSONSerializer(Serializer):
    """Serializes messages to and from JSON (UTF-8).

    Encoding uses ``json.dumps`` with its default options, as PySOA does: ``", "`` and ``": "``
    separators, non-ASCII escaped as ``\\uXXXX``, NaN and Infinity as bare literals, int/float/bool/None
    dict keys turned into strings, tuples into lists. Only None, bool, int, float, str, dict, list and
    tuple can be encoded: bytes, dates, times, Decimals, Amounts and sets cannot. It takes no
    constructor arguments.
    """

    mime_type = "application/json"

    def dict_to_blob(self, message_dict: dict[Any, Any]) -> bytes:
        """Encode a message dict to JSON bytes.

        Args:
            message_dict: The message to encode.

        Returns:
            The UTF-8 encoded JSON text (ASCII in practice).

        Raises:
            ValueError: If ``message_dict`` is not a dict.
            InvalidField: If a value cannot be encoded; the message starts with the value's dotted path.
        """
        if type(message_dict) is not dict and not isinstance(message_dict, dict):
            raise not_a_dict(message_dict)
        try:
            return json.dumps(message_dict).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise _encoding_error(message_dict, exc) from exc

    def blob_to_dict(self, blob: bytes | bytearray | memoryview | str) -> dict[Any, Any]:
        """Decode JSON bytes (or text) into a message dict.

        Args:
            blob: UTF-8 encoded JSON text (``bytes``, ``bytearray`` or ``memoryview``), or the text itself
                as a ``str``, as PySOA accepts.

        Returns:
            The decoded message.

        Raises:
            InvalidMessage: If the bytes are not UTF-8, not valid JSON, or not a JSON object.
        """
        data: object = blob
        if isinstance(data, str):
            text = data
        elif not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidMessage(f"Cannot decode a message from a {type(data).__name__}; expected bytes or str")
        else:
            try:
                text = str(data, "utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidMessage(f"JSON message is not valid UTF-8: {exc}") from exc
        try:
            result = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidMessage(f"Could not decode JSON message: {exc}") from exc
        if type(result) is not dict:
            raise InvalidMessage(f"JSON message decoded to a {type(result).__name__}, not an object")
        return result


def _leaf_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool | int | float | str):
        return None
    if isinstance(value, set | frozenset):
        return "Cannot encode sets to JSON; convert the set to a list"
    return f"Cannot encode values of type {type(value).__qualname__} to JSON"


def _key_problem(key: Any) -> str | None:
    if key is None or isinstance(key, bool | int | float | str):
        return None
    return f"JSON object keys must be str, int, float, bool or None, not {type(key).__qualname__}"


def _encoding_error(message: Any, exc: Exception) -> InvalidField:
    return encoding_error(message, exc, _leaf_problem, _key_problem, _WALK_NESTING_LIMIT, "JSON")
