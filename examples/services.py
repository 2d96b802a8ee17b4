"""Two small example services.

``calculator`` squares and adds numbers. ``report`` builds a text report by calling ``calculator``
through ``request.client``: that nested call carries the caller's correlation id and switches.
"""

from __future__ import annotations

from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["CalculatorServer", "ReportServer"]


class SquareAction(Action):
    """Return the square of a number."""

    request_schema = fields.Dictionary({"number": fields.Integer(description="The number to square")})
    response_schema = fields.Dictionary({"square": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"square": request.body["number"] ** 2}


class AddAction(Action):
    """Add a list of numbers; refuses an empty list with a caller error."""

    request_schema = fields.Dictionary({"numbers": fields.List(fields.Integer())})
    response_schema = fields.Dictionary({"sum": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        numbers = request.body["numbers"]
        if not numbers:
            raise ActionError([Error(code="EMPTY", message="Give at least one number", field="numbers")])
        return {"sum": sum(numbers)}


class CalculatorServer(Server):
    """The calculator service."""

    service_name = "calculator"
    service_version = "1.2.0"
    action_class_map = {"square": SquareAction, "add": AddAction}


class SumOfSquaresAction(Action):
    """Square each number through the calculator service (in parallel), then add the squares."""

    request_schema = fields.Dictionary({"numbers": fields.List(fields.Integer(), min_length=1)})
    response_schema = fields.Dictionary(
        {
            "sum_of_squares": fields.Integer(),
            "correlation_id": fields.UnicodeString(),
            "calculator_correlation_id": fields.UnicodeString(),
        }
    )

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.client is not None
        squares = request.client.call_actions_parallel(
            "calculator", [{"action": "square", "body": {"number": n}} for n in request.body["numbers"]]
        )
        # The nested job reports the correlation id it received: the one this request carries.
        job = request.client.call_actions("calculator", [{"action": "add", "body": {"numbers": [1]}}])
        return {
            "sum_of_squares": sum(r.body["square"] for r in squares),
            "correlation_id": request.context["correlation_id"],
            "calculator_correlation_id": job.context["correlation_id"],
        }


class ReportServer(Server):
    """The report service, a client of the calculator."""

    service_name = "report"
    service_version = "1.0.0"
    action_class_map = {"sum_of_squares": SumOfSquaresAction}
