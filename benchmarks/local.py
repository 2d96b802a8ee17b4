"""Time one call over the in-process (local) transport: ``python -m benchmarks.local [--calls N] [--profile]``.

The client calls ``square`` on a tiny service run by
:class:`~pysoa_like.common.transport.local.LocalClientTransport`, so each call goes through the whole
pipeline in one thread with no I/O: the client's headers, middleware chain and reply routing, the
msgpack round trip of request and reply (the local transport's default), the server's validation,
job and action middleware, request logging as shipped and the action. That makes it the CPU cost of
both sides of a call without Redis. The median over several repetitions of the wall time and of the
process's CPU time is printed in microseconds per call (on a busy machine, trust the CPU figure);
``--profile`` also prints cProfile's top functions (slower calls, read the shares).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks._stats import median
from pysoa_like.client.client import Client
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.server import close_client

__all__ = ["LocalSquareServer", "main", "make_client", "time_calls"]

SERVICE_NAME = "bench_local"
_SERVER_SETTINGS: dict[str, Any] = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}


class _SquareAction(Action):
    """``{"number": n}`` -> ``{"square": n * n}``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        number = request.body["number"]
        return {"square": number * number}


class LocalSquareServer(Server):
    """The benchmark service, run in-process by the local transport."""

    service_name = SERVICE_NAME
    action_class_map = {"square": _SquareAction}


def make_client() -> Client:
    """A client whose one service is :class:`LocalSquareServer` over the local transport (default settings)."""
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": LocalSquareServer, "server_settings": _SERVER_SETTINGS},
    }
    return Client({SERVICE_NAME: {"transport": transport}})


def time_calls(client: Client, calls: int) -> tuple[float, float]:
    """Make ``calls`` serial calls; return the wall time and the CPU time of one, in microseconds.

    The CPU time (``time.process_time``) is the steadier figure on a busy machine: other processes
    lengthen the wall time, not this process's CPU time.

    Raises:
        AssertionError: A call returned a wrong square.
    """
    call_action = client.call_action
    started_cpu = time.process_time()
    started = time.perf_counter()
    for number in range(calls):
        body = call_action(SERVICE_NAME, "square", {"number": number}).body
        if body["square"] != number * number:
            raise AssertionError(f"square of {number} came back as {body['square']!r}")
    wall = time.perf_counter() - started
    cpu = time.process_time() - started_cpu
    return wall * 1_000_000 / calls, cpu * 1_000_000 / calls


def _profile(client: Client, calls: int, top: int) -> str:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    time_calls(client, calls)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).strip_dirs()
    for sort in ("tottime", "cumulative"):
        stream.write(f"===== top {top} by {sort} ({calls} calls) =====\n")
        stats.sort_stats(sort).print_stats(top)
    return stream.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Time serial local calls over several repetitions and print the median (and a profile if asked)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="Timed calls per repetition (default 5000)")
    parser.add_argument("--reps", type=int, default=7, help="Repetitions (default 7)")
    parser.add_argument("--warmup", type=int, default=500, help="Untimed calls first (default 500)")
    parser.add_argument("--profile", action="store_true", help="Also print cProfile's top functions")
    parser.add_argument("--top", type=int, default=25, help="Functions listed per profile table (default 25)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("--calls and --reps must be at least 1, --warmup at least 0")
    client = make_client()
    try:
        if args.warmup:
            time_calls(client, args.warmup)
        timings = [time_calls(client, args.calls) for _ in range(args.reps)]
        for label, values in (("wall", [wall for wall, _ in timings]), ("CPU", [cpu for _, cpu in timings])):
            print(
                f"local call ({label}): median {median(values):.1f} us per call "
                f"[min {min(values):.1f}, max {max(values):.1f}] over {args.reps} x {args.calls} calls"
            )
        if args.profile:
            print(_profile(client, args.calls, args.top))
    finally:
        close_client(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
