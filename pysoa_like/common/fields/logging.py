"""Fields for Python logging configuration (``logging.config.dictConfig`` dictionaries)."""

from __future__ import annotations

import difflib
import importlib
import logging.config
import logging.handlers
from collections.abc import Iterator, Mapping
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_MISSING, ERROR_CODE_UNKNOWN
from pysoa_like.common.fields.basic import Anything, Boolean, Constant, Integer, UnicodeString
from pysoa_like.common.fields.classconfig import migrated_import_path
from pysoa_like.common.fields.structures import Dictionary, List, SchemalessDictionary
from pysoa_like.common.schema import FieldError

__all__ = ["PYTHON_LOGGING_CONFIG_SCHEMA", "LoggingConfigDictionary", "PythonLogLevel"]


class PythonLogLevel(Constant):
    """One of the level names ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``.

    Args:
        description: Documentation for introspection.
    """

    def __init__(self, description: str | None = None) -> None:
        super().__init__("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", description=description)


def _names(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _section(value: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    section = value.get(key)
    return section if isinstance(section, Mapping) else {}


# The keys of each section whose string value dictConfig imports: a class, or a factory (``()``).
_IMPORTED_KEYS = {"formatters": ("class", "()"), "filters": ("()",), "handlers": ("class", "()")}


def _import_paths(value: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """``(section, entry name, key, path)`` of every import path dictConfig would resolve in ``value``."""
    for section, keys in _IMPORTED_KEYS.items():
        for name, entry in _section(value, section).items():
            if isinstance(entry, Mapping):
                for key in keys:
                    if isinstance(entry.get(key), str):
                        yield section, name, key, entry[key]


# What _imported gives for a module whose import failed otherwise than for want of the module.
_UNCHECKED = object()


def _imported(dotted: str) -> Any:
    """The module ``dotted``; ``None`` when there is no such module (nor a package up to it); :data:`_UNCHECKED` when
    its import failed for another reason (its own code raised, or a module it imports is missing)."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        return None if exc.name and f"{dotted}.".startswith(f"{exc.name}.") else _UNCHECKED
    except Exception:  # (a Django module imported before Django is set up raises AppRegistryNotReady)
        return _UNCHECKED


def _unresolved(path: str) -> str | None:
    """Why ``logging.config.dictConfig`` certainly could not resolve ``path``, else ``None``.

    It is resolved as dictConfig does: the first name imported, then each next one taken as an attribute, or imported
    as a submodule when it is not one (yet). A module that does not exist, or a name a module that imported lacks, is
    reported (the name with the closest public name there). A module whose import fails otherwise is not: it may
    import once the program is set up (a Django app's module, after ``django.setup()``), and if not, dictConfig
    says why in the worker.
    """
    names = path.split(".")
    used = names[0]
    found = _imported(used) if used else None
    if found is None:
        return f"no module named {used!r}"
    if found is _UNCHECKED:
        return None
    for name in names[1:]:
        dotted = f"{used}.{name}"
        try:
            if not hasattr(found, name) and _imported(dotted) is _UNCHECKED:
                return None
            if not hasattr(found, name):
                noun = "attribute or submodule" if hasattr(found, "__path__") else "attribute"
                public = [candidate for candidate in dir(found) if not candidate.startswith("_")]
                hint = "".join(f" (did you mean {close!r}?)" for close in difflib.get_close_matches(name, public, n=1))
                return f"{used!r} has no {noun} {name!r}{hint}"
            found = getattr(found, name)
        except Exception:  # (a module's own __getattr__ failed: as for a failed import)
            return None
        used = dotted
    return None


def _buffers_for_a_target(handler: Mapping[str, Any]) -> bool:
    """Whether dictConfig looks ``handler``'s ``target`` up among the configured handlers: its ``class`` (not a
    ``()`` factory) resolves to a :class:`logging.handlers.MemoryHandler` (or a subclass). A class that cannot be
    resolved here is not checked (see :func:`_unresolved`)."""
    path = handler.get("class")
    if "()" in handler or not isinstance(path, str) or not isinstance(handler.get("target"), str):
        return False
    try:
        found = logging.config.BaseConfigurator({}).resolve(migrated_import_path(path))
    except Exception:  # (not importable here: reported as such, or left to dictConfig in the worker)
        return False
    return isinstance(found, type) and issubclass(found, logging.handlers.MemoryHandler)


class LoggingConfigDictionary(Dictionary):
    """A dictConfig dictionary that also checks that every name referenced is configured.

    A handler's ``formatter`` and ``filters`` (and a ``MemoryHandler``'s ``target``) and a logger's (or root's)
    ``handlers`` and ``filters`` must name entries of the same configuration and every handler needs a ``class`` or
    a ``()`` factory (unless it is ``incremental``), and every class or factory path must resolve as dictConfig
    resolves it: its modules are imported to check the names in them, and a module that does not exist or a name
    missing from a module that imported is an error. A module whose import fails otherwise (its own code raises, as
    a Django app's module does before Django is set up, or a module it imports is missing) is not checked here:
    dictConfig reports it where it runs.
    PySOA's ``pysoa.…`` paths (``pysoa.common.logging.PySOALogContextFilter``) and logger names
    (``pysoa.server.job``) become their pysoa_like equivalents when PySOA is not installed, as plug-in
    paths do.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.normalizes = True  # the paths of PySOA's package (Dictionary decides from its contents alone)

    def errors(self, value: Any) -> list[FieldError]:
        """The structural errors; when there are none, the dangling references and the packages not installed."""
        result = super().errors(value)
        if result:
            return result
        for section, name, key, path in _import_paths(value):
            problem = _unresolved(migrated_import_path(path))
            if problem is not None:
                message = f"cannot import {path!r}: {problem}"
                result.append(FieldError(ERROR_CODE_UNKNOWN, message, f"{section}.{name}.{key}"))
        if value.get("incremental") is True:
            return result
        formatters, filters = _section(value, "formatters"), _section(value, "filters")
        handlers, loggers = _section(value, "handlers"), _section(value, "loggers")

        def check(source: Mapping[str, Any], name: Any, who: str, noun: str, pointer: str) -> None:
            if name not in source:
                message = f'{who} references {noun} "{name}", which is not configured.'
                result.append(FieldError(ERROR_CODE_UNKNOWN, message, pointer))

        for handler_name, handler in handlers.items():
            who = f'Handler "{handler_name}"'
            if "class" not in handler and "()" not in handler:
                message = (
                    f'{who} has no "class": name its handler class ("class": "logging.StreamHandler") or a factory '
                    '("()")'
                )
                result.append(FieldError(ERROR_CODE_MISSING, message, f"handlers.{handler_name}"))
            if "formatter" in handler:
                check(formatters, handler["formatter"], who, "formatter", f"handlers.{handler_name}.formatter")
            for i, name in enumerate(_names(handler.get("filters"))):
                check(filters, name, who, "filter", f"handlers.{handler_name}.filters.{i}")
            if _buffers_for_a_target(handler):
                check(handlers, handler["target"], who, "target handler", f"handlers.{handler_name}.target")
        owners = [(f"loggers.{n}", f'Logger "{n}"', c) for n, c in loggers.items()]
        if "root" in value:
            owners.append(("root", 'Logger "root"', value["root"]))
        for prefix, who, config in owners:
            for i, name in enumerate(_names(config.get("filters"))):
                check(filters, name, who, "filter", f"{prefix}.filters.{i}")
            for i, name in enumerate(_names(config.get("handlers"))):
                check(handlers, name, who, "handler", f"{prefix}.handlers.{i}")
        return result

    def normalize(self, value: Any) -> Any:
        """A copy of ``value`` with PySOA's ``pysoa.…`` paths and logger names in their pysoa_like form (when
        PySOA is missing: nothing logs on its loggers then, and pysoa_like logs on the same names under its own)."""
        result = dict(value)
        for section, name, key, path in _import_paths(value):
            migrated = migrated_import_path(path)
            if migrated != path:
                result[section] = {**result[section], name: {**result[section][name], key: migrated}}
        loggers = _section(value, "loggers")
        renamed = {name: migrated_import_path(name) for name in loggers}
        if any(new != name and new not in loggers for name, new in renamed.items()):
            # A logger named both ways keeps its pysoa_like entry.
            result["loggers"] = {
                (new if new not in loggers else name): config
                for (name, config), new in zip(loggers.items(), renamed.values(), strict=True)
            }
        return result


class _HandlerConfiguration(Dictionary):
    """A handler's entry, whose missing class :class:`LoggingConfigDictionary` reports in its own words."""

    def describe_error(self, value: Any, error: FieldError) -> str | None:
        """The message of a missing ``class`` as it is (a dict of the right shape otherwise)."""
        return str(error.message) if error.code == ERROR_CODE_MISSING else None


class _Reference(UnicodeString):
    """The name of an entry of another section (a handler's formatter, a logger's handler...), whose dangling
    reference :class:`LoggingConfigDictionary` reports in a sentence of its own."""

    def describe_error(self, value: Any, error: FieldError) -> str | None:
        """The message of a reference to nothing configured as it is (a string was given, so no "expected" note)."""
        return str(error.message) if error.code == ERROR_CODE_UNKNOWN else None


_ROOT_LOGGER = Dictionary(
    {
        "level": PythonLogLevel(description="The level at or above which this logger handles events"),
        "filters": List(_Reference(), description="Names of configured filters"),
        "handlers": List(_Reference(), description="Names of configured handlers"),
    },
    optional_keys=("level", "filters", "handlers"),
)

_LOGGER = _ROOT_LOGGER.extend(
    {"propagate": Boolean(description="Whether events also go to the parent loggers (default true)")},
    optional_keys=("propagate",),
)

PYTHON_LOGGING_CONFIG_SCHEMA = LoggingConfigDictionary(
    {
        "version": Integer(gte=1, lte=1),
        "formatters": SchemalessDictionary(
            key_type=UnicodeString(),
            value_type=Dictionary(
                {"format": UnicodeString(), "datefmt": UnicodeString(), "style": Constant("%", "{", "$")},
                optional_keys=("format", "datefmt", "style"),
                allow_extra_keys=True,
            ),
            description="Formatter name to formatter configuration",
        ),
        "filters": SchemalessDictionary(
            key_type=UnicodeString(),
            value_type=Dictionary(
                {"()": Anything(description="A filter factory or its import path"), "name": UnicodeString()},
                optional_keys=("()", "name"),
                allow_extra_keys=True,
            ),
            description="Filter name to filter configuration",
        ),
        "handlers": SchemalessDictionary(
            key_type=UnicodeString(),
            value_type=_HandlerConfiguration(
                {
                    "class": UnicodeString(description="Import path of a logging.Handler subclass"),
                    "level": PythonLogLevel(),
                    "formatter": _Reference(description="Name of a configured formatter"),
                    "filters": List(_Reference(), description="Names of configured filters"),
                },
                optional_keys=("class", "level", "formatter", "filters"),
                allow_extra_keys=True,
            ),
            description="Handler name to handler configuration (extra keys go to the handler's constructor)",
        ),
        "loggers": SchemalessDictionary(key_type=UnicodeString(), value_type=_LOGGER),
        "root": _ROOT_LOGGER,
        "incremental": Boolean(),
        "disable_existing_loggers": Boolean(),
    },
    optional_keys=(
        "version",
        "formatters",
        "filters",
        "handlers",
        "loggers",
        "root",
        "incremental",
        "disable_existing_loggers",
    ),
    description="Python logging configuration, as given to logging.config.dictConfig",
)
