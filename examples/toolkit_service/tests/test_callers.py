"""Code that calls the orders service, tested with StubClient, stub_action and contract capture."""

from __future__ import annotations

from examples.toolkit_service.reports import stocked_order_ids
from pysoa_like.common.types import ActionResponse
from pysoa_like.test.stub_service import StubClient, get_stubbed_requests, get_stubbed_responses, stub_action


def test_stocked_order_ids_with_a_stub_client() -> None:
    """A StubClient answers every call to the orders service with the configured body."""
    client = StubClient({"orders": {"get_order": {"body": {"order_id": 5, "in_stock": True}}}})
    assert stocked_order_ids(client, [5, 5]) == [5, 5]


def test_stocked_order_ids_with_a_side_effect_per_call() -> None:
    """A side effect sequence answers the parallel calls in order; the stub records each body."""
    client = StubClient({"orders": {}})
    responses = [
        {"order_id": 1, "in_stock": True},
        ActionResponse(action="get_order", body={"order_id": 2, "in_stock": False}),
    ]
    with stub_action("orders", "get_order", side_effect=responses) as get_order:
        assert stocked_order_ids(client, [1, 2]) == [1]
    assert get_order.call_bodies == ({"order_id": 1}, {"order_id": 2})


def test_stub_client_stub_action_adds_a_service() -> None:
    """StubClient.stub_action adds actions (and services) after construction."""
    client = StubClient()
    client.stub_action("orders", "get_order", body={"order_id": 9, "in_stock": True})
    assert stocked_order_ids(client, [9]) == [9]


def test_contracts_are_recorded() -> None:
    """Stubbed requests and responses are recorded for contract tests."""
    with stub_action("orders", "get_order", body={"order_id": 4, "in_stock": True}):
        stocked_order_ids(StubClient({"orders": {}}), [4])
    assert {"service": "orders", "action": "get_order", "body": {"order_id": 4}} in get_stubbed_requests()
    assert {
        "service": "orders",
        "action": "get_order",
        "body": {"order_id": 4, "in_stock": True},
    } in get_stubbed_responses()
