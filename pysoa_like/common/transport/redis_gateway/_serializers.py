"""The serializers of a Redis transport: the one it sends with, and the one of each ``content-type`` it reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pysoa_like.common.fields import resolve_python_path
from pysoa_like.common.serializer import MsgpackSerializer, Serializer

__all__ = ["SerializersByType", "make_serializer", "serializer_named"]


class SerializersByType(dict[str | None, Serializer]):
    """The serializers of the ``content-type`` headers seen (``None``: no header), the default one's at hand.

    A known type is a plain lookup (``serializers[mime_type]``: no call on a message's path); an unknown one is
    resolved once (:func:`serializer_named`: the default serializer when no serializer has it) and remembered.

    Args:
        default: The transport's default serializer (for messages without a ``content-type`` too).
    """

    def __init__(self, default: Serializer) -> None:
        super().__init__({None: default})
        if default.mime_type:
            self[default.mime_type] = default
        self.default = default

    def __missing__(self, mime_type: str | None) -> Serializer:
        return serializer_named(self, self.default, mime_type)


def serializer_named(known: dict[str | None, Serializer], default: Serializer, mime_type: str | None) -> Serializer:
    """The serializer of a ``content-type`` header (``default`` when unknown), remembered in ``known`` (64 at most)."""
    serializer = known.get(mime_type)
    if serializer is None:
        try:
            serializer = Serializer.resolve_serializer(mime_type)  # type: ignore[arg-type]
        except ValueError:
            serializer = default
        if len(known) < 64:
            known[mime_type] = serializer
    return serializer


def make_serializer(config: Mapping[str, Any] | None) -> Serializer:
    if not config:
        return MsgpackSerializer()
    serializer_class = config.get("object") or resolve_python_path(config["path"])
    serializer: Serializer = serializer_class(**(config.get("kwargs") or {}))
    return serializer
