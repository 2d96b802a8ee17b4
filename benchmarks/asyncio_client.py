"""AsyncClient against the blocking Client, in one run: ``python -m benchmarks.asyncio_client [--reps R] [--smoke]``.

One throwaway redis-server and two worker processes of the benchmark service (``benchmarks._like``, as
``make bench`` runs it) serve every repetition. Each repetition, in this one client process and alternating
the two clients so that drift on a noisy machine hits both alike:

* serial: ``--calls`` calls one after the other; the median latency of each client (the ratio is
  AsyncClient's over Client's);
* in flight: ``--calls`` calls made in waves of 100 and of 1,000 in flight at once (``call_actions_parallel``
  for the blocking client, ``asyncio.gather`` of ``call_action`` for AsyncClient); calls per second of each
  (the ratio is AsyncClient's over Client's), and the CPU time this client process spent per call
  (``time.process_time``): both clients are bound by it on a small machine, and unlike calls per second it
  hardly depends on what else the machine runs.

The table shows ``median [min-max]`` over the repetitions; ratios are taken within each repetition. The JSON
goes to ``benchmarks/results/asyncio_client.json`` (or ``--output``). Never part of the test suite's
assertions.

``--baseline DIR_OR_REVISION`` (see :mod:`benchmarks._baseline`) also runs AsyncClient's in-flight workloads
of another pysoa_like in every repetition, each in a process of its own, alternating with the same workloads
of this checkout in a process of its own (which goes first alternates from one repetition to the next); the
table gains both and the ratios this checkout / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._baseline import Baseline, prepared_baseline, run_in_checkout
from benchmarks._cli import benchmark_parser, write_report
from benchmarks._like import MAXIMUM_MESSAGE_BYTES
from benchmarks._procs import REPO_ROOT, BenchmarkError, implementations, start_server
from benchmarks._stats import percentile, summarize
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client

__all__ = ["main"]

DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "asyncio_client.json"
SERVICE = "bench_like"
WAVES = (100, 1000)


def _settings(address: Sequence[Any]) -> dict[str, Any]:
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": {
            "backend_type": "redis.standard",
            "backend_layer_kwargs": {"hosts": [tuple(address)]},
            "maximum_message_size_in_bytes": MAXIMUM_MESSAGE_BYTES,
        },
    }
    return {SERVICE: {"transport": transport}}


def _sync_serial(client: Client, calls: int) -> float:
    latencies = []
    clock = time.perf_counter_ns
    for number in range(calls):
        started = clock()
        result = client.call_action(SERVICE, "square", {"number": number}).body["square"]
        latencies.append((clock() - started) / 1000.0)
        if result != number * number:
            raise BenchmarkError(f"wrong square of {number}")
    latencies.sort()
    return percentile(latencies, 0.5)


async def _async_serial(client: AsyncClient, calls: int) -> float:
    latencies = []
    clock = time.perf_counter_ns
    for number in range(calls):
        started = clock()
        result = (await client.call_action(SERVICE, "square", {"number": number})).body["square"]
        latencies.append((clock() - started) / 1000.0)
        if result != number * number:
            raise BenchmarkError(f"wrong square of {number}")
    latencies.sort()
    return percentile(latencies, 0.5)


def _sync_waves(client: Client, calls: int, wave: int) -> tuple[float, float]:
    """Calls per second, and CPU microseconds of this process per call."""
    actions = [{"action": "square", "body": {"number": n}} for n in range(wave)]
    waves = max(1, calls // wave)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(waves):
        results = [response.body["square"] for response in client.call_actions_parallel(SERVICE, actions)]
        if results != [n * n for n in range(wave)]:
            raise BenchmarkError("wrong squares in a wave")
    return waves * wave / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / (waves * wave)


async def _async_waves(client: AsyncClient, calls: int, wave: int) -> tuple[float, float]:
    """Calls per second, and CPU microseconds of this process per call."""
    waves = max(1, calls // wave)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(waves):
        responses = await asyncio.gather(*(client.call_action(SERVICE, "square", {"number": n}) for n in range(wave)))
        if [response.body["square"] for response in responses] != [n * n for n in range(wave)]:
            raise BenchmarkError("wrong squares in a wave")
    return waves * wave / (time.perf_counter() - started), (time.process_time() - cpu) * 1e6 / (waves * wave)


def _repetition(settings: dict[str, Any], calls: int, warmup: int) -> dict[str, float]:
    """One repetition: both clients, alternating workload by workload."""
    client = Client(settings)
    loop = asyncio.new_event_loop()
    async_client = AsyncClient(settings)
    figures: dict[str, float] = {}
    try:
        _sync_serial(client, warmup)
        loop.run_until_complete(_async_serial(async_client, warmup))
        figures["sync_serial_p50_us"] = _sync_serial(client, calls)
        figures["async_serial_p50_us"] = loop.run_until_complete(_async_serial(async_client, calls))
        figures["serial_ratio"] = figures["async_serial_p50_us"] / figures["sync_serial_p50_us"]
        for wave in WAVES:
            _sync_waves(client, wave, wave)
            loop.run_until_complete(_async_waves(async_client, wave, wave))
            total = max(calls, 2 * wave)
            figures[f"sync_{wave}_calls_per_s"], figures[f"sync_{wave}_cpu_us"] = _sync_waves(client, total, wave)
            figures[f"async_{wave}_calls_per_s"], figures[f"async_{wave}_cpu_us"] = loop.run_until_complete(
                _async_waves(async_client, total, wave)
            )
            for figure, ratio in (("calls_per_s", "in_flight"), ("cpu_us", "cpu")):
                sync = figures[f"sync_{wave}_{figure}"]
                if sync > 0:  # a CPU time below the clock's tick (a tiny run) gives no ratio
                    figures[f"{ratio}_{wave}_ratio"] = figures[f"async_{wave}_{figure}"] / sync
    finally:
        loop.run_until_complete(async_client.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return figures


def _async_only(address: Sequence[Any], calls: int) -> dict[str, Any]:
    """AsyncClient's in-flight workloads alone (a ``--baseline`` repetition's process): calls/s and CPU per call."""
    import pysoa_like

    loop = asyncio.new_event_loop()
    client = AsyncClient(_settings(address))
    figures: dict[str, Any] = {"package": pysoa_like.__file__}
    try:
        for wave in WAVES:
            loop.run_until_complete(_async_waves(client, wave, wave))
            total = max(calls, 2 * wave)
            figures[f"{wave}_calls_per_s"], figures[f"{wave}_cpu_us"] = loop.run_until_complete(
                _async_waves(client, total, wave)
            )
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    return figures


def _async_process(cwd: Path, env: dict[str, str], address: Sequence[Any], calls: int) -> dict[str, Any]:
    """Run :func:`_async_only` in a process started in ``cwd`` (whose ``pysoa_like`` it must import)."""
    target = f"{address[0]}:{address[1]}"
    return run_in_checkout(cwd, env, ["benchmarks.asyncio_client", "--calls", str(calls), "--async-only", target])


def _against_baseline(baseline: Baseline, address: Sequence[Any], calls: int, rep: int) -> dict[str, float]:
    """One repetition of AsyncClient against the baseline's, one process each, the first alternating."""
    runs = [("baseline", baseline.start_dir, baseline.environment()), ("checkout", REPO_ROOT, {})]
    results = {name: {} for name, _cwd, _env in runs}
    for name, cwd, env in runs if rep % 2 == 0 else reversed(runs):
        results[name] = _async_process(cwd, env, address, calls)
    figures: dict[str, float] = {}
    for wave in WAVES:
        for figure in ("calls_per_s", "cpu_us"):
            base, new = results["baseline"][f"{wave}_{figure}"], results["checkout"][f"{wave}_{figure}"]
            figures[f"baseline_{wave}_{figure}"], figures[f"checkout_{wave}_{figure}"] = base, new
            if base > 0:
                figures[f"against_baseline_{wave}_{figure}"] = new / base
    return figures


