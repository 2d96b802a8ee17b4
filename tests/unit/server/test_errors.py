"""Server exceptions: a pushback always answers OVERLOADED with a delay a caller can wait."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.server.action.base import Action
from pysoa_like.server.errors import PushBackError
from pysoa_like.server.server import Server


class _PushBack(Action):
    """Pushes back with the ``retry_after`` of its request body."""

    def run(self, request: Any) -> dict[str, Any]:
        raise PushBackError(float(request.body["retry_after"]))


class _BusyServer(Server):
    service_name = "busy"
    action_class_map = {"push_back": _PushBack}


def _client() -> Client:
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": _BusyServer, "server_settings": {}, "serialize_messages": True},
    }
    return Client({"busy": {"transport": transport}})


@pytest.mark.parametrize(("retry_after", "expected_ms"), [(1e300, 86_400_000), (86_401, 86_400_000), (-5, 0)])
def test_a_pushback_beyond_one_day_or_below_zero_is_cut_to_fit(retry_after: float, expected_ms: int) -> None:
    """An action pushing back for 1e300 s answers OVERLOADED with one day (it answered RESPONSE_NOT_SERIALIZABLE)."""
    response = _client().call_actions(
        "busy", [{"action": "push_back", "body": {"retry_after": retry_after}}], raise_job_errors=False
    )
    assert [error.code for error in response.errors] == ["OVERLOADED"]
    assert response.context["retry_after_ms"] == expected_ms


@pytest.mark.parametrize("retry_after", [math.nan, math.inf, -math.inf, "soon", None])
def test_a_pushback_with_no_usable_delay_is_refused_when_made(retry_after: Any) -> None:
    """NaN, infinity or a non-number: ValueError naming the value and what is expected (NaN answered SERVER_ERROR
    with a ValueError from deep inside the response, infinity an OverflowError)."""
    with pytest.raises(
        ValueError,
        match=r"^PushBackError\(retry_after=.+\): retry_after must be a finite number of "
        r"seconds \(0 to 86400\)$",
    ):
        PushBackError(retry_after)
