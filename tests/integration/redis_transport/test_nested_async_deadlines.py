"""``request.async_client`` in a worker running jobs at once, over Redis: each nested call is bounded by the deadline
of the job it is made in, even when ``make_async_client`` caches one client for every job."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.server.action import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_LOCAL_TRANSPORT = "pysoa_like.common.transport.local:LocalClientTransport"


class Deadline(Action):
    """Answers with the deadline its job was given."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"deadline": request.deadline}


class DeadlineServer(Server):
    service_name = "deadline"
    action_class_map = {"deadline": Deadline}


class Relay(Action):
    """Takes the job's AsyncClient, pauses as asked (other jobs run meanwhile), then calls ``deadline``."""

    async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        client = request.async_client
        await asyncio.sleep(request.body["pause"])
        nested = await client.call_action("deadline", "deadline", {})
        return {"job": request.deadline, "nested": nested.body["deadline"]}


class CachingRelayServer(Server):
    """Keeps one AsyncClient for all its jobs, as a server may to save building one per job."""

    service_name = "relay"
    action_class_map = {"relay": Relay}
    nested_call_margin_seconds = 0.25
    kept: Any = None

    def make_async_client(
        self, context: Mapping[str, Any], extra_context: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        if self.kept is None:
            self.kept = super().make_async_client(context, extra_context, **kwargs)
        return self.kept


@pytest.fixture
def redis_transport(redis_url: str) -> dict[str, Any]:
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_url]}}


@pytest.fixture
def relay(redis_transport: dict[str, Any]) -> Iterator[None]:
    """The caching relay over Redis, running two jobs at once, its ``deadline`` service in process."""
    server = CachingRelayServer(
        {
            "transport": {"path": _SERVER_TRANSPORT, "kwargs": {**redis_transport, "receive_timeout_in_seconds": 0.2}},
            "concurrency": 2,
            "client_routing": {
                "deadline": {
                    "transport": {
                        "path": _LOCAL_TRANSPORT,
                        "kwargs": {"server_class": DeadlineServer, "server_settings": {}},
                    }
                }
            },
        }
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutting_down = True
        thread.join(15)


def test_jobs_sharing_a_cached_async_client_each_bound_their_calls_by_their_own_deadline(
    relay: None, redis_transport: dict[str, Any]
) -> None:
    """A long job whose nested call comes after a short job set up the shared client still gets its own deadline
    (less the margin) for that call, not the short job's."""
    client = Client({"relay": {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": redis_transport}}})
    started = time.time()
    long_job = client.call_action_future("relay", "relay", {"pause": 0.6}, timeout=20)
    time.sleep(0.2)  # the long job has its client before the short one starts
    short_job = client.call_action_future("relay", "relay", {"pause": 0}, timeout=3)
    short = short_job.result().body
    long = long_job.result().body
    assert started + 19 < long["job"] < started + 21
    assert long["nested"] == pytest.approx(long["job"] - 0.25, abs=0.1)
    assert short["nested"] == pytest.approx(short["job"] - 0.25, abs=0.1)
