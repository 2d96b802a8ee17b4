"""The client side of every benchmark, shared by the three implementations (standard library only).

An implementation module gives :func:`run_client` an object with three methods (:class:`CallSet`):
``square(n) -> n * n``, ``squares(numbers) -> [n * n, ...]`` (all in flight at once) and
``big(size) -> len(data)``. The driver warms up, reads the CPU time of this process, the servers and
redis-server from ``/proc``, runs the timed calls, reads the CPU times again and returns one JSON-ready
result. Only the timed section counts: start-up, imports and warm-up are outside it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Protocol

from benchmarks._cpu import cpu_snapshot
from benchmarks._stats import percentile

__all__ = ["RESULT_PREFIX", "CallSet", "main_client", "run_client"]

#: The client prints its result as one line starting with this (other output is ignored).
RESULT_PREFIX = "RESULT "


class CallSet(Protocol):
    """What an implementation offers the driver."""

    def square(self, number: int) -> int: ...

    def squares(self, numbers: list[int]) -> list[int]: ...

    def big(self, size: int) -> int: ...


def _cpu_per_call(before: list[float], after: list[float], calls: int) -> dict[str, float]:
    """Microseconds of CPU per call: this client, the servers (summed), redis-server."""
    deltas = [(b - a) * 1e6 / calls for a, b in zip(before, after, strict=True)]
    return {"client": deltas[0], "servers": sum(deltas[1:-1]), "redis": deltas[-1]}


def _serial(calls: CallSet, spec: dict[str, Any], pids: list[int]) -> dict[str, Any]:
    for number in range(spec["warmup"]):
        if calls.square(number) != number * number:
            raise AssertionError(f"wrong square of {number}")
    count = spec["calls"]
    latencies = [0.0] * count
    clock = time.perf_counter_ns
    before = cpu_snapshot(pids)
    started = clock()
    for index in range(count):
        number = index + 1000
        t0 = clock()
        result = calls.square(number)
        latencies[index] = (clock() - t0) / 1000.0
        if result != number * number:
            raise AssertionError(f"wrong square of {number}: {result!r}")
    elapsed = (clock() - started) / 1e9
    after = cpu_snapshot(pids)
    latencies.sort()
    return {
        "calls": count,
        "elapsed_s": elapsed,
        "p50_us": percentile(latencies, 0.50),
        "p90_us": percentile(latencies, 0.90),
        "p99_us": percentile(latencies, 0.99),
        "mean_us": sum(latencies) / count,
        "cpu_us_per_call": _cpu_per_call(before, after, count),
    }


def _throughput(calls: CallSet, spec: dict[str, Any], pids: list[int]) -> dict[str, Any]:
    wave = spec["wave"]
    numbers = list(range(wave))
    expected = sorted(n * n for n in numbers)
    for _ in range(spec["warmup_waves"]):
        calls.squares(numbers)
    waves = max(1, spec["calls"] // wave)
    before = cpu_snapshot(pids)
    started = time.perf_counter()
    for _ in range(waves):
        results = calls.squares(numbers)
        # The floor gets replies in arrival order; the RPC clients in request order.
        if sorted(results) != expected:
            raise AssertionError("wrong squares in a wave")
    elapsed = time.perf_counter() - started
    after = cpu_snapshot(pids)
    total = waves * wave
    return {
        "calls": total,
        "elapsed_s": elapsed,
        "calls_per_s": total / elapsed,
        "cpu_us_per_call": _cpu_per_call(before, after, total),
    }


def _big(calls: CallSet, spec: dict[str, Any], pids: list[int]) -> dict[str, Any]:
    size = spec["size"]
    for _ in range(spec["big_warmup"]):
        calls.big(size)
    count = spec["big_calls"]
    durations = []
    before = cpu_snapshot(pids)
    for _ in range(count):
        t0 = time.perf_counter()
        length = calls.big(size)
        durations.append((time.perf_counter() - t0) * 1000.0)
        if length != size:
            raise AssertionError(f"big response of {length} characters, expected {size}")
    after = cpu_snapshot(pids)
    durations.sort()
    return {
        "calls": count,
        "median_ms": percentile(durations, 0.5),
        "min_ms": durations[0],
        "max_ms": durations[-1],
        "cpu_us_per_call": _cpu_per_call(before, after, count),
    }


_WORKLOADS = {"serial": _serial, "throughput": _throughput, "big": _big}


def run_client(calls: CallSet, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec["workload"]`` (``serial``, ``throughput`` or ``big``) against ``calls``.

    Args:
        calls: The implementation's calls.
        spec: The workload, counts, ``server_pids`` and ``redis_pid`` (see ``benchmarks.run``).

    Returns:
        The workload's figures, with ``cpu_us_per_call`` for the client, the servers and redis-server.
    """
    pids = [os.getpid(), *spec["server_pids"], spec["redis_pid"]]
    profile_path = spec.get("profile")
    if not profile_path:
        return _WORKLOADS[spec["workload"]](calls, spec, pids)
    import cProfile

    # CPU time, not wall time: waiting in BLPOP would otherwise dominate every listing.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        return _WORKLOADS[spec["workload"]](calls, spec, pids)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


def main_client(make_calls: Any, spec: dict[str, Any], **extra: Any) -> None:
    """Build the calls with ``make_calls(spec)``, run the workload and print the result line (with ``extra``)."""
    result = dict(run_client(make_calls(spec), spec), **extra)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
