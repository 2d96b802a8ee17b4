"""Serializers: turn message dicts into bytes and back, chosen by MIME type.

``MsgpackSerializer`` (``application/msgpack``) is the default; ``JSONSerializer``
(``application/json``) is the alternative. Both register themselves with :class:`Serializer`, so
``Serializer.resolve_serializer(mime_type)`` finds them. Errors live in
:mod:`pysoa_like.common.serializer.errors`.
"""

from __future__ import annotations

from pysoa_like.common.serializer.base import Serializer
from pysoa_like.common.serializer.json_serializer import JSONSerializer
from pysoa_like.common.serializer.msgpack_serializer import MsgpackSerializer

__all__ = ["JSONSerializer", "MsgpackSerializer", "Serializer"]
