"""ClientSettings: transport and middleware base classes, defaults."""

from __future__ import annotations

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.settings import SettingsError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from tests.unit.client.fakes import FakeClientTransport as EchoTransport
from tests.unit.client.fakes import transport_config
from tests.unit.settings.transports import FakeClientTransport

TRANSPORT_PATH = "tests.unit.settings.transports:FakeClientTransport"


def test_client_settings_normalise_transport() -> None:
    """The transport comes out as {path, kwargs, object}; middleware defaults to []."""
    settings = ClientSettings({"transport": {"path": TRANSPORT_PATH, "kwargs": {"any": 1}}})
    assert settings["transport"] == {"path": TRANSPORT_PATH, "kwargs": {"any": 1}, "object": FakeClientTransport}
    assert settings["middleware"] == []
    assert set(settings) == {
        "transport",
        "middleware",
        "metrics",
        "minimum_version",
        "api_token",
        "circuit_breaker",
        "bulkhead",
        "retry",
        "fallbacks",
    }


def test_transport_must_be_a_client_transport() -> None:
    """A server transport is not accepted as a client transport."""
    with pytest.raises(SettingsError, match=r"transport\.path: .*ClientTransport"):
        ClientSettings({"transport": {"path": "tests.unit.settings.transports:FakeServerTransport"}})


def test_middleware_must_be_client_middleware() -> None:
    """Middleware entries must subclass ClientMiddleware; valid ones are normalised."""
    from pysoa_like.client.middleware import ClientMiddleware

    settings = ClientSettings(
        {
            "transport": {"path": TRANSPORT_PATH},
            "middleware": [{"path": "pysoa_like.client.middleware:ClientMiddleware"}],
        }
    )
    assert settings["middleware"][0]["object"] is ClientMiddleware
    with pytest.raises(SettingsError, match=r"middleware\.0\.path: .*ClientMiddleware"):
        ClientSettings({"transport": {"path": TRANSPORT_PATH}, "middleware": [{"path": "json:JSONDecoder"}]})


def test_default_transport_is_redis() -> None:
    """The default transport is the Redis client transport, whose required backend_type is named if missing."""
    assert ClientSettings.defaults["transport"] == {
        "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
    }
    with pytest.raises(
        SettingsError,
        match=(
            r"transport\.kwargs\.backend_type: missing "
            r"\(expected one of 'redis\.cluster', 'redis\.sentinel', 'redis\.standard'\)"
        ),
    ):
        ClientSettings({})
    settings = ClientSettings({"transport": {"kwargs": {"backend_type": "redis.standard"}}})
    assert settings["transport"]["object"] is RedisClientTransport


def test_unknown_client_setting_is_rejected() -> None:
    """A misspelt key is rejected with a suggestion."""
    with pytest.raises(SettingsError, match="did you mean 'middleware'"):
        ClientSettings({"transport": {"path": TRANSPORT_PATH}, "middlewares": []})


def test_a_metrics_recorder_given_as_a_class_is_built_not_replaced_by_the_default() -> None:
    """``"metrics": {"object": cls}`` builds cls: it was silently replaced by the default no-op recorder (the
    settings' default path won over the class given)."""
    client = Client(
        {"echo": {"transport": transport_config(EchoTransport), "metrics": {"object": CountingMetricsRecorder}}}
    )
    client.call_action("echo", "echo", {"n": 1})
    recorder = client.handlers["echo"].metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    assert len(recorder.get_values("timer", "client.call")) == 1


def test_settings_with_a_class_made_in_a_function_validate_again() -> None:
    """A class given as ``{"object": cls}`` whose derived path cannot be imported (made in a function) still
    validates again from the normalised settings (as a Server or Client with a settings subclass does)."""

    class LocalRecorder(CountingMetricsRecorder):
        pass

    transport = {"path": TRANSPORT_PATH, "kwargs": {}}
    settings = ClientSettings({"transport": transport, "metrics": {"object": LocalRecorder}})
    assert ClientSettings(dict(settings))["metrics"]["object"] is LocalRecorder
