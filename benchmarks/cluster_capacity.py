"""Redis CPU per call over a Redis Cluster, per node: ``python -m benchmarks.cluster_capacity [--calls N]``.

Runs the same calls through the Redis transports (client and server transports in threads of this process: the
Redis commands of a call are those of ``Client``/``Server``, one push and one ``BLPOP`` on each side) against:

* ``standalone, one service``: a standalone master with one replica (the baseline);
* ``cluster, one service``: a throwaway cluster (three masters with one replica each, like the tests'), every
  call to one service, whose request list is one slot, so one master;
* ``cluster, three services``: the same number of calls spread over three services whose request lists live on
  three different masters.

Each node's CPU (``used_cpu_sys`` + ``used_cpu_user`` of ``INFO cpu``) is read before and after; the same
reading over an idle period of the same length (cluster bus pings, cron) is subtracted. The figures feed the
capacity model of ``docs/redis_transport.rst`` ("Sizing a cluster"). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.core.keys import request_queue_key
from pysoa_like.test.redis import RedisCluster, RedisServerProcess

_REQUEST = {"control": {}, "context": {}, "actions": [{"action": "echo", "body": {"n": 1}}]}
_RESPONSE = {"errors": [], "context": {}, "actions": [{"action": "echo", "errors": [], "body": {"n": 1}}]}


def _cpu(node: RedisServerProcess) -> float:
    with node.client(decode_responses=True) as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _cpus(nodes: Sequence[RedisServerProcess]) -> dict[int, float]:
    return {node.port: _cpu(node) for node in nodes}


def _command_usec(nodes: Sequence[RedisServerProcess]) -> dict[int, float]:
    """Per node, the microseconds Redis spent running commands (``INFO commandstats``), I/O left out."""
    totals: dict[int, float] = {}
    for node in nodes:
        with node.client(decode_responses=True) as client:
            stats = client.info("commandstats")
        totals[node.port] = float(sum(float(entry["usec"]) for entry in stats.values()))
    return totals


def _role(node: RedisServerProcess) -> str:
    with node.client(decode_responses=True) as client:
        return str(client.execute_command("ROLE")[0])


def _services(cluster: RedisCluster, count: int) -> list[str]:
    owners: dict[int, str] = {}
    for number in range(500):
        name = f"capacity-{number}"
        owners.setdefault(cluster.key_owner(request_queue_key(name)).port, name)
        if len(owners) == count:
            return list(owners.values())
    raise RuntimeError("no service names on distinct masters")


def _serve(settings: dict[str, Any], service: str, stop: threading.Event) -> None:
    server = RedisServerTransport(service, None, receive_timeout_in_seconds=0.2, **settings)
    while not stop.is_set():
        try:
            request_id, meta, _body = server.receive_request_message()
        except MessageReceiveTimeout:
            continue
        if meta is not None:
            server.send_response_message(request_id, meta, _RESPONSE)


def _call(settings: dict[str, Any], service: str, calls: int) -> None:
    client = RedisClientTransport(service, None, **settings)
    for request_id in range(calls):
        client.send_request_message(request_id, {}, _REQUEST)
        client.receive_response_message(5)


def _workload(
    settings: dict[str, Any], nodes: Sequence[RedisServerProcess], services: Sequence[str], calls: int, callers: int
) -> dict[str, Any]:
    stop = threading.Event()
    workers = [
        threading.Thread(target=_serve, args=(settings, service, stop), daemon=True)
        for service in services
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    per_caller = calls // (len(services) * callers)
    # Warm up (scripts loaded, connections open) before measuring.
    _call(settings, services[0], 50)
    before = _cpus(nodes)
    commands_before = _command_usec(nodes)
    started = time.monotonic()
    threads = [
        threading.Thread(target=_call, args=(settings, service, per_caller))
        for service in services
        for _ in range(callers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    after = _cpus(nodes)
    commands_after = _command_usec(nodes)
    stop.set()
    for worker in workers:
        worker.join(5)
    # The same time idle: what the nodes spend with no call (cluster bus, cron).
    idle_before = _cpus(nodes)
    time.sleep(elapsed)
    idle_after = _cpus(nodes)
    total = per_caller * callers * len(services)
    figures: list[dict[str, Any]] = []
    for node in nodes:
        busy = after[node.port] - before[node.port]
        idle = idle_after[node.port] - idle_before[node.port]
        figures.append(
            {
                "port": node.port,
                "role": _role(node),
                "cpu_seconds": round(busy, 3),
                "idle_cpu_seconds": round(idle, 3),
                "us_per_call": round(max(busy - idle, 0.0) / total * 1e6, 2),
                "command_us_per_call": round((commands_after[node.port] - commands_before[node.port]) / total, 2),
            }
        )
    RedisTransportCore.clear_backend_cache()
    return {
        "services": list(services),
        "calls": total,
        "seconds": round(elapsed, 2),
        "calls_per_second": round(total / elapsed),
        "nodes": figures,
        "us_per_call_all_masters": round(sum(n["us_per_call"] for n in figures if n["role"] == "master"), 2),
        "us_per_call_all_replicas": round(sum(n["us_per_call"] for n in figures if n["role"] != "master"), 2),
        "us_per_call_busiest_master": max(n["us_per_call"] for n in figures if n["role"] == "master"),
        "command_us_per_call_all_masters": round(
            sum(n["command_us_per_call"] for n in figures if n["role"] == "master"), 2
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run both workloads and print their figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000, help="calls per workload (default 6000)")
    parser.add_argument("--callers", type=int, default=2, help="calling threads per service (default 2)")
    arguments = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        master = stack.enter_context(RedisServerProcess(extra_args=["--repl-diskless-sync-delay", "0"]))
        replica = stack.enter_context(RedisServerProcess(extra_args=["--replicaof", master.host, str(master.port)]))
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [master.url]}}
        figures["standalone, one service"] = _workload(
            settings, [master, replica], ["capacity-0"], arguments.calls, arguments.callers
        )
    with RedisCluster(masters=3, replicas=1) as cluster:
        settings = {"backend_type": "redis.cluster", "backend_layer_kwargs": {"hosts": cluster.urls[:2]}}
        for count, name in ((1, "cluster, one service"), (3, "cluster, three services")):
            services = _services(cluster, count)
            figures[name] = _workload(settings, cluster.nodes, services, arguments.calls, arguments.callers)
    json.dump(figures, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
