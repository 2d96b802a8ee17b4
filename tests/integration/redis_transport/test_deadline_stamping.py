"""A call bounded by a deadline, over Redis: its request's ``__expiry__`` is the deadline at the latest, however long
the request took to reach the transport (both drivers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from tests.async_middleware_probes import HOLD_SECONDS
from tests.integration.redis_transport._helpers import queued_request

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


def _settings(transport_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "echo": {
            "transport": {"path": _CLIENT_TRANSPORT, "kwargs": transport_kwargs},
            "middleware": [{"path": "tests.async_middleware_probes:HeldSend"}],
        }
    }


def test_a_bounded_clients_request_expires_at_its_deadline_not_later(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis
) -> None:
    """A ``Client`` with 5 s left whose request is held 0.2 s on its way still stamps ``__expiry__`` at that deadline
    at the latest (without the deadline carried down to the transport, it ended 0.2 s later)."""
    # Given a client bounded by a deadline 5 s away, whose requests are held 0.2 s by a middleware
    client = Client(_settings(transport_kwargs))
    deadline = client.deadline = time.time() + 5
    # When it sends a request
    client.send_request("echo", [{"action": "a"}], suppress_response=True)
    # Then the request on the queue expires at that deadline, not later
    _request_id, meta = queued_request(raw_redis)
    assert deadline - HOLD_SECONDS < meta["__expiry__"] <= deadline


def test_a_bounded_async_clients_request_expires_at_its_deadline_not_later(
    transport_kwargs: dict[str, Any], raw_redis: redis.Redis
) -> None:
    """The same for an ``AsyncClient`` (the asyncio Redis driver stamps its envelopes itself)."""

    async def send() -> float:
        async with AsyncClient(_settings(transport_kwargs)) as client:
            deadline = client.deadline = time.time() + 5
            await client.call_action("echo", "a", suppress_response=True)
            return deadline

    deadline = asyncio.run(send())
    _request_id, meta = queued_request(raw_redis)
    assert deadline - HOLD_SECONDS < meta["__expiry__"] <= deadline
