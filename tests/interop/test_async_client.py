"""AsyncClient (the asyncio Redis driver) against PySOA 1.4.9 servers on a real Redis, in every serializer and
protocol version: single calls, jobs with context, parallel calls, errors, chunked replies and many calls at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.errors import CallActionError
from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport
from tests.interop._harness import Deployment, client_transport_kwargs
from tests.interop._like_service import TRANSPORT_PATHS, like_transport_kwargs
from tests.interop._matrix import COMBOS, Combo


def _client(deployment: Deployment, combo: Combo) -> AsyncClient:
    services = combo.services
    return AsyncClient(
        {
            name: {
                "transport": {
                    "path": TRANSPORT_PATHS["client"],
                    "kwargs": like_transport_kwargs(
                        client_transport_kwargs(deployment.hosts, combo.serializer, combo.version)
                    ),
                }
            }
            for name in services
        }
    )


@pytest.mark.parametrize("combo", COMBOS, ids=lambda combo: combo.id)
def test_async_client_calls_a_pysoa_server(deployment_factory: Callable[[str, str], Deployment], combo: Combo) -> None:
    """Every kind of call of AsyncClient gets PySOA 1.4.9's answers, as the blocking client does."""
    deployment = deployment_factory("pysoa", "single")
    main, other = combo.services
    # Protocol version 3 gets big replies in chunks; earlier versions only what fits one message.
    big_size = 600_000 if combo.version == 3 else 50_000

    async def calls() -> dict[str, Any]:
        async with _client(deployment, combo) as client:
            assert isinstance(client._get_handler(main).transport, AsyncRedisClientTransport)
            whoami = await client.call_action(main, "whoami")
            job = await client.call_actions(
                main,
                [{"action": "echo", "body": {"step": 1}}, {"action": "square", "body": {"number": 3}}],
                correlation_id="async-interop",
                switches=[3, 5],
            )
            parallel = list(
                await client.call_actions_parallel(
                    main, [{"action": "square", "body": {"number": n}} for n in range(1, 7)]
                )
            )
            jobs = await client.call_jobs_parallel(
                [
                    {"service_name": main, "actions": [{"action": "square", "body": {"number": 2}}]},
                    {"service_name": other, "actions": [{"action": "whoami"}]},
                ]
            )
            with pytest.raises(CallActionError) as failed:
                await client.call_action(main, "fail", {"caller": True})
            big = await client.call_action(main, "big", {"size": big_size})
            many = await asyncio.gather(*(client.call_action(main, "square", {"number": n}) for n in range(200)))
            return {
                "whoami": whoami.body,
                "job": [action.body for action in job.actions],
                "job_context": job.context,
                "parallel": [response.body["square"] for response in parallel],
                "jobs": [job.actions[0].body for job in jobs],
                "failed": failed.value.actions[0].errors[0],
                "big": len(big.body["data"]),
                "many": [response.body["square"] for response in many],
            }

    outcome = asyncio.run(calls())
    assert outcome["whoami"] == {"service": main, "implementation": "pysoa"}
    assert outcome["job"] == [{"step": 1}, {"square": 9}]
    assert outcome["job_context"]["correlation_id"] == "async-interop"
    assert outcome["parallel"] == [1, 4, 9, 16, 25, 36]
    assert outcome["jobs"] == [{"square": 4}, {"service": other, "implementation": "pysoa"}]
    assert (outcome["failed"].code, outcome["failed"].field) == ("FAILED", "number")
    assert outcome["big"] == big_size
    assert outcome["many"] == [n * n for n in range(200)]
