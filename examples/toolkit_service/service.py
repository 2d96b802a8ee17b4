"""The ``orders`` service: looks orders up and asks the ``inventory`` service whether their item is in stock.

It is small on purpose; its tests (``tests/``) show each helper of :mod:`pysoa_like.test`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["ORDERS", "OrdersServer"]

#: The "database": order id -> stock keeping unit.
ORDERS = {1: "book", 2: "lamp"}


class GetOrderAction(Action):
    """Return an order and whether the inventory service has its item in stock."""

    request_schema = fields.Dictionary({"order_id": fields.Integer(gt=0)})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        order_id = request.body["order_id"]
        if order_id not in ORDERS:
            raise ActionError([Error(code="NOT_FOUND", message=f"No order {order_id}")])
        sku = ORDERS[order_id]
        stock = request.client.call_action("inventory", "get_stock", {"sku": sku})
        return {"order_id": order_id, "sku": sku, "in_stock": stock.body["count"] > 0}


class PlaceOrderAction(Action):
    """Reserve the item with the inventory service; refuse when it is sold out."""

    request_schema = fields.Dictionary({"sku": fields.UnicodeString(), "quantity": fields.Integer(gte=1)})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        reservation = request.client.call_action(
            "inventory", "reserve", {"sku": request.body["sku"], "quantity": request.body["quantity"]}
        )
        return {"reservation_id": reservation.body["reservation_id"]}


class EstimateDeliveryAction(Action):
    """Estimate delivery days with a coroutine (run on the server's event loop)."""

    request_schema = fields.Dictionary({"distance_km": fields.Integer(gte=0)})

    async def _estimate(self, distance_km: int) -> int:
        await asyncio.sleep(0)
        return 1 + distance_km // 500

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.run_coroutine is not None
        days = request.run_coroutine(self._estimate(request.body["distance_km"])).result(timeout=5)
        return {"days": days}


class OrdersServer(Server):
    """The orders service."""

    service_name = "orders"
    action_class_map = {
        "get_order": GetOrderAction,
        "place_order": PlaceOrderAction,
        "estimate_delivery": EstimateDeliveryAction,
    }
