"""Run the example services and call them, printing what each call returned.

``make demo`` runs this. Both services run in-process over the local transport (the full server
pipeline: validation, middleware, serialization round trip), so nothing else needs to be running.
"""

from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError

LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"


def local_service(server_class: str, **server_settings: Any) -> dict[str, Any]:
    """Client settings for a service that runs in-process."""
    return {"transport": {"path": LOCAL, "kwargs": {"server_class": server_class, "server_settings": server_settings}}}


CALCULATOR = local_service("examples.services:CalculatorServer")
REPORT = local_service("examples.services:ReportServer", client_routing={"calculator": CALCULATOR})


def show(title: str, value: Any) -> None:
    print(f"{title:<38} {value}")


def main() -> None:
    """Run every kind of call once and print the results."""
    client = Client({"calculator": CALCULATOR, "report": REPORT})

    response = client.call_action("calculator", "square", {"number": 7})
    show("single call  square(7):", response.body)

    job = client.call_actions(
        "calculator",
        [{"action": "square", "body": {"number": 3}}, {"action": "add", "body": {"numbers": [1, 2, 3]}}],
    )
    show("serial job   square(3), add(1,2,3):", [a.body for a in job.actions])

    parallel = client.call_actions_parallel(
        "calculator", [{"action": "square", "body": {"number": n}} for n in (1, 2, 3)]
    )
    show("parallel     square(1..3):", [a.body["square"] for a in parallel])

    jobs = client.call_jobs_parallel(
        [
            {"service_name": "calculator", "actions": [{"action": "add", "body": {"numbers": [10, 20]}}]},
            {"service_name": "report", "actions": [{"action": "sum_of_squares", "body": {"numbers": [1, 2]}}]},
        ]
    )
    show("multi-service parallel jobs:", [j.actions[0].body for j in jobs])

    future = client.call_action_future("calculator", "square", {"number": 12})
    show("future       square(12):", future.result().body)

    try:
        client.call_action("calculator", "add", {"numbers": []})
    except CallActionError as exc:
        error = exc.actions[0].errors[0]
        show("action error add([]):", f"{error.code} on field {error.field!r}: {error.message}")

    try:
        client.call_action("calculator", "square", {"number": "seven"})
    except CallActionError as exc:
        error = exc.actions[0].errors[0]
        show("validation error square('seven'):", f"{error.code} on field {error.field!r}: {error.message}")

    nested = client.call_action("report", "sum_of_squares", {"numbers": [1, 2, 3]}, correlation_id="demo-correlation-1")
    show("nested call  sum_of_squares(1,2,3):", nested.body["sum_of_squares"])
    show("  correlation id sent by the demo:", "demo-correlation-1")
    show("  seen by report:", nested.body["correlation_id"])
    show("  seen by calculator (chained):", nested.body["calculator_correlation_id"])


if __name__ == "__main__":
    main()
