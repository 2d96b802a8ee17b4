"""The ``Serializer`` base class and the registry of serializers by MIME type.

Every subclass that sets its own non-blank ``mime_type`` registers itself when the class is created, so
a transport can pick the serializer named by a message's ``content-type`` header with
:meth:`Serializer.resolve_serializer`.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

__all__ = ["Serializer"]


class Serializer(abc.ABC):
    """Turns message dicts into bytes and back; the base of every serializer.

    Subclasses set the class attribute ``mime_type`` and implement :meth:`dict_to_blob` and
    :meth:`blob_to_dict`. A subclass that defines a non-blank ``mime_type`` in its own class body is
    registered under it; a subclass that only inherits its parent's ``mime_type`` is not registered (it
    is a variant for direct use, and the parent keeps the MIME type). Serializers are created without
    arguments when resolved by MIME type.

    Attributes:
        mime_type: The MIME type this serializer reads and writes, e.g. ``"application/msgpack"``.
        all_supported_mime_types: A frozenset of every registered MIME type (kept current as
            subclasses are created).
    """

    mime_type: ClassVar[str | None] = None
    all_supported_mime_types: ClassVar[frozenset[str]] = frozenset()
    _registry: ClassVar[dict[str, type[Serializer]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mime_type = cls.__dict__.get("mime_type")
        if mime_type is None:
            return
        if not isinstance(mime_type, str):
            raise TypeError(
                f"Serializer {cls.__module__}.{cls.__qualname__} has a mime_type of type "
                f"{type(mime_type).__name__}; it must be a str"
            )
        if not mime_type.strip():
            return
        _register(mime_type, cls)

    @classmethod
    def resolve_serializer(cls, mime_type: str) -> Serializer:
        """Return a new instance of the serializer registered for a MIME type.

        Args:
            mime_type: The MIME type, exactly as registered (e.g. from a ``content-type`` header).

        Returns:
            A new serializer instance, created without arguments.

        Raises:
            ValueError: If no serializer is registered for ``mime_type``.
        """
        serializer_class = Serializer._registry.get(mime_type)
        if serializer_class is None:
            known = ", ".join(sorted(Serializer._registry)) or "none"
            raise ValueError(f"Mime type {mime_type!r} is not supported (supported MIME types: {known})")
        return serializer_class()

    @abc.abstractmethod
    def dict_to_blob(self, message_dict: dict[Any, Any]) -> bytes:
        """Serialize a message dict to bytes.

        Args:
            message_dict: The message to encode.

        Returns:
            The encoded message.

        Raises:
            ValueError: If ``message_dict`` is not a dict (PySOA's serializers refuse anything else too).
            InvalidField: If a value in the message cannot be encoded; the message names its path.
        """

    @abc.abstractmethod
    def blob_to_dict(self, blob: bytes) -> dict[Any, Any]:
        """Deserialize bytes into a message dict.

        Args:
            blob: The encoded message.

        Returns:
            The decoded message.

        Raises:
            InvalidMessage: If the bytes cannot be decoded into a dict.
        """

    def buffer_to_dict(self, buffer: bytes | bytearray | memoryview) -> dict[Any, Any]:
        """Deserialize a message that may be a view into a bigger buffer (transports call this).

        The default passes :meth:`blob_to_dict` a ``bytes`` copy, so serializers written for bytes keep
        working. A serializer whose :meth:`blob_to_dict` reads any bytes-like object in place overrides
        this to skip the copy (:class:`MsgpackSerializer` does).

        Args:
            buffer: The encoded message.

        Returns:
            The decoded message.

        Raises:
            InvalidMessage: If the bytes cannot be decoded into a dict.
        """
        return self.blob_to_dict(buffer if type(buffer) is bytes else bytes(buffer))


def _register(mime_type: str, serializer_class: type[Serializer]) -> None:
    existing = Serializer._registry.get(mime_type)
    if existing is not None:
        raise ValueError(
            f"Cannot register serializer {serializer_class.__module__}.{serializer_class.__qualname__} for "
            f"MIME type {mime_type!r}: {existing.__module__}.{existing.__qualname__} already supports it"
        )
    Serializer._registry[mime_type] = serializer_class
    Serializer.all_supported_mime_types = frozenset(Serializer._registry)


def _unregister(mime_type: str) -> None:
    """Forget a registered MIME type (for tests that create throwaway serializers)."""
    Serializer._registry.pop(mime_type, None)
    Serializer.all_supported_mime_types = frozenset(Serializer._registry)


def not_a_dict(message: Any) -> ValueError:
    """The error for a message that is not a dict: the serializers encode only dicts, as PySOA's do."""
    return ValueError(f"Input must be a dict: a message is a dict, not a {type(message).__name__}")
