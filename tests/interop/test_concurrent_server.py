"""PySOA 1.4.9's client calls a pysoa_like worker serving many jobs at once (``concurrency``)."""

from __future__ import annotations

import time
from typing import Any

from pysoa_like.test.redis import RedisServerProcess
from tests.interop._harness import PySOAScripts, ServerProcess, client_transport_kwargs, server_transport_kwargs
from tests.interop.pysoa_side import tagged


def _job(*actions: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"service_name": "interop", "actions": [{"action": name, "body": body} for name, body in actions]}


def test_pysoa_clients_call_a_concurrent_worker(pysoa_scripts: PySOAScripts) -> None:
    """PySOA's parallel jobs are served at once by one concurrent worker (20 one-second coroutine jobs in far
    less than 20 s, each with its own answer), and its serial calls and action errors read as from any server."""
    calls = [
        {"method": "call_action", "kwargs": {"service_name": "interop", "action": "square", "body": {"number": 7}}},
        {
            "method": "call_jobs_parallel",
            "kwargs": {"jobs": [_job(("nap", {"seconds": 1, "tag": i})) for i in range(20)]},
        },
        {
            "method": "call_actions",
            "kwargs": _job(("nap", {"tag": "first"}), ("fail", {"caller": True})),
        },
    ]
    with RedisServerProcess() as redis_process:
        hosts = [redis_process.address]
        server = ServerProcess(
            "like",
            pysoa_scripts.python,
            "interop",
            server_transport_kwargs(hosts, "msgpack"),
            server_settings={"concurrency": 25},
        )
        try:
            server.wait_ready()
            spec = {
                "services": {"interop": client_transport_kwargs(hosts, "msgpack", 3)},
                "calls": [{"method": c["method"], "kwargs": tagged.encode(c["kwargs"])} for c in calls],
            }
            started = time.monotonic()
            outcomes = [
                {kind: tagged.decode(value) for kind, value in outcome.items()}
                for outcome in pysoa_scripts.run("run_client.py", spec)["outcomes"]
            ]
            took = time.monotonic() - started
            assert server.problem() is None
        finally:
            server.stop()
    square, parallel, failing = outcomes
    assert square["result"]["body"] == {"square": 49}
    assert took < 12, f"PySOA's 20 parallel one-second jobs took {took:.1f} s (the PySOA client's startup included)"
    assert [job["actions"][0]["body"] for job in parallel["result"]] == [{"napped": 1, "tag": i} for i in range(20)]
    exception = failing["exception"]
    assert exception["type"] == "CallActionError"
    assert [(a["action"], [e["code"] for e in a["errors"]]) for a in exception["actions"]] == [("fail", ["FAILED"])]
