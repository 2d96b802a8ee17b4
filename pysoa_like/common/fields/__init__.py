"""A small, fast field set compatible with Conformity's (same names, messages, codes and pointers).

Used for the library's own validation (job requests, settings) and usable by service authors as
``request_schema``/``response_schema`` without installing Conformity::

    from pysoa_like.common import fields

    request_schema = fields.Dictionary(
        {"name": fields.UnicodeString(), "limit": fields.Integer(gte=1)},
        optional_keys=("limit",),
    )

Every field has ``errors(value) -> list[FieldError]`` and ``introspect() -> dict`` (Conformity's
introspection format); fields that rebuild values (class configurations) also have ``normalize``.
"""

from __future__ import annotations

from pysoa_like.common.fields._base import Field
from pysoa_like.common.fields.basic import (
    Anything,
    Boolean,
    ByteString,
    Constant,
    Decimal,
    Float,
    Hashable,
    Integer,
    UnicodeString,
)
from pysoa_like.common.fields.classconfig import (
    ClassConfigurationSchema,
    ValidationError,
    build_configured,
    resolve_python_path,
)
from pysoa_like.common.fields.meta import All, Any, Nullable, ObjectInstance
from pysoa_like.common.fields.structures import (
    AdditionalCollectionValidator,
    Dictionary,
    List,
    SchemalessDictionary,
    Set,
    Tuple,
)
from pysoa_like.common.schema import FieldError

__all__ = [
    "AdditionalCollectionValidator",
    "All",
    "Any",
    "Anything",
    "Boolean",
    "ByteString",
    "ClassConfigurationSchema",
    "Constant",
    "Decimal",
    "Dictionary",
    "Field",
    "FieldError",
    "Float",
    "Hashable",
    "Integer",
    "List",
    "Nullable",
    "ObjectInstance",
    "SchemalessDictionary",
    "Set",
    "Tuple",
    "UnicodeString",
    "ValidationError",
    "build_configured",
    "resolve_python_path",
]
