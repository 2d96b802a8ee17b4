"""The orders service called over a real, throwaway Redis with one fixture."""

from __future__ import annotations

from typing import Any


def test_get_order_over_redis(pysoa_redis_service_client: Any) -> None:
    """The service runs in a thread behind Redis; the client calls it through the Redis transport."""
    response = pysoa_redis_service_client.call_action("get_order", {"order_id": 1}, timeout=10)
    assert response.body == {"order_id": 1, "sku": "book", "in_stock": True}
