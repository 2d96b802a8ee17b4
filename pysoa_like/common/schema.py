"""The schema protocol: what ``request_schema``/``response_schema`` may be, and how each is adapted.

A schema is any object with ``errors(value) -> list`` whose items carry ``code``, ``message`` and
``pointer`` (Conformity's own protocol), so every Conformity field works unchanged, and so do the
fields in :mod:`pysoa_like.common.fields`. pydantic models, TypedDicts and any other type pydantic's
``TypeAdapter`` accepts are adapted to the same protocol when the ``pydantic`` extra is installed.

Validation never converts the value: an action's body stays the plain dict that arrived on the
wire, whatever schema checked it (a pydantic model is used as a validator only, not a parser).
"""

from __future__ import annotations

import decimal
import threading
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Protocol, runtime_checkable

import attr

from pysoa_like.common._extras import install_extra
from pysoa_like.common.constants import ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN

__all__ = [
    "FieldError",
    "PydanticSchema",
    "Schema",
    "SchemaIssue",
    "introspect_schema",
    "resolve_schema",
    "schema_mistake",
]


@attr.s(frozen=True, slots=True)
class FieldError:
    """One validation failure, shaped like Conformity's ``Error``.

    Args:
        code: ``INVALID``, ``MISSING`` or ``UNKNOWN`` (the Conformity codes that reach the wire).
        message: A human-readable explanation, identical to Conformity's text for the same failure.
        pointer: The dotted path of the failing value (``context.switches.0``), or ``None`` for the
            value itself.
    """

    code: str = attr.ib()
    message: str = attr.ib()
    pointer: str | None = attr.ib(default=None)


class SchemaIssue(Protocol):
    """What a schema's ``errors`` returns items of (Conformity's ``Error`` qualifies too)."""

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def pointer(self) -> str | None: ...


@runtime_checkable
class Schema(Protocol):
    """Anything that validates a value and reports what is wrong with it."""

    def errors(self, value: Any) -> Sequence[SchemaIssue]:
        """Return the validation failures of ``value`` (empty when it is valid)."""
        ...


_PYDANTIC_CODES = {"missing": ERROR_CODE_MISSING, "extra_forbidden": ERROR_CODE_UNKNOWN}


class PydanticSchema:
    """Adapts a pydantic model, TypedDict or other type to the schema protocol.

    Args:
        target: The type given as a schema; it is compiled once into a pydantic ``TypeAdapter``.
    """

    __slots__ = ("_adapter", "target")

    def __init__(self, target: Any) -> None:
        from pydantic import TypeAdapter  # an optional extra, imported only when used

        self.target = target
        self._adapter: Any = TypeAdapter(target)

    def errors(self, value: Any) -> list[FieldError]:
        """Validate ``value`` and map pydantic's errors to Conformity codes and dotted pointers.

        Args:
            value: The value to check; it is not converted or kept.

        Returns:
            ``missing`` becomes ``MISSING``, ``extra_forbidden`` becomes ``UNKNOWN``, every other
            failure ``INVALID``; the pointer is the dotted ``loc`` and the message pydantic's ``msg``.
        """
        from pydantic import ValidationError

        try:
            self._adapter.validate_python(value)
        except ValidationError as exc:
            return [
                FieldError(
                    _PYDANTIC_CODES.get(item["type"], ERROR_CODE_INVALID),
                    item["msg"],
                    ".".join(str(part) for part in item["loc"]) or None,
                )
                for item in exc.errors(include_url=False)
            ]
        return []

    def introspect(self) -> dict[str, Any]:
        """Describe the schema: ``{"type": "pydantic", "json_schema": ...}`` plus the model's docstring."""
        result: dict[str, Any] = {"type": "pydantic", "name": getattr(self.target, "__name__", repr(self.target))}
        try:
            result["json_schema"] = self._adapter.json_schema()
        except Exception as exc:  # some types (arbitrary classes) have no JSON schema; say so rather than fail
            result["json_schema_error"] = str(exc)
        doc = getattr(self.target, "__doc__", None)
        if isinstance(self.target, type) and doc and doc != getattr(type(self.target), "__doc__", None):
            result["description"] = doc.strip()
        return result

    def __repr__(self) -> str:
        return f"PydanticSchema({self.target!r})"


_cache: dict[Any, PydanticSchema] = {}
_cache_lock = threading.Lock()


