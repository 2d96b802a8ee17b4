"""ServerSettings: PySOA's keys and defaults, class-config normalisation and error messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pysoa_like.common.settings import SettingsError
from pysoa_like.server._main import logging_to_configure
from pysoa_like.server.settings import DEFAULT_LOGGING, ServerSettings
from tests.unit.settings.transports import FakeServerTransport

TRANSPORT = {"path": "tests.unit.settings.transports:FakeServerTransport", "kwargs": {"backend_type": "redis.standard"}}


def _settings(**extra: Any) -> ServerSettings:
    return ServerSettings({"transport": copy.deepcopy(TRANSPORT), **extra})


def test_pysoa_defaults() -> None:
    """Every key has PySOA's default."""
    settings = _settings()
    assert settings["client_routing"] == {}
    assert settings["harakiri"] == {"timeout": 300, "shutdown_grace": 30}
    assert settings["request_log_success_level"] == "INFO"
    assert settings["request_log_error_level"] == "INFO"
    assert settings["heartbeat_file"] is None
    assert settings["extra_fields_to_redact"] == frozenset()
    assert settings["middleware"] == []
    assert [m["path"] for m in settings["coroutine_middleware"]] == [
        "pysoa_like.server.coroutine:DefaultCoroutineMiddleware"
    ]
    assert settings["metrics"]["path"] == "pysoa_like.common.metrics:NoOpMetricsRecorder"


def test_default_logging_config() -> None:
    """The default logging has a console handler with the context filter, root at INFO on the console alone, and
    PySOA's syslog handler defined for settings to attach."""
    logging_config = _settings()["logging"]
    assert logging_config == DEFAULT_LOGGING
    assert logging_config["disable_existing_loggers"] is False
    assert logging_config["root"] == {"handlers": ["console"], "level": "INFO"}
    assert logging_config["filters"]["pysoa_logging_context_filter"]["()"] == (
        "pysoa_like.common.logging.PySOALogContextFilter"
    )
    assert set(logging_config["handlers"]) == {"console", "syslog"}
    console_format = logging_config["formatters"]["console"]["format"]
    for part in ("asctime", "levelname", "correlation_id", "request_id", "message"):
        assert part in console_format


def test_default_logging_works_with_dict_config() -> None:
    """The default logging dict, as the server hands it to logging.config.dictConfig, is accepted by it."""
    import logging
    import logging.config

    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        logging.config.dictConfig(logging_to_configure(_settings()["logging"]))
        assert root.level == logging.INFO
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[1]:
            root.addHandler(handler)
        root.setLevel(saved[0])


def test_transport_is_normalised_with_object() -> None:
    """The transport comes out as {path, kwargs, object}."""
    transport = _settings()["transport"]
    assert transport["object"] is FakeServerTransport
    assert transport["kwargs"] == {"backend_type": "redis.standard"}


def test_transport_kwargs_validated_by_provider_schema() -> None:
    """The transport's declared kwargs schema is enforced, with the full key path in the message."""
    with pytest.raises(SettingsError, match=r"transport\.kwargs\.backend_type: missing \(expected one of"):
        ServerSettings({"transport": {"path": TRANSPORT["path"], "kwargs": {}}})


def test_transport_must_be_a_server_transport() -> None:
    """A class that is not a ServerTransport is rejected on transport.path."""
    with pytest.raises(
        SettingsError,
        match=r"transport\.path: expected a \"module:Class\" path to a subclass of ServerTransport, got the path of "
        r"FakeClientTransport, which is not one",
    ):
        ServerSettings({"transport": {"path": "tests.unit.settings.transports:FakeClientTransport"}})


def test_middleware_must_be_server_middleware() -> None:
    """Middleware entries must subclass ServerMiddleware."""
    with pytest.raises(SettingsError, match=r"middleware\.0\.path: .*ServerMiddleware"):
        _settings(middleware=[{"path": "json:JSONDecoder"}])


