"""Code that calls the orders service (the kind of caller :class:`~pysoa_like.test.stub_service.StubClient` tests)."""

from __future__ import annotations

from typing import Any

__all__ = ["stocked_order_ids"]


def stocked_order_ids(client: Any, order_ids: list[int]) -> list[int]:
    """The ids among ``order_ids`` whose item is in stock, asking the orders service in parallel."""
    responses = client.call_actions_parallel(
        "orders", [{"action": "get_order", "body": {"order_id": order_id}} for order_id in order_ids]
    )
    return [response.body["order_id"] for response in responses if response.body["in_stock"]]
