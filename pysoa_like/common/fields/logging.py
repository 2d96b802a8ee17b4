"""Fields for Python logging configuration (``logging.config.dictConfig`` dictionaries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_UNKNOWN
from pysoa_like.common.fields.basic import Anything, Boolean, Constant, Integer, UnicodeString
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


class LoggingConfigDictionary(Dictionary):
    """A dictConfig dictionary that also checks that every name referenced is configured.

    A handler's ``formatter`` and ``filters`` and a logger's (or root's) ``handlers`` and
    ``filters`` must name entries of the same configuration (unless it is ``incremental``).
    """

    def errors(self, value: Any) -> list[FieldError]:
        """The structural errors; when there are none, the dangling references."""
        result = super().errors(value)
        if result or value.get("incremental") is True:
            return result
        formatters, filters = _section(value, "formatters"), _section(value, "filters")
        handlers, loggers = _section(value, "handlers"), _section(value, "loggers")

        def check(source: Mapping[str, Any], name: Any, who: str, noun: str, pointer: str) -> None:
            if name not in source:
                message = f'{who} references {noun} "{name}", which is not configured.'
                result.append(FieldError(ERROR_CODE_UNKNOWN, message, pointer))

        for handler_name, handler in handlers.items():
            who = f'Handler "{handler_name}"'
            if "formatter" in handler:
                check(formatters, handler["formatter"], who, "formatter", f"handlers.{handler_name}.formatter")
            for i, name in enumerate(_names(handler.get("filters"))):
                check(filters, name, who, "filter", f"handlers.{handler_name}.filters.{i}")
        owners = [(f"loggers.{n}", f'Logger "{n}"', c) for n, c in loggers.items()]
        if "root" in value:
            owners.append(("root", 'Logger "root"', value["root"]))
        for prefix, who, config in owners:
            for i, name in enumerate(_names(config.get("filters"))):
                check(filters, name, who, "filter", f"{prefix}.filters.{i}")
            for i, name in enumerate(_names(config.get("handlers"))):
                check(handlers, name, who, "handler", f"{prefix}.handlers.{i}")
        return result


_ROOT_LOGGER = Dictionary(
    {
        "level": PythonLogLevel(description="The level at or above which this logger handles events"),
        "filters": List(UnicodeString(), description="Names of configured filters"),
        "handlers": List(UnicodeString(), description="Names of configured handlers"),
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
            value_type=Dictionary(
                {
                    "class": UnicodeString(description="Import path of a logging.Handler subclass"),
                    "level": PythonLogLevel(),
                    "formatter": UnicodeString(description="Name of a configured formatter"),
                    "filters": List(UnicodeString(), description="Names of configured filters"),
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
