"""StubClient, StubClientTransport and StubServer."""

from __future__ import annotations

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.errors import Error
from pysoa_like.test.stub_service import StubClient, StubClientSettings, StubClientTransport, StubServer


def test_stub_client_answers_from_its_map() -> None:
    """Bodies and errors of the service-action map are returned through the real server pipeline."""
    client = StubClient({"user": {"get": {"body": {"id": 1}}, "delete": {"errors": [{"code": "DENIED"}]}}})
    assert client.call_action("user", "get").body == {"id": 1}
    with pytest.raises(CallActionError) as info:
        client.call_action("user", "delete")
    assert info.value.actions[0].errors[0].code == "DENIED"
    with pytest.raises(CallActionError, match="UNKNOWN"):
        client.call_action("user", "missing")


def test_stub_client_stub_action_adds_actions_and_services() -> None:
    """stub_action adds an action to a known service and a whole new service."""
    client = StubClient({"user": {}})
    client.stub_action("user", "get", body={"id": 2})
    client.stub_action("billing", "charge", errors=[Error(code="CARD", message="Declined")])
    assert client.call_action("user", "get").body == {"id": 2}
    with pytest.raises(CallActionError, match="CARD: Declined"):
        client.call_action("billing", "charge")


def test_stub_transport_works_from_ordinary_client_settings() -> None:
    """A plain Client can use StubClientTransport by path with an action_map."""
    client = Client(
        {
            "user": {
                "transport": {
                    "path": "pysoa_like.test.stub_service:StubClientTransport",
                    "kwargs": {"action_map": {"get": {"body": {"id": 3}}}},
                }
            }
        }
    )
    assert client.call_action("user", "get").body == {"id": 3}


def test_stub_transport_names_its_classes_in_camel_case() -> None:
    """The generated server and action classes are named after the service and actions."""
    transport = StubClientTransport("user_info", action_map={"get_user-name": {"body": {}}})
    assert type(transport.server).__name__ == "UserInfoServer"
    assert isinstance(transport.server, StubServer)
    assert transport.server.action_class_map["get_user-name"].__name__ == "GetUserName"


def test_stub_server_stub_action_is_per_instance() -> None:
    """Stubbing on one server leaves another server of the same class unchanged."""
    first = StubClientTransport("svc")
    second = StubClientTransport("svc")
    first.stub_action("extra", body={"x": 1})
    assert "extra" in first.server.action_class_map
    assert "extra" not in second.server.action_class_map


def test_stub_client_settings_default_to_the_stub_transport() -> None:
    """StubClientSettings fills in the stub transport."""
    assert StubClientSettings({})["transport"]["object"] is StubClientTransport


def test_stub_client_refuses_stubbing_a_real_transport() -> None:
    """stub_action on a service configured with another transport says so."""
    client = StubClient()
    real_server = type("RealServer", (StubServer,), {"service_name": "real"})
    local = {"server_class": real_server, "server_settings": {}}
    client.settings["real"] = client.settings_class(
        {"transport": {"path": "pysoa_like.common.transport.local:LocalClientTransport", "kwargs": local}}
    )
    with pytest.raises(TypeError, match="does not use StubClientTransport"):
        client.stub_action("real", "x")
