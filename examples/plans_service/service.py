"""The ``events`` service: looks events up and books tickets, charging through the ``payments`` service.

Ticket sales close an hour before an event starts; a booking charges the total with
``payments.charge``, then e-mails a confirmation. Its test plans are in ``tests/plans/``.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from examples.plans_service import side_effects
from pysoa_like.client.errors import CallActionError
from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["EVENTS", "EventsServer"]

UTC = datetime.timezone.utc
#: The "database": event id -> event.
EVENTS: dict[str, dict[str, Any]] = {
    "jazz-night": {
        "title": "Jazz night",
        "starts_at": datetime.datetime(2030, 6, 1, 20, 0, tzinfo=UTC),
        "price": decimal.Decimal("25.00"),
        "seats_left": 4,
    },
    "poetry-slam": {
        "title": "Poetry slam",
        "starts_at": datetime.datetime(2030, 7, 14, 19, 0, tzinfo=UTC),
        "price": decimal.Decimal("8.50"),
        "seats_left": 0,
    },
}
SALES_CLOSE_BEFORE = datetime.timedelta(hours=1)


def _event(event_id: str) -> dict[str, Any]:
    if event_id not in EVENTS:
        raise ActionError([Error(code="NOT_FOUND", message=f"No event {event_id}", field="event_id")])
    return EVENTS[event_id]


def _sales_open(event: dict[str, Any]) -> bool:
    return datetime.datetime.now(UTC) < event["starts_at"] - SALES_CLOSE_BEFORE


class GetEventAction(Action):
    """An event, whether tickets are still on sale, and the caller's locale."""

    request_schema = fields.Dictionary({"event_id": fields.UnicodeString()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        event = _event(request.body["event_id"])
        return {
            "event": dict(event, id=request.body["event_id"]),
            "sales_open": _sales_open(event),
            "locale": request.context.get("locale", "en_US"),
        }


class BookTicketsAction(Action):
    """Book tickets: check the sale is open and seats are left, charge, confirm by e-mail."""

    request_schema = fields.Dictionary(
        {"event_id": fields.UnicodeString(), "quantity": fields.Integer(gte=1), "email": fields.UnicodeString()}
    )

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        event = _event(request.body["event_id"])
        quantity = request.body["quantity"]
        if not _sales_open(event):
            raise ActionError([Error(code="SALES_CLOSED", message="Ticket sales have closed")])
        if quantity > event["seats_left"]:
            raise ActionError([Error(code="TOO_MANY", message="Not enough seats left", field="quantity")])
        total = event["price"] * quantity
        try:
            charge = request.client.call_action(
                "payments", "charge", {"amount": total, "reference": request.body["event_id"]}
            )
        except CallActionError as exc:
            message = exc.actions[0].errors[0].message
            raise ActionError([Error(code="PAYMENT_DECLINED", message=message)]) from None
        booking_id = side_effects.new_booking_id()
        side_effects.send_confirmation(request.body["email"], booking_id)
        return {
            "booking": {
                "id": booking_id,
                "event_id": request.body["event_id"],
                "quantity": quantity,
                "total": total,
                "charge_id": charge.body["charge_id"],
                "booked_at": datetime.datetime.now(UTC),
            }
        }


class EventsServer(Server):
    """The events service."""

    service_name = "events"
    action_class_map = {"get_event": GetEventAction, "book_tickets": BookTicketsAction}
