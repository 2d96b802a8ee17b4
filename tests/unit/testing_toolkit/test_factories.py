"""The factory_boy factories: settings, servers, throwaway actions, and the missing-extra message."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.settings import ServerSettings
from pysoa_like.test.assertions import raises_error_codes
from pysoa_like.test.factories import (
    LOCAL_SERVER_TRANSPORT_PATH,
    ActionFactory,
    ServerFactory,
    ServerSettingsFactory,
)
from pysoa_like.test.server import close_client, local_client_settings

REDIS_TRANSPORT = {"path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"}


class ShopServer(Server):
    service_name = "shop"
    action_class_map = {
        "price": ActionFactory(body={"cents": 250}),
        "empty": ActionFactory(),
        "sold_out": ActionFactory(exception=ActionError([Error(code="SOLD_OUT", message="None left")])),
        "crash": ActionFactory(exception=RuntimeError),
    }


class ShopServerFactory(ServerFactory):
    class Meta:
        model = ShopServer


def _job(*actions: str) -> dict[str, Any]:
    return {
        "control": {"continue_on_error": True},
        "context": {"switches": [], "correlation_id": "test"},
        "actions": [{"action": name, "body": {}} for name in actions],
    }


@pytest.fixture
def shop_server() -> Iterator[ShopServer]:
    """A ShopServer built by its factory, closed afterwards."""
    server = ShopServerFactory()
    yield server
    server.close()


@pytest.fixture
def shop_client() -> Iterator[Client]:
    """A client of ShopServer on the local transport with factory-built settings."""
    client = Client(local_client_settings(ShopServer, ServerSettingsFactory()))
    yield client
    close_client(client)


def test_settings_factory_builds_server_settings_with_every_default() -> None:
    """A bare build is validated ServerSettings: the local server transport and PySOA's defaults."""
    settings = ServerSettingsFactory()
    assert isinstance(settings, ServerSettings)
    assert settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
    assert settings["harakiri"] == {"timeout": 300, "shutdown_grace": 30}
    assert settings["middleware"] == []
    assert settings["client_routing"] == {}
    assert settings["request_log_success_level"] == "INFO"


def test_settings_factory_keeps_keywords_but_forces_the_transport() -> None:
    """Keyword settings are kept while a transport asked for is replaced by the local one."""
    settings = ServerSettingsFactory(transport=REDIS_TRANSPORT, request_log_success_level="DEBUG")
    assert settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
    assert settings["request_log_success_level"] == "DEBUG"


def test_settings_factory_accepts_pysoa_data_argument() -> None:
    """PySOA's data= form is merged in, and keyword arguments win over it."""
    settings = ServerSettingsFactory(
        data={"transport": REDIS_TRANSPORT, "harakiri": {"timeout": 5}, "request_log_error_level": "INFO"},
        request_log_error_level="ERROR",
    )
    assert settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
    assert settings["harakiri"] == {"timeout": 5, "shutdown_grace": 30}
    assert settings["request_log_error_level"] == "ERROR"


def test_settings_factory_copies_what_it_is_given() -> None:
    """Changing built settings leaves the caller's nested values untouched."""
    harakiri = {"timeout": 5}
    settings = ServerSettingsFactory(harakiri=harakiri)
    settings["harakiri"]["timeout"] = 99
    assert harakiri == {"timeout": 5}


def test_settings_factory_rejects_invalid_settings() -> None:
    """A bad setting fails the build with the settings error naming the key."""
    with pytest.raises(ServerSettings.ImproperlyConfigured, match="harakiri"):
        ServerSettingsFactory(harakiri={"timeout": "soon"})


@pytest.fixture
def settings_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """An importable, empty module named shop_settings_for_tests."""
    module = types.ModuleType("shop_settings_for_tests")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_from_module_prefers_soa_server_settings(settings_module: types.ModuleType) -> None:
    """from_module reads SOA_SERVER_SETTINGS before settings and still forces the local transport."""
    settings_module.SOA_SERVER_SETTINGS = {"transport": REDIS_TRANSPORT, "heartbeat_file": "/tmp/hb"}  # type: ignore[attr-defined]
    settings_module.settings = {"heartbeat_file": "/tmp/other"}  # type: ignore[attr-defined]
    settings = ServerSettingsFactory.from_module(settings_module.__name__)
    assert settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
    assert settings["heartbeat_file"] == "/tmp/hb"