def resolve_schema(obj: Any) -> Any:
    """Turn what a user put in ``request_schema``/``response_schema`` into a schema object.

    Args:
        obj: ``None``; an object with an ``errors`` method (a Conformity field, one of our fields,
            any custom validator); or a pydantic model class, TypedDict or other type pydantic's
            ``TypeAdapter`` accepts.

    Returns:
        ``None`` for ``None``, the object itself when it already has ``errors``, otherwise a cached
        :class:`PydanticSchema` (each type is compiled once).

    Raises:
        TypeError: The object is neither a schema nor a type pydantic can adapt (including when the
            ``pydantic`` extra is not installed).
    """
    if obj is None:
        return None
    if not isinstance(obj, type) and callable(getattr(obj, "errors", None)):  # _is_field, inline: on every call
        return obj
    try:
        return _cache[obj]
    except KeyError:
        pass
    except TypeError:  # unhashable: adapt it without caching
        return _adapt(obj)
    with _cache_lock:
        if obj not in _cache:
            _cache[obj] = _adapt(obj)
        return _cache[obj]


def _adapt(obj: Any) -> PydanticSchema:
    try:
        import pydantic  # noqa: F401  (only checking that the extra is installed)
    except ImportError as exc:
        if _plainly_not_a_schema(obj):  # no pydantic could help: say what to write instead
            raise TypeError(f"{obj!r} {_not_a_field(obj)}") from None
        raise TypeError(
            f"{obj!r} is not a schema (it has no errors() method); using a type as a schema needs the "
            f"pydantic extra: {install_extra('pydantic')}"
        ) from exc
    try:
        return PydanticSchema(obj)  # first, always: whatever pydantic accepts is a schema
    except Exception as exc:
        if _plainly_not_a_schema(obj):
            raise TypeError(f"{obj!r} {_not_a_field(obj)}") from exc
        raise TypeError(
            f"{obj!r} is neither a schema with an errors() method nor a type pydantic can validate: {exc}"
        ) from exc


def introspect_schema(schema: Any) -> dict[str, Any] | None:
    """The Conformity-style introspection of a schema, as the ``introspect`` action reports it.

    Args:
        schema: Anything :func:`resolve_schema` accepts.

    Returns:
        ``None`` for no schema; the schema's own ``introspect()`` when it has one (Conformity fields,
        our fields, pydantic adapters); else ``{"type": "unknown", "class": <class name>}``.
    """
    resolved = resolve_schema(schema)
    if resolved is None:
        return None
    introspect = getattr(resolved, "introspect", None)
    if callable(introspect):
        result: dict[str, Any] = introspect()
        return result
    return {"type": "unknown", "class": type(resolved).__name__}


# The field to write instead of a plain type given where a field belongs.
_FIELD_FOR_TYPE: dict[type, str] = {
    bool: "fields.Boolean()",
    int: "fields.Integer()",
    float: "fields.Float()",
    decimal.Decimal: "fields.Decimal()",
    str: "fields.UnicodeString()",
    bytes: "fields.ByteString()",
    dict: "fields.SchemalessDictionary() or fields.Dictionary({...})",
    list: "fields.List(<field of the items>)",
    set: "fields.Set(<field of the items>)",
    frozenset: "fields.Set(<field of the items>)",
    tuple: "fields.Tuple(<field of each position>, ...)",
}


def _field_class(obj: Any) -> bool:
    """Whether ``obj`` is the class of one of our fields (a subclass of ``Field``): one given where its instance
    belongs. Any other class with an ``errors`` attribute (a pydantic model with an ``errors`` method) is not."""
    from pysoa_like.common.fields._base import Field  # the fields import this module

    return isinstance(obj, type) and issubclass(obj, Field)


def _type_like(obj: Any) -> bool:
    """Whether ``obj`` is a class, a typing construct (``list[int]``, ``int | None``) or a forward reference
    (``"int"``): what pydantic may adapt."""
    return isinstance(obj, type | str) or type(obj).__module__ in ("typing", "types", "typing_extensions")


def _plainly_not_a_schema(obj: Any) -> bool:
    """Whether ``obj``, which pydantic could not adapt, is plainly something else than a schema (a field class, a
    dict, an instance), so the error says what to write rather than pydantic's reason."""
    return _field_class(obj) or not _type_like(obj)


