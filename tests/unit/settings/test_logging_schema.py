"""The dictConfig schema used for the server's logging setting."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.common.fields.logging import PYTHON_LOGGING_CONFIG_SCHEMA, PythonLogLevel
from pysoa_like.common.settings import SettingsError
from pysoa_like.server.settings import DEFAULT_LOGGING, ServerSettings


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


@pytest.mark.parametrize(
    ("section", "entry", "message"),
    [
        (
            "formatters",
            {"()": "pysoa_like.common.logging.NoSuchFormatter"},
            "logging.formatters.it.(): cannot import 'pysoa_like.common.logging.NoSuchFormatter': "
            "'pysoa_like.common.logging' has no attribute 'NoSuchFormatter' (did you mean 'CachedTimeFormatter'?)",
        ),
        (
            "handlers",
            {"class": "logging.handlers.NoSuchHandler"},
            "logging.handlers.it.class: cannot import 'logging.handlers.NoSuchHandler': "
            "'logging.handlers' has no attribute 'NoSuchHandler' (did you mean 'SocketHandler'?)",
        ),
        (
            "handlers",
            {"class": "logging.no_such_module.Handler"},
            "logging.handlers.it.class: cannot import 'logging.no_such_module.Handler': "
            "'logging' has no attribute or submodule 'no_such_module'",
        ),
        (
            "filters",
            {"()": "pysoa.common.logging.NoSuchFilter"},
            "logging.filters.it.(): cannot import 'pysoa.common.logging.NoSuchFilter': "
            "'pysoa_like.common.logging' has no attribute 'NoSuchFilter'",
        ),
    ],
)
def test_a_class_path_whose_module_lacks_the_name_is_a_settings_error(
    section: str, entry: dict[str, Any], message: str
) -> None:
    """A formatter, handler or filter path whose package exists but whose module or class does not is refused by the
    settings, naming the key and the missing name (dictConfig failed on it later, in every worker)."""
    settings = {
        "transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"},
        "logging": {"version": 1, section: {"it": entry}},
    }
    with pytest.raises(SettingsError) as raised:
        ServerSettings(settings)
    assert str(raised.value) == f"Invalid ServerSettings:\n  - {message}"


def test_class_paths_dictconfig_resolves_are_valid() -> None:
    """A handler path through a submodule (imported as dictConfig imports it) and a class of a module are valid."""
    config = {
        "version": 1,
        "formatters": {"plain": {"class": "logging.Formatter"}},
        "handlers": {"file": {"class": "logging.handlers.WatchedFileHandler", "filename": "x", "formatter": "plain"}},
    }
    assert PYTHON_LOGGING_CONFIG_SCHEMA.errors(config) == []


@pytest.mark.parametrize("package", [False, True], ids=["a module", "a package's module"])
@pytest.mark.parametrize(
    "failure",
    [
        'raise RuntimeError("Apps are not loaded yet.")',  # (as Django's AppRegistryNotReady before django.setup())
        "import no_such_package_of_the_handler",
    ],
    ids=["its code raises", "it imports a missing module"],
)
def test_a_handler_module_whose_import_fails_otherwise_than_for_want_of_it_is_valid(
    package: bool, failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler whose module exists but fails to import (its own code raises, as a Django app's module does before
    Django is set up, or it imports a module that is missing) is not a settings error: dictConfig imports it in the
    worker, after Django is set up, or says why (the settings were refused, and a Django server did not start)."""
    # (a throwaway module, or one in a throwaway package, named after the case: each case imports its own)
    name = f"handlers_failing_to_import_{int(package)}_{int(failure.startswith('import'))}"
    module = f"{name}.logging_handlers" if package else name
    directory = tmp_path / name if package else tmp_path
    directory.mkdir(exist_ok=True)
    if package:
        (directory / "__init__.py").write_text("")
    module_file = directory / ("logging_handlers.py" if package else f"{name}.py")
    module_file.write_text(f"import logging\n\n{failure}\n\n\nclass Handler(logging.Handler):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {"version": 1, "handlers": {"it": {"class": f"{module}.Handler"}}}
    settings = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}, "logging": config}
    try:
        assert PYTHON_LOGGING_CONFIG_SCHEMA.errors(config) == []
        ServerSettings(settings)  # (not refused)
    finally:
        sys.modules.pop(name, None)  # (the package imported by the check)


_LOCAL_TRANSPORT = {"path": "pysoa_like.common.transport.local:LocalServerTransport"}


def test_the_default_logging_defines_pysoas_syslog_handler_without_attaching_it() -> None:
    """As in PySOA 1.4.9, the defaults define a ``syslog`` formatter and handler (LOCAL7, UDP to localhost:514) for
    settings to attach; the root logger still logs to the console alone."""
    logging_setting = ServerSettings({"transport": _LOCAL_TRANSPORT})["logging"]
    assert logging_setting["handlers"]["syslog"] == {
        "level": "INFO",
        "class": "pysoa_like.common.logging.SyslogHandler",
        "facility": 23,  # LOG_LOCAL7
        "address": ("localhost", 514),
        "formatter": "syslog",
        "filters": ["pysoa_logging_context_filter"],
    }
    assert logging_setting["formatters"]["syslog"]["format"].startswith("%(service_name)s_service: %(name)s ")
    assert logging_setting["root"] == {"handlers": ["console"], "level": "INFO"}


def test_pysoa_settings_attaching_the_default_syslog_handler_are_valid() -> None:
    """``"root": {"handlers": ["console", "syslog"]}``, valid in PySOA, is valid (it was refused: "references handler
    syslog, which is not configured"), and a handler override merges with the default's keys."""
    attached = ServerSettings({"transport": _LOCAL_TRANSPORT, "logging": {"root": {"handlers": ["console", "syslog"]}}})
    assert attached["logging"]["root"]["handlers"] == ["console", "syslog"]
    moved = ServerSettings(
        {
            "transport": _LOCAL_TRANSPORT,
            "logging": {"handlers": {"syslog": {"address": ["127.0.0.1", 5514]}}, "root": {"handlers": ["syslog"]}},
        }
    )
    syslog = moved["logging"]["handlers"]["syslog"]
    assert syslog["address"] == ["127.0.0.1", 5514]
    assert (syslog["class"], syslog["facility"], syslog["formatter"]) == (
        "pysoa_like.common.logging.SyslogHandler",
        23,
        "syslog",
    )


@pytest.mark.parametrize(
    "handlers",
    [{"it": {"level": "INFO"}}, {"it": {"address": ["127.0.0.1", 5514], "formatter": "console"}}],
)
def test_a_handler_without_a_class_is_one_settings_line(handlers: dict[str, Any]) -> None:
    """A handler entry left without ``class`` (or ``()``) after the merge is refused by the settings in one line
    naming it (dictConfig failed on it in every worker, with a raw AttributeError under its ValueError)."""
    with pytest.raises(SettingsError) as raised:
        ServerSettings({"transport": _LOCAL_TRANSPORT, "logging": {"handlers": handlers}})
    assert str(raised.value) == (
        "Invalid ServerSettings:\n"
        '  - logging.handlers.it: Handler "it" has no "class": name its handler class ("class": '
        '"logging.StreamHandler") or a factory ("()")'
    )
    factory = {"it": {"()": "logging.StreamHandler"}}
    assert PYTHON_LOGGING_CONFIG_SCHEMA.errors({"handlers": factory}) == []
