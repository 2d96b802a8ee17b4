"""End-to-end interop over a two-master Redis ring (both sides list the same hosts in the same order).

Requests go round-robin over the masters; each reply goes to the master chosen by the CRC-32 hash of
the reply key, so a reply only arrives if client and server hash identically (PROTOCOL.md section 2).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.interop._harness import Deployment
from tests.interop._matrix import BIG_SIZE, PATHS, BatchRunner, Combo, Path, error, matrix_cases

RING_COMBOS = (Combo("msgpack", 3), Combo("json", 2), Combo("msgpack", 1))
CASES = matrix_cases(PATHS, RING_COMBOS)


@pytest.mark.parametrize(("path", "combo"), CASES)
def test_ring_single_and_parallel_calls(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Single and parallel calls over the ring reach the expected server and come back in order."""
    batch = matrix_batches(path, combo, "ring")
    implementation = "pysoa" if path.server == "pysoa" else "pysoa_like"
    assert batch["whoami"][0]["result"]["body"] == {"service": combo.services[0], "implementation": implementation}
    assert batch["single_call"][0]["result"]["errors"] == []
    squares = [response["body"] for response in batch["parallel_calls"][0]["result"]]
    assert squares == [{"square": n * n} for n in range(1, 7)]


@pytest.mark.parametrize(("path", "combo"), CASES)
def test_ring_multi_service_jobs(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """Parallel jobs to two services over the ring each come back from the right service."""
    (outcome,) = matrix_batches(path, combo, "ring")["multi_service_jobs"]
    services = [job["actions"][0]["body"].get("service") for job in outcome["result"]]
    assert services == [combo.services[0], combo.services[1], None]


@pytest.mark.parametrize(("path", "combo"), CASES)
def test_ring_action_error(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """An action error crosses the ring with is_caller_error intact."""
    (outcome,) = matrix_batches(path, combo, "ring")["caller_error"]
    assert outcome["exception"]["type"] == "CallActionError"
    assert outcome["exception"]["actions"][0]["errors"] == [error("FAILED", "It failed on purpose", "number", True)]


@pytest.mark.parametrize(("path", "combo"), CASES)
def test_ring_big_response(matrix_batches: BatchRunner, path: Path, combo: Combo) -> None:
    """A multi-MB response is chunked over the ring for v3, and is RESPONSE_TOO_LARGE for older versions."""
    batch = matrix_batches(path, combo, "ring")
    (outcome,) = batch["big_response"]
    if combo.version == 3:
        assert len(outcome["result"]["body"]["data"]) == BIG_SIZE
    else:
        assert [e["code"] for e in outcome["exception"]["errors"]] == ["RESPONSE_TOO_LARGE"]
    assert batch["after_big"][0]["result"]["body"] == {"square": 144}


@pytest.mark.parametrize("server", ["pysoa", "like"])
def test_each_client_spreads_its_requests_over_both_masters_and_both_are_served(
    deployment_factory: Callable[[str, str], Deployment], server: str
) -> None:
    """Both clients send requests to both masters, and the server answers requests on both.

    Two requests to a service nobody serves stay where they were sent: one on each master (a client sends to
    the masters in turn). Two calls in a row that follow them therefore go one to each master too, and both
    come back: the server's workers take requests from both masters.
    """
    deployment = deployment_factory(server, "ring")
    served = RING_COMBOS[0].services[0]
    for client in ("pysoa", "like"):
        unserved = f"ring_unserved_{uuid.uuid4().hex[:12]}"
        calls = [_send(unserved, 1), _send(unserved, 2), _square(served, 3), _square(served, 4)]
        outcomes = deployment.call(client, {served: ("msgpack", 3), unserved: ("msgpack", 3)}, calls)
        answers = [outcome.get("result", {}).get("body") for outcome in outcomes[2:]]
        assert answers == [{"square": 9}, {"square": 16}], f"{client} client: {outcomes}"
        masters = [redis.Redis(host=host, port=port) for host, port in deployment.hosts]
        queue = f"pysoa:service.{unserved}"
        assert [master.llen(queue) for master in masters] == [1, 1], f"{client} client: not one request per master"
        for master in masters:
            master.delete(queue)
            master.close()


def _send(service: str, number: int) -> dict[str, Any]:
    actions = [{"action": "square", "body": {"number": number}}]
    return {"method": "send_request", "kwargs": {"service_name": service, "actions": actions}}


def _square(service: str, number: int) -> dict[str, Any]:
    return {
        "method": "call_action",
        "kwargs": {"service_name": service, "action": "square", "body": {"number": number}},
    }
