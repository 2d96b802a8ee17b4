"""The dictConfig schema used for the server's logging setting."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.fields.logging import PYTHON_LOGGING_CONFIG_SCHEMA, PythonLogLevel
from pysoa_like.server.settings import DEFAULT_LOGGING


def _as_tuples(errors: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


def test_default_logging_is_valid() -> None:
    """The server's default logging configuration passes the schema."""
    assert PYTHON_LOGGING_CONFIG_SCHEMA.errors(DEFAULT_LOGGING) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"handlers": {"h": {"class": "logging.StreamHandler", "formatter": "f"}}},
            [("UNKNOWN", 'Handler "h" references formatter "f", which is not configured.', "handlers.h.formatter")],
        ),
        (
            {"handlers": {"h": {"class": "logging.StreamHandler", "filters": ["x"]}}},
            [("UNKNOWN", 'Handler "h" references filter "x", which is not configured.', "handlers.h.filters.0")],
        ),
        (
            {"loggers": {"app": {"handlers": ["nope"], "filters": ["f"]}}},
            [
                ("UNKNOWN", 'Logger "app" references filter "f", which is not configured.', "loggers.app.filters.0"),
                (
                    "UNKNOWN",
                    'Logger "app" references handler "nope", which is not configured.',
                    "loggers.app.handlers.0",
                ),
            ],
        ),
        (
            {"root": {"level": "LOUD"}},
            [("UNKNOWN", 'Value is not one of: "CRITICAL", "DEBUG", "ERROR", "INFO", "WARNING"', "root.level")],
        ),
        ({"version": 2}, [("INVALID", "Value not <= 1", "version")]),
        ({"loggers": {"a": {"propagate": "yes"}}}, [("INVALID", "Not a boolean", "loggers.a.propagate")]),
    ],
)
def test_invalid_logging_configs(config: dict[str, Any], expected: list[tuple[str, str, str | None]]) -> None:
    """Structural errors and dangling references are reported with pointers."""
    assert _as_tuples(PYTHON_LOGGING_CONFIG_SCHEMA.errors(config)) == expected


def test_incremental_configs_skip_reference_checks() -> None:
    """An incremental configuration may refer to handlers configured earlier."""
    assert PYTHON_LOGGING_CONFIG_SCHEMA.errors({"incremental": True, "root": {"handlers": ["old"]}}) == []


def test_python_log_level_values() -> None:
    """PythonLogLevel accepts exactly the five level names."""
    assert PythonLogLevel().values == frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
