"""Time one call over the in-process (local) transport: ``python -m benchmarks.local [--calls N] [--profile]``.

The client calls ``square`` on a tiny service run by
:class:`~pysoa_like.common.transport.local.LocalClientTransport`, so each call goes through the whole
pipeline in one thread with no I/O: the client's headers, middleware chain and reply routing, the
msgpack round trip of request and reply (the local transport's default), the server's validation,
job and action middleware, request logging as shipped and the action. That makes it the CPU cost of
both sides of a call without Redis. The median over several repetitions of the wall time and of the
process's CPU time is printed in microseconds per call (on a busy machine, trust the CPU figure);
``--profile`` also prints cProfile's top functions (slower calls, read the shares).

``--baseline DIR_OR_REVISION`` times another pysoa_like too (an older checkout, or the package at a
git revision; see :mod:`benchmarks._baseline`): each repetition then runs one process per
implementation, alternating, and the medians of both and of their ratio within each repetition are
printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pysoa_like
from benchmarks._baseline import REPO_ROOT, prepared_baseline, run_in_checkout
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


def _one_repetition(cwd: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """Run one repetition in a process of its own (started in ``cwd``); its wall and CPU microseconds per call."""
    counts = ["--calls", str(args.calls), "--warmup", str(args.warmup)]
    return run_in_checkout(cwd, env, ["benchmarks.local", "--json", "--reps", "1", *counts])


def _compare(args: argparse.Namespace) -> int:
    """Alternate repetitions of the baseline and of this checkout, each in its own process; print both and the ratio."""
    with prepared_baseline(args.baseline) as baseline:
        runs: dict[str, list[dict[str, Any]]] = {baseline.label: [], "pysoa_like": []}
        for _ in range(args.reps):
            runs[baseline.label].append(_one_repetition(baseline.start_dir, baseline.environment(), args))
            runs["pysoa_like"].append(_one_repetition(REPO_ROOT, {}, args))
    for label, results in runs.items():
        for figure in ("wall", "CPU"):
            values = [result[figure] for result in results]
            print(
                f"{label} ({figure}): median {median(values):.1f} us per call "
                f"[min {min(values):.1f}, max {max(values):.1f}] over {args.reps} x {args.calls} calls"
            )
    base, new = runs[baseline.label], runs["pysoa_like"]
    for figure in ("wall", "CPU"):
        ratios = [n[figure] / b[figure] for n, b in zip(new, base, strict=True)]
        spread = f"[min {min(ratios):.3f}, max {max(ratios):.3f}]"
        print(f"pysoa_like/baseline ({figure}): median {median(ratios):.3f} {spread}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Time serial local calls over several repetitions and print the median (and a profile if asked)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="Timed calls per repetition (default 5000)")
    parser.add_argument("--reps", type=int, default=7, help="Repetitions (default 7)")
    parser.add_argument("--warmup", type=int, default=500, help="Untimed calls first (default 500)")
    parser.add_argument("--profile", action="store_true", help="Also print cProfile's top functions")
    parser.add_argument("--top", type=int, default=25, help="Functions listed per profile table (default 25)")
    parser.add_argument(
        "--baseline",
        metavar="DIR_OR_REVISION",
        help="Also time another pysoa_like: a checkout's directory, or a git revision of this repository",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one repetition, for --baseline
    args = parser.parse_args(argv)
    if args.calls < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("--calls and --reps must be at least 1, --warmup at least 0")
    if args.baseline:
        try:
            return _compare(args)
        except ValueError as exc:
            parser.error(str(exc))
    client = make_client()
    try:
        if args.warmup:
            time_calls(client, args.warmup)
        timings = [time_calls(client, args.calls) for _ in range(args.reps)]
        if args.json:
            wall, cpu = timings[0]
            print(json.dumps({"wall": wall, "CPU": cpu, "package": str(Path(pysoa_like.__file__).parent)}))
            return 0
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