def _not_a_field(obj: Any) -> str:
    """What ``obj``, given where a field belongs, is instead, and what to write: ``is the class Integer, not a
    field: write Integer()``."""
    if _field_class(obj):
        return f"is the class {obj.__name__}, not a field: write {obj.__name__}() (an instance of it)"
    if isinstance(obj, type):
        instead = _FIELD_FOR_TYPE.get(obj, "a field of pysoa_like.common.fields (fields.Integer(), ...)")
        return f"is the type {obj.__name__}, not a field: write {instead}"
    if isinstance(obj, Mapping):
        return "is a dict, not a field: wrap it in fields.Dictionary({...}), with a field for each key"
    if isinstance(obj, list | tuple | AbstractSet):
        return f"is a {type(obj).__name__}, not a field: write fields.List(<field of the items>) or fields.Tuple(...)"
    return (
        f"is a {type(obj).__name__}, not a field: write a field of pysoa_like.common.fields (an object with an "
        "errors() method)"
    )


def schema_mistake(schema: Any) -> str | None:
    """What keeps ``schema`` (a ``request_schema`` or ``response_schema``) from checking a body, found without one.

    Only what is sure to fail is a mistake; anything in doubt is not. Inside one of our fields (each names those it
    holds with ``subfields()``), every field must be a field instance: a field class, a plain type (``int``) or a
    dict there fails. Fields of other classes (Conformity's, a subclass of ours with its own ``errors``) are not
    looked into. Anything else given as the whole schema is a mistake only when :func:`resolve_schema` refuses it
    (a dict, a type pydantic cannot adapt, a type without the ``pydantic`` extra installed).

    Args:
        schema: What :func:`resolve_schema` accepts (``None`` is no schema).

    Returns:
        ``None`` when it is sound or cannot be told; else where the mistake is, from the schema, and what to write
        instead (``['number'] is the class Integer, not a field: write Integer() ...``; a mistake in the whole
        schema starts with a space).
    """
    if schema is None:
        return None
    if _is_field(schema):
        return _mistake_inside(schema)
    try:
        resolve_schema(schema)
    except TypeError as exc:
        if _plainly_not_a_schema(schema):
            return f" {_not_a_field(schema)}"
        return " cannot check a body: " + " ".join(str(exc).split())  # pydantic's reasons span lines
    except Exception:  # refused in a way resolve_schema does not promise (a broken __hash__): in doubt, nothing
        return None
    return None


def _is_field(obj: Any) -> bool:
    """Whether ``obj`` is a field: an object (not a class) with an ``errors`` method."""
    return not isinstance(obj, type) and callable(getattr(obj, "errors", None))


def _mistake_inside(field: Any) -> str | None:
    """Where inside ``field`` something that fails sits where a field belongs, and what to write instead."""
    try:
        for where, inner in _nested_fields(field, "", set()):
            if _fails_as_a_field(inner):
                return f"{where} {_not_a_field(inner)}"
    except Exception:  # a subclass of ours built its own way (no super().__init__()): in doubt, nothing
        return None
    return None


def _fails_as_a_field(obj: Any) -> bool:
    """Whether our fields, calling ``obj.errors(value)``, surely fail: ``obj`` is a class of our fields (its
    ``errors`` needs an instance) or has no ``errors`` at all. A class with its own ``errors`` may well work."""
    return _field_class(obj) or not callable(getattr(obj, "errors", None))


def _walked(field: Any) -> bool:
    """Whether the check looks inside ``field``: one of our fields whose ``errors`` and ``subfields`` are ours, so
    that the fields ``subfields()`` names are the ones ``errors`` calls (a user's subclass may hold anything)."""
    from pysoa_like.common.fields._base import Field  # the fields import this module

    return isinstance(field, Field) and all(_ours(type(field), name) for name in ("errors", "subfields"))


def _ours(cls: type, name: str) -> bool:
    """Whether the attribute ``name`` of ``cls`` is defined by pysoa_like (not overridden in a user's subclass)."""
    owner = next((klass for klass in cls.__mro__ if name in vars(klass)), None)
    return owner is not None and owner.__module__.startswith("pysoa_like.")


def _nested_fields(field: Any, where: str, seen: set[int]) -> Iterator[tuple[str, Any]]:
    """Every field inside ``field`` (of those the check walks), depth first, each with where it is."""
    if not _walked(field) or id(field) in seen:
        return
    seen.add(id(field))
    for step, inner in field.subfields():
        yield where + step, inner
        yield from _nested_fields(inner, where + step, seen)