def _format_baseline(report: dict[str, Any], label: str) -> str:
    lines = [
        f"AsyncClient alone, one process each: {label} against this checkout",
        f"{'':30} {'baseline':>24} {'this checkout':>24} {'checkout / baseline':>24}",
    ]
    for wave in WAVES:
        for figure, title, digits in (("calls_per_s", "calls/s", 0), ("cpu_us", "CPU us/call", 0)):
            cells = []
            for key, places in (
                (f"baseline_{wave}_{figure}", digits),
                (f"checkout_{wave}_{figure}", digits),
                (f"against_baseline_{wave}_{figure}", 2),
            ):
                value = report["figures"].get(key)
                cells.append(
                    "-"
                    if value is None
                    else f"{value['median']:.{places}f} [{value['min']:.{places}f}-{value['max']:.{places}f}]"
                )
            lines.append(f"{f'{wave} in flight ({title})':30} {cells[0]:>24} {cells[1]:>24} {cells[2]:>24}")
    return "\n".join(lines)


def _format(report: dict[str, Any]) -> str:
    rows = [
        ("serial p50 (us)", "sync_serial_p50_us", "async_serial_p50_us", "serial_ratio"),
        *(
            (
                f"{wave} in flight (calls/s)",
                f"sync_{wave}_calls_per_s",
                f"async_{wave}_calls_per_s",
                f"in_flight_{wave}_ratio",
            )
            for wave in WAVES
        ),
        *(
            (f"{wave} in flight (CPU us/call)", f"sync_{wave}_cpu_us", f"async_{wave}_cpu_us", f"cpu_{wave}_ratio")
            for wave in WAVES
        ),
    ]

    def cell(key: str, digits: int) -> str:
        figure = report["figures"].get(key)
        if figure is None:
            return "-"
        return f"{figure['median']:.{digits}f} [{figure['min']:.{digits}f}-{figure['max']:.{digits}f}]"

    lines = [f"{'':30} {'Client':>24} {'AsyncClient':>24} {'AsyncClient / Client':>24}"]
    for title, sync_key, async_key, ratio_key in rows:
        lines.append(f"{title:30} {cell(sync_key, 0):>24} {cell(async_key, 0):>24} {cell(ratio_key, 2):>24}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print the table and write the JSON; returns the exit code."""
    parser = benchmark_parser("benchmarks.asyncio_client", __doc__.split("\n")[0], DEFAULT_OUTPUT)
    parser.add_argument(
        "--baseline",
        metavar="DIR_OR_REVISION",
        help="Also run AsyncClient's in-flight workloads of another pysoa_like (a directory or a git revision)",
    )
    parser.add_argument("--async-only", metavar="HOST:PORT", help=argparse.SUPPRESS)  # a --baseline process
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.calls, args.warmup = 1, 200, 20
    if args.async_only:
        host, port = args.async_only.rsplit(":", 1)
        print(json.dumps(_async_only((host, int(port)), args.calls)))
        return 0
    try:
        with contextlib.ExitStack() as stack:
            baseline = stack.enter_context(prepared_baseline(args.baseline)) if args.baseline else None
            return _run(args, baseline)
    except ValueError as exc:
        parser.error(str(exc))


def _run(args: argparse.Namespace, baseline: Baseline | None) -> int:
    from pysoa_like.test.redis import RedisServerProcess

    like = next(implementation for implementation in implementations(None) if implementation.key == "like")
    started = time.monotonic()
    reps: list[dict[str, float]] = []
    with RedisServerProcess() as redis_server, tempfile.TemporaryDirectory(prefix="pysoa-like-bench-") as scratch:
        config = {"redis": list(redis_server.address), "service": SERVICE}
        servers = []
        try:
            for _ in range(2):
                servers.append(start_server(like, config, Path(scratch) / "server.log"))
            for rep in range(args.reps):
                figures = _repetition(_settings(redis_server.address), args.calls, args.warmup)
                if baseline is not None:
                    figures.update(_against_baseline(baseline, redis_server.address, args.calls, rep))
                reps.append(figures)
                print(f"repetition {rep + 1}/{args.reps} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
            for server in servers:
                server.check_alive()
        except BenchmarkError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        finally:
            for server in servers:
                server.stop()
    report = {
        "figures": {
            key: summarize([figures[key] for figures in reps if key in figures])
            for key in sorted({key for figures in reps for key in figures})
        },
        "config": {"reps": args.reps, "calls": args.calls, "warmup": args.warmup, "waves": list(WAVES)},
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(f"AsyncClient against Client, {args.reps} repetitions, {report['elapsed_s']} s (2 worker processes)")
    print(_format(report))
    if baseline is not None:
        print(_format_baseline(report, baseline.label))
    write_report(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
