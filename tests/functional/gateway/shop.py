"""The service behind the gateway's tests (``shop``), and its settings module for ``pysoa-like serve`` and ``gateway``.

Its actions give every outcome the gateway maps: success, validation errors, caller errors of its own,
unexpected failures, slowness, pushback, private actions (behind the API token middleware) and values
that JSON cannot carry. ``GATEWAY_SHOP_REDIS_URL`` names the Redis.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import time
from typing import Any

import pydantic
from currint import Amount

from pysoa_like.auth import current_identity
from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import ActionError, PushBackError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

#: Tokens the service accepts: "partner" may read orders, "admin" may write them.
PARTNER_TOKEN = "partner-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
#: The values ``typed`` answers with (and the tests expect back).
TYPED_VALUES: dict[str, Any] = {
    "when": datetime.datetime(2026, 12, 6, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
    "naive": datetime.datetime(2026, 12, 6, 1, 2, 3),
    "day": datetime.date(2026, 12, 6),
    "at": datetime.time(1, 2, 3, 4),
    "price": decimal.Decimal("12.3400"),
    "total": Amount.from_code_and_minor("EUR", 1250),
    "blob": b"\x00\xffbytes",
    "ratio": math.inf,
    "by_id": {1: "one", 2: "two"},
    "literal": {"$date": "not a tag"},
    "items": [decimal.Decimal("1.5"), [datetime.date(2026, 1, 1)]],
}


class EchoAction(Action):
    """Returns its body, and what the request carried: correlation id, switches, trace context, whether a token came."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        context = request.context
        return {
            "body": request.body,
            "correlation_id": context.get("correlation_id"),
            "switches": sorted(context.get("switches") or []),
            "traceparent": context.get("traceparent"),
            "tracestate": context.get("tracestate"),
            "has_token": "api_token" in context,
            "types": {key: type(value).__name__ for key, value in request.body.items()},
        }


class SquareAction(Action):
    """Squares a number (at most 1000)."""

    request_schema = fields.Dictionary(
        {"number": fields.Integer(lte=1000, description="The number to square")}, description="What to square"
    )
    response_schema = fields.Dictionary({"square": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class FailAction(Action):
    """Fails with an unexpected exception."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise RuntimeError("failed on purpose (secret local detail)")


class RefuseAction(Action):
    """Answers with the caller error its body names (``code``)."""

    request_schema = fields.Dictionary({"code": fields.UnicodeString()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise ActionError([Error(code=request.body["code"], message="refused on purpose", field="code")])


class SlowAction(Action):
    """Sleeps ``seconds`` then answers."""

    request_schema = fields.Dictionary({"seconds": fields.Float(gte=0, lte=30)})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        time.sleep(request.body["seconds"])
        return {"slept": request.body["seconds"]}


class BusyAction(Action):
    """Refuses the job: the service is overloaded for 2.5 seconds (pushback)."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        raise PushBackError(2.5)


class CancelOrderAction(Action):
    """Cancels an order: private, needs the orders:write scope."""

    required_scopes = ("orders:write",)
    request_schema = fields.Dictionary({"order_id": fields.Integer()})
    response_schema = fields.Dictionary({"cancelled": fields.Integer(), "by": fields.UnicodeString()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        identity = current_identity()
        return {"cancelled": request.body["order_id"], "by": identity.subject if identity else "?"}


class TypedAction(Action):
    """Answers with values JSON cannot carry."""

    response_schema = fields.Dictionary(
        {
            "when": fields.Anything(),
            "naive": fields.Anything(),
            "day": fields.Anything(),
            "at": fields.Anything(),
            "price": fields.Anything(),
            "total": fields.Anything(),
            "blob": fields.ByteString(),
            "ratio": fields.Float(),
            "by_id": fields.SchemalessDictionary(key_type=fields.Integer(), value_type=fields.UnicodeString()),
            "literal": fields.SchemalessDictionary(),
            "items": fields.List(fields.Anything()),
        }
    )

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(TYPED_VALUES)


class Booking(pydantic.BaseModel):
    """A booking request."""

    room: int
    guest: Guest
    nights: list[datetime.date]


class Guest(pydantic.BaseModel):
    """Who stays."""

    name: str


Booking.model_rebuild()


class BookAction(Action):
    """Books a room (a pydantic request schema)."""

    request_schema = Booking

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"room": request.body["room"], "nights": len(request.body["nights"])}


class ShopServer(Server):
    """The shop: a service to reach through the gateway."""

    service_name = "shop"
    action_class_map = {
        "echo": EchoAction,
        "square": SquareAction,
        "fail": FailAction,
        "refuse": RefuseAction,
        "slow": SlowAction,
        "busy": BusyAction,
        "cancel_order": CancelOrderAction,
        "typed": TypedAction,
        "book": BookAction,
        "hidden": EchoAction,
    }


_REDIS_URL = os.environ.get("GATEWAY_SHOP_REDIS_URL", "redis://127.0.0.1:1/0")
_BACKEND = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_REDIS_URL]}}

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {**_BACKEND, "receive_timeout_in_seconds": 1},
    },
    "middleware": [
        {
            "path": "pysoa_like.auth:ApiTokenMiddleware",
            "kwargs": {
                "tokens": {
                    "partner": {"token": PARTNER_TOKEN, "scopes": ["orders:read"]},
                    "admin": {"token": ADMIN_TOKEN, "scopes": ["orders:write"]},
                }
            },
        }
    ],
    "request_log_success_level": "DEBUG",
}
SOA_CLIENT_SETTINGS: dict[str, Any] = {
    "shop": {
        "transport": {
            "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
            "kwargs": _BACKEND,
        }
    }
}
#: Every action but ``hidden``.
EXPOSED = sorted(set(ShopServer.action_class_map) - {"hidden"})
GATEWAY_SETTINGS: dict[str, Any] = {"expose": {"shop": EXPOSED}, "timeout": 5}
