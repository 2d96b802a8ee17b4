"""pysoa_like against what users would pick instead, in one run: ``python -m benchmarks.peers [--reps R] [--smoke]``.

The same workload as ``benchmarks.asyncio_client`` (a ``square`` call: ``{"number": n}`` -> ``{"square": n * n}``),
made by four clients from this one process:

* ``Client`` and ``AsyncClient`` (pysoa_like) against two worker processes of the benchmark service
  (``benchmarks._like``, as ``make bench`` runs it), over one throwaway redis-server;
* gRPC: a ``grpc.aio`` unary call (protobuf messages) to one ``grpc.aio`` server process
  (``benchmarks._peer_grpc``); a client's calls share one HTTP/2 connection, which one process serves;
* FastStream: ``RedisBroker.request`` (its Redis request/reply) through a list served by two FastStream
  worker processes (``benchmarks._peer_faststream``), on the same redis-server.

Each repetition runs, workload by workload, every client in turn (the order rotated from one repetition to the
next, so drift on a noisy machine hits all alike):

* serial: ``--calls`` calls one after the other; the median latency;
* in flight: ``--calls`` calls (at least two waves) made in waves of 100 and of 1,000 at once
  (``call_actions_parallel`` for ``Client``, ``asyncio.gather`` of single calls for the asyncio clients); calls
  per second.

The ratios are pysoa_like's figure over the peer's, taken within each repetition: below 1 is faster for a
latency, above 1 for a throughput. The table shows ``median [min-max]`` over the repetitions; the JSON goes to
``benchmarks/results/peers.json`` (or ``--output``), with the machine's load average before and after. A peer
whose package cannot be imported is skipped with its reason printed and kept in the JSON (``make bench-peers``
installs them: the ``peers`` dependency group). Never part of the test suite's assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._cli import benchmark_parser, write_report
from benchmarks._procs import (
    REPO_ROOT,
    BenchmarkError,
    Implementation,
    ServerProcess,
    implementations,
    python_module_command,
    start_server,
)
from benchmarks._stats import percentile, summarize

# The blocking Client's workloads, as benchmarks.asyncio_client makes them (the same settings and calls).
from benchmarks.asyncio_client import SERVICE, _settings, _sync_serial, _sync_waves
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client

__all__ = ["LIKE", "PEERS", "WAVES", "main"]

DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "peers.json"
FASTSTREAM_LIST = "bench_faststream_square"
WAVES = (100, 1000)
#: pysoa_like's two clients: (key, label).
LIKE = (("client", "Client"), ("async_client", "AsyncClient"))
#: The peers: (key, label, the modules it needs, the PyPI distributions that bring them).
PEERS = (
    ("grpc", "gRPC (grpc.aio)", ("grpc", "google.protobuf"), "grpcio, protobuf"),
    ("faststream", "FastStream (Redis)", ("faststream.redis",), "faststream[redis]"),
)
#: Worker processes per server side: pysoa_like's and FastStream's share their queue; gRPC's one process takes
#: the client's one connection.
_WORKERS = {"like": 2, "grpc": 1, "faststream": 2}

Square = Callable[[int], Awaitable[int]]


def _missing(modules: Sequence[str]) -> str | None:
    """Why one of ``modules`` cannot be imported, or ``None`` if all can."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None


def _check(number: int, result: int) -> None:
    if result != number * number:
        raise BenchmarkError(f"wrong square of {number}: {result!r}")


async def _async_serial(square: Square, calls: int) -> float:
    latencies = []
    clock = time.perf_counter_ns
    for number in range(calls):
        started = clock()
        result = await square(number)
        latencies.append((clock() - started) / 1000.0)
        _check(number, result)
    latencies.sort()
    return percentile(latencies, 0.5)


