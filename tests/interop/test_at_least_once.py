"""A PySOA 1.4.9 client calls services that deliver at least once, unchanged, and gets exactly one reply each."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from pysoa_like.core.delivery import delivery_keys
from tests.interop._harness import Deployment


def _call(service: str, method: str, **kwargs: Any) -> dict[str, Any]:
    return {"method": method, "kwargs": {"service_name": service, **kwargs}}


def _square(service: str, number: int) -> dict[str, Any]:
    return _call(service, "call_action", action="square", body={"number": number})


def test_pysoa_clients_get_exactly_one_reply_from_at_least_once_services(
    deployment_factory: Callable[[str, str], Deployment],
) -> None:
    """Serial, multi-action, parallel and failing calls of a PySOA client (msgpack v3 and JSON v1) each get their
    own answer, in order (a stray second reply would answer the next call), and nothing is left in Redis: no
    reply list holds a copy, no worker holds a request."""
    deployment = deployment_factory("like-alo", "single")
    calls = []
    squares = [{"action": "square", "body": {"number": n}} for n in (4, 5)]
    for service in ("interop", "interop_json"):
        calls += [
            _square(service, 1),
            _square(service, 2),
            _call(service, "call_actions", actions=[{"action": "square", "body": {"number": 3}}, {"action": "whoami"}]),
            _call(service, "call_actions_parallel", actions=squares),
            _call(service, "call_action", action="fail", body={"caller": True}),
            _call(service, "call_action", action="status", body={}),
            _square(service, 6),
        ]
    outcomes = deployment.call("pysoa", {"interop": ("msgpack", 3), "interop_json": ("json", 1)}, calls)
    for service, results in (("interop", outcomes[:7]), ("interop_json", outcomes[7:])):
        one, two, job, parallel, fail, status, six = results
        assert one["result"]["body"] == {"square": 1}
        assert two["result"]["body"] == {"square": 4}
        job_actions = job["result"]["actions"]
        assert job_actions[0]["body"] == {"square": 9}
        assert job_actions[1]["body"] == {"service": service, "implementation": "pysoa_like"}
        assert [response["body"] for response in parallel["result"]] == [{"square": 16}, {"square": 25}]
        assert fail["exception"]["type"] == "CallActionError"
        assert status["result"]["errors"] == []
        assert six["result"]["body"] == {"square": 36}
    host, port = deployment.hosts[0]
    raw = redis.Redis(host=host, port=port)
    try:
        time.sleep(1.5)  # the last acknowledgements go with each worker's next wait for a request
        for service in ("interop", "interop_json"):
            keys = delivery_keys(service)
            workers = [worker.decode() for worker in raw.zrange(keys.workers, 0, -1)]
            assert len(workers) == 1
            assert raw.llen(keys.in_progress(workers[0])) == 0
            assert raw.llen(keys.dead_letter) == 0
        assert [key for key in raw.scan_iter("pysoa:service.interop*!*") if raw.llen(key)] == []
    finally:
        raw.close()