def test_harakiri_values_must_be_non_negative_integers() -> None:
    """harakiri.timeout and shutdown_grace are integers >= 0; 0 disables."""
    assert _settings(harakiri={"timeout": 0})["harakiri"] == {"timeout": 0, "shutdown_grace": 30}
    with pytest.raises(SettingsError, match=r"harakiri\.timeout: expected an integer of at least 0, got -1"):
        _settings(harakiri={"timeout": -1})


def test_log_levels_must_be_level_names() -> None:
    """Request log levels are limited to Python's level names."""
    assert _settings(request_log_error_level="WARNING")["request_log_error_level"] == "WARNING"
    with pytest.raises(
        SettingsError,
        match=r"request_log_success_level: expected one of 'CRITICAL', 'DEBUG', 'ERROR', 'INFO', 'WARNING', got 'LOUD'",
    ):
        _settings(request_log_success_level="LOUD")


def test_heartbeat_file_is_nullable_string() -> None:
    """heartbeat_file accepts a string or None."""
    assert _settings(heartbeat_file="/tmp/hb-{{pid}}")["heartbeat_file"] == "/tmp/hb-{{pid}}"
    with pytest.raises(SettingsError, match=r"heartbeat_file: expected a string or None, got 3"):
        _settings(heartbeat_file=3)


@pytest.mark.parametrize("value", [{"a", "b"}, ["a", "b"], ("a", "b"), frozenset({"a", "b"})])
def test_extra_fields_to_redact_normalised_to_frozenset(value: Any) -> None:
    """Sets, lists and tuples of strings are accepted and come out as a frozenset."""
    assert _settings(extra_fields_to_redact=value)["extra_fields_to_redact"] == frozenset({"a", "b"})


def test_extra_fields_to_redact_rejects_non_strings() -> None:
    """Each redacted field name must be a string."""
    with pytest.raises(SettingsError, match=r"extra_fields_to_redact\.1: expected a string, got 1"):
        _settings(extra_fields_to_redact=["a", 1])


def test_client_routing_values_must_be_dicts() -> None:
    """client_routing maps service names to settings dicts."""
    routing = {"other": {"transport": {"path": "x:Y"}}}
    assert _settings(client_routing=routing)["client_routing"] == routing
    with pytest.raises(SettingsError, match=r"client_routing\.other: expected a dict, got 1"):
        _settings(client_routing={"other": 1})


def test_logging_is_deep_merged_and_references_checked() -> None:
    """A partial logging dict merges over the default; dangling references are reported."""
    merged = _settings(logging={"loggers": {"pysoa_like": {"level": "DEBUG"}}})["logging"]
    assert merged["loggers"] == {"pysoa_like": {"level": "DEBUG"}}
    assert "console" in merged["handlers"]
    with pytest.raises(SettingsError, match=r'logging\.root\.handlers\.1: Logger "root" references handler "file"'):
        _settings(logging={"root": {"handlers": ["console", "file"]}})


def test_coroutine_middleware_can_be_emptied() -> None:
    """coroutine_middleware may be replaced by an empty list."""
    assert _settings(coroutine_middleware=[])["coroutine_middleware"] == []


def test_settings_instance_can_be_revalidated() -> None:
    """Passing a ServerSettings to ServerSettings again gives equal settings (normalised values are valid input)."""
    first = _settings(extra_fields_to_redact=["x"])
    assert dict(ServerSettings(first)) == dict(first)


def test_input_dict_is_not_mutated() -> None:
    """The caller's settings dict (including nested class configs) is left as given."""
    data = {"transport": copy.deepcopy(TRANSPORT), "middleware": []}
    before = copy.deepcopy(data)
    ServerSettings(data)
    assert data == before


def test_default_transport_path_is_redis() -> None:
    """Without a transport the default Redis server transport path is used (reported if not importable)."""
    assert ServerSettings.defaults["transport"] == {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
    }