def test_from_module_falls_back_to_settings(settings_module: types.ModuleType) -> None:
    """from_module reads the settings attribute when SOA_SERVER_SETTINGS is absent."""
    settings_module.settings = {"heartbeat_file": "/tmp/other"}  # type: ignore[attr-defined]
    assert ServerSettingsFactory.from_module(settings_module.__name__)["heartbeat_file"] == "/tmp/other"


def test_from_module_without_settings_names_the_module(settings_module: types.ModuleType) -> None:
    """A module with neither attribute raises AttributeError naming the module and both attributes."""
    with pytest.raises(AttributeError, match="'shop_settings_for_tests' defines neither SOA_SERVER_SETTINGS nor"):
        ServerSettingsFactory.from_module(settings_module.__name__)


def test_from_module_of_a_missing_module_raises_import_error() -> None:
    """A module that does not exist surfaces as ImportError."""
    with pytest.raises(ImportError):
        ServerSettingsFactory.from_module("no_such_settings_module_for_tests")


def test_server_factory_builds_the_given_server_class() -> None:
    """server_class= picks the class, and the settings are validated with defaults on the local transport."""
    server = ServerFactory(server_class=ShopServer, settings__request_log_success_level="DEBUG")
    try:
        assert type(server) is ShopServer
        assert server.settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
        assert server.settings["request_log_success_level"] == "DEBUG"
        assert server.settings["harakiri"]["timeout"] == 300
    finally:
        server.close()


def test_server_factory_forces_local_transport_on_whole_settings() -> None:
    """Settings passed whole as a dict still get the local transport; build() works like create."""
    server = ServerFactory.build(server_class=ShopServer, settings={"transport": REDIS_TRANSPORT}, forked_process_id=3)
    try:
        assert server.settings["transport"]["path"] == LOCAL_SERVER_TRANSPORT_PATH
        assert server.forked_process_id == 3
    finally:
        server.close()


def test_server_factory_without_a_service_class_fails() -> None:
    """The bare Server model cannot be built because it has no service_name."""
    with pytest.raises(AttributeError, match="must set the class attribute service_name"):
        ServerFactory()


def test_factory_built_server_runs_factory_actions(shop_server: ShopServer) -> None:
    """A factory-built server runs ActionFactory actions: bodies, empty bodies and raised errors."""
    response = shop_server.process_job(_job("price", "empty", "sold_out"))
    assert response.errors == []
    price, empty, sold_out = response.actions
    assert price.body == {"cents": 250}
    assert empty.body == {}
    assert [error.code for error in sold_out.errors] == ["SOLD_OUT"]


def test_action_factory_body_is_a_fresh_copy(shop_client: Client) -> None:
    """Changing one response body does not change what the next run of the action returns."""
    shop_client.call_action("shop", "price").body["cents"] = 1
    assert shop_client.call_action("shop", "price").body == {"cents": 250}


def test_action_factory_errors_reach_a_client(shop_client: Client) -> None:
    """An ActionError given to ActionFactory reaches the caller as its error code."""
    with raises_error_codes("SOLD_OUT"):
        shop_client.call_action("shop", "sold_out")


def test_action_factory_exception_class_is_a_server_error(shop_client: Client) -> None:
    """An exception class given to ActionFactory is raised and reported as SERVER_ERROR."""
    with raises_error_codes("SERVER_ERROR"):
        shop_client.call_action("shop", "crash")


def test_action_factory_makes_a_new_action_class_each_call() -> None:
    """Every ActionFactory call gives a distinct Action subclass."""
    first, second = ActionFactory(body={"a": 1}), ActionFactory(body={"a": 1})
    assert first is not second
    assert issubclass(first, Action)
    assert issubclass(second, Action)


def test_missing_factory_boy_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without factory_boy, importing the module raises ImportError naming the factories extra."""
    for name in ("factory", "factory.base", "factory.declarations"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "pysoa_like.test.factories")
    with pytest.raises(ImportError, match=r"pip install '/path/to/pysoa_like\[factories\]' \(its checkout or wheel"):
        importlib.import_module("pysoa_like.test.factories")
