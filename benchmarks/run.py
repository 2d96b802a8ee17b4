"""Run the side-by-side benchmark: ``python -m benchmarks.run [--reps R] [--calls N] [--smoke] [--no-pysoa]``.

One throwaway redis-server serves every repetition. Each repetition runs the floor (raw redis-py),
pysoa_like, pysoa_like with at-least-once delivery (idempotent actions, then claimed ones; not with
``--no-delivery``) and PySOA 1.4.9 one after the other (interleaved, so drift on a noisy machine hits
all alike); ``--baseline DIR_OR_REVISION`` adds another pysoa_like (an older checkout, or the
package at a git revision) right before this checkout's, so old and new code are compared in one
run. Per implementation and repetition: one server is started, the serial and 1 MiB
workloads run against it, a second server is started and the throughput workload runs against
both; then both are stopped. The table shows ``median [min-max]`` over the repetitions; ratios are
taken within each repetition. The JSON goes to ``benchmarks/results/latest.json`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._baseline import Baseline, prepared_baseline
from benchmarks._cli import benchmark_parser, write_report
from benchmarks._procs import (
    REPO_ROOT,
    BenchmarkError,
    Implementation,
    implementations,
    python_module_command,
    run_client,
    start_server,
)
from benchmarks._report import EVENT_IMPLEMENTATIONS, build_report, format_table, rep_figures

__all__ = ["machine_description", "main", "make_parser", "run_benchmarks"]

DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "latest.json"
BIG_SIZE = 1024 * 1024


def make_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = benchmark_parser(
        "benchmarks.run",
        __doc__.split("\n")[0],
        DEFAULT_OUTPUT,
        reps_help="Interleaved repetitions",
        calls_help="Timed calls per serial/throughput run",
        smoke_help="Tiny counts, one repetition: checks the suite works",
    )
    parser.add_argument("--wave", type=int, default=100, help="Calls in flight per throughput wave (default 100)")
    parser.add_argument("--big-calls", type=int, default=30, help="Timed 1 MiB calls (default 30)")
    parser.add_argument("--events", type=int, default=5000, help="Timed events published (default 5000)")
    parser.add_argument("--no-pysoa", action="store_true", help="Skip PySOA 1.4.9 (no interop venv needed)")
    parser.add_argument(
        "--no-delivery", action="store_true", help="Skip pysoa_like with at-least-once delivery (two runs fewer)"
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR_OR_REVISION",
        help="Also run another pysoa_like: a checkout's directory, or a git revision of this repository",
    )
    return parser


def machine_description(redis_client: Any, pysoa_versions: dict[str, str] | None) -> dict[str, Any]:
    """nproc, CPU model, kernel, Python, Redis and library versions."""
    import hiredis  # noqa: F401 - only its presence and version matter
    import msgpack  # type: ignore[import-untyped,unused-ignore]
    import redis

    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_client.info("server")["redis_version"],
        "redis_py": redis.__version__,
        "hiredis": getattr(sys.modules["hiredis"], "__version__", "?"),
        "msgpack": ".".join(map(str, msgpack.version)),
        "pysoa_venv": pysoa_versions,
    }


def _run_implementation(
    implementation: Implementation, redis_server: Any, settings: dict[str, Any], scratch: Path
) -> dict[str, dict[str, Any]]:
    config = {"redis": list(redis_server.address), "service": f"bench_{implementation.key}"}
    redis_server.flush()
    log_path = scratch / f"{implementation.key}-server.log"
    servers = [start_server(implementation, config, log_path)]
    try:
        spec = dict(config, **settings, redis_pid=redis_server.pid, server_pids=[servers[0].pid])
        results = {}
        for workload in ("serial", "big"):
            results[workload] = run_client(implementation, dict(spec, workload=workload), settings["timeout"])
        servers.append(start_server(implementation, config, log_path))
        spec["server_pids"] = [server.pid for server in servers]
        results["throughput"] = run_client(implementation, dict(spec, workload="throughput"), settings["timeout"])
        for server in servers:
            server.check_alive()
        return results
    finally:
        for server in servers:
            server.stop()


def _run_events(key: str, redis_server: Any, settings: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Events published and handled per second with two workers of ``key`` (``floor`` or ``like``)."""
    here = sys.executable
    kind = "floor" if key == "floor" else "like"
    implementation = Implementation(
        key,
        f"{key} events",
        python_module_command(here, "benchmarks._events", f"{kind}-worker"),
        python_module_command(here, "benchmarks._events", f"{kind}-client"),
        package=REPO_ROOT / "pysoa_like" if kind == "like" else None,
    )
    config = {"redis": list(redis_server.address)}
    redis_server.flush()
    log_path = scratch / f"{key}-events.log"
    workers = []
    try:
        for _ in range(2):
            workers.append(start_server(implementation, config, log_path))
        spec = dict(
            config,
            workload="events",
            events=settings["events"],
            warmup=settings["events_warmup"],
            server_pids=[worker.pid for worker in workers],
            redis_pid=redis_server.pid,
        )
        result = run_client(implementation, spec, settings["timeout"])
        for worker in workers:
            worker.check_alive()
        return result
    finally:
        for worker in workers:
            worker.stop()


