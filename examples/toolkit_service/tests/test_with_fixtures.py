"""The orders service tested with the pytest plugin's fixtures, stubs and assertion context managers."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.server.errors import ActionError
from pysoa_like.test.assertions import (
    raises_call_action_error,
    raises_error_codes,
    raises_field_errors,
    raises_only_error_codes,
    raises_only_field_errors,
)
from pysoa_like.test.stub_service import stub_action


def test_get_order_reports_stock_from_the_inventory_settings(service_client: Any) -> None:
    """With no stub, the inventory answers from the stub transport configured in the settings."""
    response = service_client.call_action("get_order", {"order_id": 1})
    assert response.body == {"order_id": 1, "sku": "book", "in_stock": True}


def test_get_order_with_sold_out_item(service_client: Any, action_stubber: Any) -> None:
    """action_stubber replaces the nested inventory call and records the body it received."""
    get_stock = action_stubber("inventory", "get_stock", body={"count": 0})
    response = service_client.call_action("get_order", {"order_id": 2})
    assert response.body["in_stock"] is False
    assert get_stock.call_body == {"sku": "lamp"}


def test_unknown_order(service_client: Any) -> None:
    """An unknown order fails with the NOT_FOUND code only."""
    with raises_only_error_codes("NOT_FOUND") as exc_info:
        service_client.call_action("get_order", {"order_id": 99})
    assert exc_info.soa_errors[0].message == "No order 99"


def test_bad_order_id(service_client: Any) -> None:
    """A non-positive order id is a field error."""
    with raises_only_field_errors({"order_id": "INVALID"}):
        service_client.call_action("get_order", {"order_id": 0})


def test_place_order_needs_sku_and_quantity(service_client: Any) -> None:
    """Both missing fields are reported (raises_field_errors ignores other errors)."""
    with raises_field_errors({"sku": "MISSING", "quantity": "MISSING"}):
        service_client.call_action("place_order", {})


@stub_action("inventory", "reserve", errors=[{"code": "SOLD_OUT", "message": "None left"}])
def test_place_order_when_sold_out(reserve: Any, service_client: Any) -> None:
    """A stub's errors reach the action, whose nested call raises; the service reports a server error."""
    with raises_error_codes("SERVER_ERROR"):
        service_client.call_action("place_order", {"sku": "book", "quantity": 1})
    reserve.assert_called_once_with({"sku": "book", "quantity": 1})


def test_place_order_with_side_effect(service_client: Any) -> None:
    """A side effect computes the stubbed response from the request body."""

    def reserve(body: dict[str, Any]) -> dict[str, Any]:
        return {"reservation_id": f"R-{body['sku']}-{body['quantity']}"}

    with stub_action("inventory", "reserve", side_effect=reserve):
        response = service_client.call_action("place_order", {"sku": "lamp", "quantity": 2})
    assert response.body == {"reservation_id": "R-lamp-2"}


def test_inventory_timeout_is_a_server_error(service_client: Any, action_stubber: Any) -> None:
    """A stub raising MessageReceiveTimeout makes the nested call time out."""
    action_stubber("inventory", "get_stock", side_effect=MessageReceiveTimeout("inventory is slow"))
    with raises_call_action_error() as exc_info:
        service_client.call_action("get_order", {"order_id": 1})
    assert "inventory is slow" in exc_info.soa_errors[0].message


def test_stub_an_action_of_the_service_itself(service_client: Any, action_stubber: Any) -> None:
    """Stubbing one action of a job leaves the other actions to the real service, merged in order."""
    action_stubber("orders", "estimate_delivery", side_effect=ActionError([Error(code="NO_ROUTE", message="x")]))
    job = service_client.call_actions(
        "orders",
        [{"action": "get_order", "body": {"order_id": 1}}, {"action": "estimate_delivery", "body": {"distance_km": 1}}],
        raise_action_errors=False,
    )
    assert [a.action for a in job.actions] == ["get_order", "estimate_delivery"]
    assert job.actions[0].body["sku"] == "book"
    assert job.actions[1].errors[0].code == "NO_ROUTE"


def test_estimate_delivery_runs_a_coroutine(service_client: Any) -> None:
    """Actions using request.run_coroutine work under the toolkit."""
    assert service_client.call_action("estimate_delivery", {"distance_km": 1200}).body == {"days": 3}


@pytest.mark.parametrize("order_id", [1, 2])
def test_futures_and_stubs_mix(service_client: Any, action_stubber: Any, order_id: int) -> None:
    """A future of a job with a stubbed nested call resolves to its own response."""
    action_stubber("inventory", "get_stock", body={"count": order_id - 1})
    future = service_client.call_action_future("orders", "get_order", {"order_id": order_id})
    assert future.result().body["in_stock"] is (order_id == 2)