async def _async_waves(square: Square, calls: int, wave: int) -> float:
    waves = max(2, calls // wave)
    started = time.perf_counter()
    for _ in range(waves):
        results = await asyncio.gather(*(square(n) for n in range(wave)))
        if results != [n * n for n in range(wave)]:
            raise BenchmarkError("wrong squares in a wave")
    return waves * wave / (time.perf_counter() - started)


@dataclasses.dataclass
class _Contender:
    """One client under test: its serial and in-flight workloads, run to completion from outside the loop."""

    key: str
    label: str
    serial: Callable[[int], float]
    waves: Callable[[int, int], float]


def _async_contender(key: str, label: str, loop: asyncio.AbstractEventLoop, square: Square) -> _Contender:
    return _Contender(
        key,
        label,
        lambda calls: loop.run_until_complete(_async_serial(square, calls)),
        lambda calls, wave: loop.run_until_complete(_async_waves(square, calls, wave)),
    )


def _repetition(
    contenders: Sequence[_Contender], rep: int, calls: int, warmup: int, waves: Sequence[int]
) -> dict[str, float]:
    """One repetition: every contender in turn, workload by workload, starting with the ``rep``-th."""
    shift = rep % len(contenders)
    order = [*contenders[shift:], *contenders[:shift]]
    figures: dict[str, float] = {}
    for contender in order:
        contender.serial(warmup)
    for contender in order:
        figures[f"{contender.key}_serial_p50_us"] = contender.serial(calls)
    for wave in waves:
        for contender in order:
            contender.waves(wave, wave)
            figures[f"{contender.key}_{wave}_calls_per_s"] = contender.waves(max(calls, 2 * wave), wave)
    return figures


def _ratios(figures: dict[str, float], peers: Sequence[str], waves: Sequence[int]) -> dict[str, float]:
    """pysoa_like's figures over each peer's, per workload."""
    ratios = {}
    for like, _ in LIKE:
        for peer in peers:
            for figure in ("serial_p50_us", *(f"{wave}_calls_per_s" for wave in waves)):
                ratios[f"{like}_over_{peer}_{figure}"] = figures[f"{like}_{figure}"] / figures[f"{peer}_{figure}"]
    return ratios


def _workloads(waves: Sequence[int]) -> list[tuple[str, str]]:
    return [("serial_p50_us", "serial p50 (us)"), *((f"{w}_calls_per_s", f"{w:,} in flight (calls/s)") for w in waves)]


def _cell(summary: dict[str, Any], digits: int) -> str:
    return f"{summary['median']:,.{digits}f} [{summary['min']:,.{digits}f}-{summary['max']:,.{digits}f}]"


def _format(report: dict[str, Any]) -> str:
    labels: dict[str, str] = report["labels"]
    waves = report["config"]["waves"]
    keys = list(labels)
    lines = [f"{'':30}" + "".join(f"{labels[key]:>26}" for key in keys)]
    for figure, title in _workloads(waves):
        lines.append(f"{title:30}" + "".join(f"{_cell(report['figures'][f'{k}_{figure}'], 0):>26}" for k in keys))
    peers = [key for key, _, _, _ in PEERS if key in labels]
    if peers:
        pairs = [(like, peer) for peer in peers for like, _ in LIKE]
        lines.append("")
        lines.append(
            f"{'pysoa_like / peer':30}" + "".join(f"{labels[like] + ' / ' + labels[peer]:>34}" for like, peer in pairs)
        )
        for figure, title in _workloads(waves):
            title = title.split(" (")[0] + (" (<1: faster)" if figure == "serial_p50_us" else " (>1: faster)")
            lines.append(
                f"{title:30}"
                + "".join(f"{_cell(report['ratios'][f'{like}_over_{peer}_{figure}'], 2):>34}" for like, peer in pairs)
            )
    for key, reason in report["skipped"].items():
        lines.append(f"skipped {key}: {reason}")
    return "\n".join(lines)


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _start(
    implementation: Implementation, config: dict[str, Any], count: int, log: Path, servers: list[ServerProcess]
) -> ServerProcess:
    for _ in range(count):
        servers.append(start_server(implementation, config, log))
    return servers[-1]


def _peer_implementation(key: str, module: str) -> Implementation:
    command = python_module_command(sys.executable, module, "server")
    return Implementation(key, key, command, command)


async def _close(closers: list[Callable[[], Awaitable[None]]]) -> None:
    for close in reversed(closers):
        await close()


def _measure(
    redis_address: Sequence[Any], scratch: Path, peers: Sequence[str], args: argparse.Namespace
) -> tuple[list[dict[str, float]], dict[str, str]]:
    """Start every server, run the repetitions and stop everything; the figures of each repetition."""
    like = next(implementation for implementation in implementations(None) if implementation.key == "like")
    labels = dict(LIKE)
    servers: list[ServerProcess] = []
    loop = asyncio.new_event_loop()
    closers: list[Callable[[], Awaitable[None]]] = []
    client = Client(_settings(redis_address))
    try:
        _start(
            like, {"redis": list(redis_address), "service": SERVICE}, _WORKERS["like"], scratch / "like.log", servers
        )
        async_client = loop.run_until_complete(_make(AsyncClient, _settings(redis_address)))
        closers.append(async_client.aclose)

        async def like_square(number: int) -> int:
            result: int = (await async_client.call_action(SERVICE, "square", {"number": number})).body["square"]
            return result

        contenders = [
            _Contender(
                "client",
                labels["client"],
                lambda calls: _sync_serial(client, calls),
                lambda c, w: _sync_waves(client, c, w)[0],  # (calls per second, CPU per call)
            ),
            _async_contender("async_client", labels["async_client"], loop, like_square),
        ]
        peer_labels = {key: label for key, label, _, _ in PEERS}
        if "grpc" in peers:
            from benchmarks._peer_grpc import GrpcCalls

            server = _start(_peer_implementation("grpc", "benchmarks._peer_grpc"), {}, 1, scratch / "grpc.log", servers)
            grpc_calls = loop.run_until_complete(_make(GrpcCalls, int(server.ready_details or 0)))
            closers.append(grpc_calls.aclose)
            contenders.append(_async_contender("grpc", peer_labels["grpc"], loop, grpc_calls.square))
        if "faststream" in peers:
            from benchmarks._peer_faststream import FastStreamCalls

            config = {"redis": list(redis_address), "list": FASTSTREAM_LIST}
            implementation = _peer_implementation("faststream", "benchmarks._peer_faststream")
            _start(implementation, config, _WORKERS["faststream"], scratch / "faststream.log", servers)
            made = _make(FastStreamCalls, redis_address, FASTSTREAM_LIST, max(args.waves))
            faststream_calls = loop.run_until_complete(made)
            closers.append(faststream_calls.aclose)
            loop.run_until_complete(faststream_calls.start())
            contenders.append(_async_contender("faststream", peer_labels["faststream"], loop, faststream_calls.square))
        labels.update({contender.key: contender.label for contender in contenders})
        reps = []
        started = time.monotonic()
        for rep in range(args.reps):
            reps.append(_repetition(contenders, rep, args.calls, args.warmup, args.waves))
            for server in servers:
                server.check_alive()
            print(f"repetition {rep + 1}/{args.reps} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        return reps, labels
    finally:
        try:
            loop.run_until_complete(_close(closers))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            for server in servers:
                server.stop()


async def _make(factory: Callable[..., Any], *args: Any) -> Any:
    """``factory(*args)`` inside the running loop (the asyncio clients bind to it)."""
    return factory(*args)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print the table and write the JSON; returns the exit code."""
    parser = benchmark_parser(
        "benchmarks.peers",
        __doc__.split("\n")[0],
        DEFAULT_OUTPUT,
        smoke_help="Tiny counts (waves of 10 and 50), one repetition: checks that it works",
    )
    parser.add_argument(
        "--waves", type=int, nargs="+", default=list(WAVES), help="Calls in flight at once (default 100 1000)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.calls, args.warmup, args.waves = 1, 100, 20, [10, 50]
    skipped = {}
    peers = []
    for key, _, modules, distributions in PEERS:
        reason = _missing(modules)
        if reason is None:
            peers.append(key)
        else:
            skipped[key] = f"not importable ({reason}); `make bench-peers` installs {distributions} (the peers group)"
            print(f"skipping {key}: {skipped[key]}", file=sys.stderr)
    from pysoa_like.test.redis import RedisServerProcess

    load_before = _load_average()
    started = time.monotonic()
    with RedisServerProcess() as redis_server, tempfile.TemporaryDirectory(prefix="pysoa-like-peers-") as scratch:
        try:
            reps, labels = _measure(redis_server.address, Path(scratch), peers, args)
        except BenchmarkError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    figures = reps[0].keys()
    ratios = _transpose([_ratios(rep, peers, args.waves) for rep in reps])
    report = {
        "labels": labels,
        "figures": {key: summarize([rep[key] for rep in reps]) for key in figures},
        "ratios": {key: summarize(values) for key, values in ratios.items()},
        "skipped": skipped,
        "config": {
            "reps": args.reps,
            "calls": args.calls,
            "warmup": args.warmup,
            "waves": args.waves,
            "workers": _WORKERS,
        },
        "machine": {"nproc": os.cpu_count(), "load_average_before": load_before, "load_average_after": _load_average()},
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(
        f"pysoa_like against its peers, {args.reps} repetitions, {report['elapsed_s']} s, "
        f"load average {load_before[0]} -> {report['machine']['load_average_after'][0]}"
    )
    print(_format(report))
    write_report(report, args.output)
    return 0


def _transpose(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {key: [row[key] for row in rows] for key in (rows[0] if rows else {})}


if __name__ == "__main__":
    sys.exit(main())
