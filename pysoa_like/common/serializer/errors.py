"""Serializer exceptions: ``SerializationError`` ⊃ ``InvalidMessage`` (decode), ``InvalidField`` (encode)."""

from __future__ import annotations

from pysoa_like.common.errors import PySOAError

__all__ = ["InvalidField", "InvalidMessage", "SerializationError"]


class SerializationError(PySOAError):
    """The base of serializer errors."""


class InvalidMessage(SerializationError):
    """Bytes that could not be decoded into a message."""


class InvalidField(SerializationError):
    """A value that could not be encoded; the message names the offending path."""
