"""Class configuration: a plug-in given as ``{"path": "pkg.mod:Class", "kwargs": {...}}``.

A class declares the schema of its constructor keyword arguments with the
:meth:`ClassConfigurationSchema.provider` decorator. The schema is stored under the same attribute
Conformity uses, so classes decorated by Conformity's decorator are understood here too.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pysoa_like.common.constants import ERROR_CODE_INVALID, ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN
from pysoa_like.common.fields._base import Field, check_description, normalize_with, prefix_errors, strip_none
from pysoa_like.common.fields.basic import UnicodeString
from pysoa_like.common.fields.structures import SchemalessDictionary
from pysoa_like.common.schema import FieldError

__all__ = ["ClassConfigurationSchema", "ValidationError", "build_configured", "configures", "resolve_python_path"]

_T = TypeVar("_T", bound=type)

# Conformity's attribute name for a class's kwargs schema; sharing it makes both decorators interoperate.
INIT_SCHEMA_ATTRIBUTE = "_conformity_initialization_schema"

_import_cache: dict[str, Any] = {}
_import_lock = threading.Lock()


def configures(entry: Any, path: str) -> bool:
    """Whether a class configuration (as given in settings) names the class at ``path``: by that path, in either
    form settings accept (``"module:Class"`` or ``"module.Class"``), or by the class itself given as ``object``.

    The paths are compared as text (nothing is imported for them), so a path through another module that
    re-exports the class is a different class here.

    Args:
        entry: A settings entry (``{"path": ..., "kwargs": ...}`` or ``{"object": cls, ...}``); anything else is not
            a class configuration.
        path: A ``"module:Class"`` (or ``"module.Class"``) path.
    """
    if not isinstance(entry, Mapping):
        return False
    given_path = entry.get("path")
    if isinstance(given_path, str) and given_path.replace(":", ".") == path.replace(":", "."):
        return True
    given = entry.get("object")
    if given is None:
        return False
    try:
        return bool(given is resolve_python_path(path))
    except (ImportError, AttributeError, ValueError):
        return False


def build_configured(configuration: Mapping[str, Any], *args: Any, **extra: Any) -> Any:
    """Build the object a normalized class configuration describes: ``object(*args, **kwargs, **extra)``.

    Args:
        configuration: ``{"object": cls, "kwargs": {...}}`` (``kwargs`` may be missing or ``None``).
        args: Positional arguments first (a transport's service name and metrics recorder, say).
        extra: Keyword arguments added to (and overriding) the configured ones.

    Returns:
        The object.
    """
    kwargs = configuration.get("kwargs")
    if extra:
        kwargs = {**(kwargs or {}), **extra}
    return configuration["object"](*args, **(kwargs or {}))


class ValidationError(ValueError):
    """A value failed validation where an exception is needed (``instantiate_from``).

    Args:
        errors: The failures, also kept on ``.errors``.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        details = "; ".join(f"{e.pointer}: {e.message}" if e.pointer else e.message for e in errors)
        super().__init__(f"Invalid value: {details}")


def resolve_python_path(path: str) -> Any:
    """Import the object a path names; results are cached.

    Args:
        path: ``"pkg.mod:Name"`` (``Name`` may be dotted, ``Outer.Inner``) or ``"pkg.mod.Name"``.

    Returns:
        The object.

    Raises:
        ValueError: The path has no module part.
        ImportError: The module cannot be imported.
        AttributeError: The module has no such attribute.
    """
    try:
        return _import_cache[path]
    except KeyError:
        pass
    if ":" in path:
        module_name, _, attribute_path = path.partition(":")
    else:
        module_name, _, attribute_path = path.rpartition(".")
    if not module_name or not attribute_path:
        raise ValueError(f'Value "{path}" is not a valid Python import path')
    try:
        thing: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        alias = _migration_alias(module_name, attribute_path, exc)
        if alias is None:
            raise
        module_name, attribute_path = alias
        thing = importlib.import_module(module_name)
    for part in attribute_path.split("."):
        thing = getattr(thing, part)
    with _import_lock:
        _import_cache[path] = thing
    return thing


# PySOA's no-op metrics recorder, named in many existing settings files.
_PYMETRICS_NOOP = ("pymetrics.recorders.noop", "NonOperationalMetricsRecorder")


def _migration_alias(module_name: str, attribute_path: str, exc: ModuleNotFoundError) -> tuple[str, str] | None:
    """Where a PySOA-era path points in pysoa_like, when the original package is not installed.

    Settings written for PySOA name ``pysoa.…`` plug-ins and pymetrics' no-op recorder; with
    neither installed, the same settings keep working by resolving to pysoa_like's equivalents.
    """
    missing = (exc.name or "").split(".")[0]
    renamed = _pysoa_like_name(module_name)
    if missing == "pysoa" and renamed is not None:
        return renamed, attribute_path
    if missing == "pymetrics" and (module_name, attribute_path) == _PYMETRICS_NOOP:
        return "pysoa_like.common.metrics", "NoOpMetricsRecorder"
    return None


def migrated_import_path(path: str) -> str:
    """``path`` (dotted or ``module:Attribute``) in its pysoa_like form when it names ``pysoa`` and PySOA is
    not installed, as plug-in paths are resolved; any other path unchanged. For the import paths that
    ``logging.config.dictConfig`` resolves itself (the ``logging`` setting's classes and factories)."""
    renamed = _pysoa_like_name(path)
    if renamed is not None and importlib.util.find_spec("pysoa") is None:
        return renamed
    return path


def _pysoa_like_name(name: str) -> str | None:
    """The pysoa_like name of one of PySOA's (a module, an import path or a logger name), else ``None``: the one
    place the ``pysoa`` -> ``pysoa_like`` rule is written, for plug-in paths and the ``logging`` setting alike."""
    if name == "pysoa" or name.startswith(("pysoa.", "pysoa:")):
        return "pysoa_like" + name[len("pysoa") :]
    return None


_DEFAULT_KWARGS_SCHEMA = SchemalessDictionary(key_type=UnicodeString())


def _path_of(given: Any) -> str | None:
    """The ``path`` a class given as ``object`` is normalised with (not always importable: a class made in a
    function has ``<locals>`` in it, which is why a value whose path is this one is not imported again)."""
    if not isinstance(given, type):
        return None
    return f"{given.__module__}:{given.__qualname__}"


class ClassConfigurationSchema(Field):
    """Validates ``{"path": ..., "kwargs": {...}}`` and resolves the class it names.

    The path is imported and checked against ``base_class``. A class may be given as it is instead, as
    ``{"object": cls}`` (its ``path`` is then derived from it, and no default path replaces it); a value giving
    both must name the same class in each. ``kwargs`` (optional, default ``{}``)
    is validated against the schema the class declares with :meth:`provider`, or must be a dict with
    string keys if it declares none. :meth:`normalize` returns a new dict with ``path``, ``kwargs``
    and ``object`` (the class); the input is never changed.

    Args:
        base_class: The class every configured class must subclass: a class, or a lazy
            ``"module:Class"`` string imported on first use (to avoid import cycles). ``None``
            accepts any class.
        default_path: The path used when the value has none.
        description: Documentation for introspection.
    """

    introspect_type = "class_config_dictionary"
    normalizes = True

    def __init__(
        self,
        base_class: type | str | None = None,
        default_path: str | None = None,
        description: str | None = None,
    ) -> None:
        if base_class is not None and not isinstance(base_class, (type, str)):
            raise TypeError("'base_class' must be a class or a 'module:Class' string")
        check_description(description)
        self.base_class = base_class
        self.default_path = default_path
        self.description = description

    @staticmethod
    def provider(schema: Any) -> Callable[[_T], _T]:
        """Class decorator declaring the schema of the class's constructor keyword arguments.

        Args:
            schema: A field with ``errors`` (usually a ``Dictionary``); Conformity fields work.

        Returns:
            The decorator, which stores the schema on the class and returns the class.

        Raises:
            TypeError: ``schema`` has no ``errors`` method, or the decorated object is not a class.
        """
        if not callable(getattr(schema, "errors", None)):
            raise TypeError("'schema' must be a field with an errors() method, usually a Dictionary")

        def decorate(cls: _T) -> _T:
            if not isinstance(cls, type):
                raise TypeError("ClassConfigurationSchema.provider can only decorate classes")
            setattr(cls, INIT_SCHEMA_ATTRIBUTE, schema)
            return cls

        return decorate

    def resolved_base_class(self) -> type | None:
        """The base class, importing it first if it was given as a string."""
        if isinstance(self.base_class, str):
            base = resolve_python_path(self.base_class)
            if not isinstance(base, type):
                raise TypeError(f"base_class {self.base_class!r} is not a class")
            self.base_class = base
        return self.base_class

    @staticmethod
    def kwargs_schema(cls: type) -> Any:
        """The kwargs schema ``cls`` declares, or the default (a dict with string keys)."""
        return getattr(cls, INIT_SCHEMA_ATTRIBUTE, None) or _DEFAULT_KWARGS_SCHEMA

    def _resolve(self, value: Mapping[Any, Any]) -> tuple[type | None, list[FieldError]]:
        given = value.get("object")
        if given is not None and (value.get("path") is None or value.get("path") == _path_of(given)):
            # A class given as it is (settings written in Python): used instead of any default path.
            if not isinstance(given, type):
                return None, [FieldError(ERROR_CODE_INVALID, f"Not a class: {given!r}", "object")]
            return given, self._base_errors(given, "object")
        path = value.get("path") or self.default_path
        if path is None:
            return None, [FieldError(ERROR_CODE_MISSING, "Missing key (and no default specified): path", "path")]
        if not isinstance(path, str):
            return None, [FieldError(ERROR_CODE_INVALID, "Not a unicode string", "path")]
        try:
            cls = resolve_python_path(path)
        except ValueError as exc:
            return None, [FieldError(ERROR_CODE_INVALID, str(exc), "path")]
        except ImportError as exc:
            return None, [FieldError(ERROR_CODE_INVALID, f"ImportError: {exc.args[0] if exc.args else exc}", "path")]
        except AttributeError as exc:
            message = f"AttributeError: {exc.args[0] if exc.args else exc}"
            return None, [FieldError(ERROR_CODE_INVALID, message, "path")]
        if not isinstance(cls, type):
            return None, [FieldError(ERROR_CODE_INVALID, "Not a type", "path")]
        if given is not None and given is not cls:
            # Silently building the path's class would drop the one the user gave.
            message = f"path {path!r} names {cls!r} but object is {given!r}: give one of them"
            return None, [FieldError(ERROR_CODE_INVALID, message, "object")]
        return cls, self._base_errors(cls, "path")

    def _base_errors(self, cls: type, key: str) -> list[FieldError]:
        """The error of a class that is not ``base_class`` or one of its subclasses (reported at ``key``)."""
        try:
            base = self.resolved_base_class()
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            message = f"Cannot import the required base class {self.base_class!r}: {exc}"
            return [FieldError(ERROR_CODE_INVALID, message, key)]
        if base is not None and not issubclass(cls, base):
            message = f"Type {cls} is not one of or a subclass of one of: {base}"
            return [FieldError(ERROR_CODE_INVALID, message, key)]
        return []

    def errors(self, value: Any) -> list[FieldError]:
        """Report a non-mapping, extra keys, a bad or wrong-base path, then the kwargs' errors."""
        if not isinstance(value, Mapping):
            return [FieldError(ERROR_CODE_INVALID, "Not a mapping (dictionary)")]
        extra = [key for key in value if key not in ("path", "kwargs", "object")]
        if extra:
            names = ", ".join(str(key) for key in sorted(extra, key=str))
            return [FieldError(ERROR_CODE_UNKNOWN, f"Extra keys present: {names}")]
        cls, path_errors = self._resolve(value)
        if cls is None or path_errors:
            return path_errors
        return prefix_errors(self.kwargs_schema(cls).errors(value.get("kwargs", {})), "kwargs")

    def normalize(self, value: Any) -> dict[str, Any]:
        """Return ``{"path", "kwargs", "object"}`` for a valid value (``kwargs`` defaults to ``{}``).

        Raises:
            ValidationError: The value is not valid.
        """
        cls, path_errors = self._resolve(value)
        if cls is None or path_errors:
            raise ValidationError(path_errors)
        kwargs = value.get("kwargs")
        kwargs = {} if kwargs is None else normalize_with(self.kwargs_schema(cls), kwargs)
        path = value.get("path")
        if path is None:
            path = _path_of(cls) if value.get("object") is not None else self.default_path
        return {
            "path": path,
            "kwargs": dict(kwargs),
            "object": cls,
        }

    def instantiate_from(self, configuration: Mapping[str, Any]) -> Any:
        """Validate a configuration and build the object: ``cls(**kwargs)``.

        Raises:
            ValidationError: The configuration is not valid.
        """
        errors = self.errors(configuration)
        if errors:
            raise ValidationError(errors)
        return build_configured(self.normalize(configuration))

    def introspect(self) -> dict[str, Any]:
        """Conformity's ``class_config_dictionary`` description (a lazy base class is shown by name)."""
        base = self.base_class
        base_name = base.__name__ if isinstance(base, type) else (base.rpartition(":")[2] if base else "object")
        base_text = str(base) if isinstance(base, type) else (base or str(object))
        return strip_none(
            {
                "type": self.introspect_type,
                "description": self.description,
                "base_class": base_name,
                "default_path": self.default_path,
                "switch_field": "path",
                "switch_field_schema": {
                    "type": "python_path",
                    "value_schema": {"type": "type_reference", "base_classes": [base_text]},
                },
                "kwargs_field": "kwargs",
            }
        )