def run_benchmarks(args: argparse.Namespace, baseline: Baseline | None = None) -> dict[str, Any]:
    """Run every repetition and return the JSON-ready report (also printed as a table)."""
    from pysoa_like.test.redis import RedisServerProcess

    pysoa_python = pysoa_versions = None
    if not args.no_pysoa:
        from tests.interop._pysoa_venv import ensure_pysoa_venv

        venv = ensure_pysoa_venv()
        pysoa_python, pysoa_versions = str(venv.python), venv.versions
    impls = implementations(pysoa_python, baseline, delivery=not args.no_delivery)
    settings = {
        "calls": args.calls,
        "warmup": args.warmup,
        "wave": args.wave,
        "warmup_waves": 1 if args.smoke else 3,
        "size": BIG_SIZE,
        "big_calls": args.big_calls,
        "big_warmup": 1 if args.smoke else 3,
        "events": args.events,
        "events_warmup": 20 if args.smoke else 500,
        "timeout": 300,
    }
    reps: list[dict[str, dict[str, float]]] = []
    raw: list[dict[str, Any]] = []
    started = time.monotonic()
    with RedisServerProcess() as redis_server, tempfile.TemporaryDirectory(prefix="pysoa-like-bench-") as scratch:
        with redis_server.client() as probe:
            machine = machine_description(probe, pysoa_versions)
        for rep in range(args.reps):
            figures, results = {}, {}
            for implementation in impls:
                results[implementation.key] = _run_implementation(implementation, redis_server, settings, Path(scratch))
                if implementation.key in EVENT_IMPLEMENTATIONS:
                    events = _run_events(implementation.key, redis_server, settings, Path(scratch))
                    results[implementation.key]["events"] = events
                figures[implementation.key] = rep_figures(results[implementation.key])
            reps.append(figures)
            raw.append(results)
            print(f"repetition {rep + 1}/{args.reps} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    report = build_report(reps)
    report.update(
        machine=machine,
        config=dict(settings, reps=args.reps, smoke=args.smoke, baseline=args.baseline),
        labels={impl.key: impl.label for impl in impls},
        elapsed_s=round(time.monotonic() - started, 1),
        raw=raw,
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print the table and write the JSON; returns the exit code."""
    args = make_parser().parse_args(argv)
    if args.smoke:
        args.reps, args.calls, args.warmup, args.wave, args.big_calls, args.events = 1, 200, 20, 50, 3, 200
    with contextlib.ExitStack() as stack:
        try:
            baseline = stack.enter_context(prepared_baseline(args.baseline)) if args.baseline else None
        except ValueError as exc:
            print(f"benchmark not started: {exc}", file=sys.stderr)
            return 2
        try:
            report = run_benchmarks(args, baseline)
        except BenchmarkError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    machine = report["machine"]
    print(
        f"{machine['nproc']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"Redis {machine['redis_server']}, redis-py {machine['redis_py']} + hiredis {machine['hiredis']}; "
        f"{args.reps} repetitions, {report['elapsed_s']} s"
    )
    print(format_table(report, report["labels"]))
    write_report(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
