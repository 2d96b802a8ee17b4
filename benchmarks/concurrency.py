"""One worker process serving many jobs at once: ``python -m benchmarks.concurrency [--reps R] [--memory-calls N]``.

The service has one action, ``wait``, that awaits 10 ms of I/O (``asyncio.sleep``), and ``block``, a plain action
that sleeps 10 ms in its thread. One worker process (``Server.run``, no supervisor) serves it with
``concurrency`` 1 (PySOA's worker: one job at a time) or 100, and three client processes send waves of 100
parallel calls each, more than the worker takes at once, so that it is seldom idle. Per repetition, run one after the
other on one throwaway Redis:

* ``concurrency 1``, coroutine action: the baseline;
* ``concurrency 100``, coroutine action: jobs on the event loop;
* ``concurrency 100``, blocking action: jobs in the worker's thread pool.

Throughput is calls answered per second over the whole run (first call sent to last answer). The ratios to the
baseline are taken within each repetition; the table shows ``median [min-max]``. Then a memory run: ``concurrency``
100 serving ``--memory-calls`` calls of the coroutine action, the worker's resident memory sampled as it goes
(after a warm-up of a tenth of the calls, and at the end). Never part of the test suite's verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._stats import median

__all__ = ["main"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_SERVICE = "bench_concurrency"
# Seconds of I/O (or blocking sleep) per job.
_JOB_SECONDS = 0.01
_CLIENT_PROCESSES = 3
_WAVE = 100  # parallel calls per wave of one client process: up to 300 in flight, more than the worker takes


def _transport(redis_address: list[Any], side: str) -> dict[str, Any]:
    return {
        "path": f"pysoa_like.common.transport.redis_gateway.{side}:Redis{side.title()}Transport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [tuple(redis_address)]}},
    }


def serve(config: dict[str, Any]) -> None:
    """The worker: serves ``wait`` and ``block`` with ``config["concurrency"]`` until SIGTERM."""
    from pysoa_like.server.action.base import Action
    from pysoa_like.server.server import Server
    from pysoa_like.server.types import EnrichedActionRequest

    class WaitAction(Action):
        async def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            await asyncio.sleep(_JOB_SECONDS)
            return {"n": request.body["n"]}

    class BlockAction(Action):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            time.sleep(_JOB_SECONDS)
            return {"n": request.body["n"]}

    class ConcurrencyBenchServer(Server):
        service_name = _SERVICE
        action_class_map = {"wait": WaitAction, "block": BlockAction}

        def setup(self) -> None:
            super().setup()
            sys.stdout.write(f"READY {os.getpid()}\n")
            sys.stdout.flush()

    settings = {
        "transport": _transport(config["redis"], "server"),
        "concurrency": config["concurrency"],
        "registry": {"enabled": False},
    }
    # Logging is not configured (Server.run, not main): Python's default WARNING level, so no request log lines,
    # at either concurrency.
    ConcurrencyBenchServer(settings).run()


def drive(config: dict[str, Any]) -> None:
    """One client process: ``config["calls"]`` calls of ``config["action"]`` in waves of ``_WAVE`` parallel calls
    (one write for the wave's requests, replies read as they come); prints its start and end times."""
    from pysoa_like.client.client import Client

    client = Client({_SERVICE: {"transport": _transport(config["redis"], "client")}})
    calls, action = config["calls"], config["action"]
    started = time.time()
    done = 0
    while done < calls:
        numbers = range(done, min(done + _WAVE, calls))
        actions = [{"action": action, "body": {"n": n}} for n in numbers]
        responses = client.call_actions_parallel(_SERVICE, actions, timeout=120)
        if [response.body["n"] for response in responses] != list(numbers):
            raise AssertionError("a call got another call's answer")
        done += len(actions)
    print(json.dumps({"started": started, "ended": time.time(), "calls": calls}))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _module_command(role: str, config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "benchmarks.concurrency", role, json.dumps(config)]


class _Worker:
    def __init__(self, redis_address: list[Any], concurrency: int, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                _module_command("serve", {"redis": redis_address, "concurrency": concurrency}),
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"the benchmark worker did not start:\n{log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _run(redis_address: list[Any], concurrency: int, action: str, calls: int, scratch: Path) -> dict[str, Any]:
    """Serve ``calls`` calls of ``action`` with one worker of ``concurrency``; throughput and memory samples."""
    worker = _Worker(redis_address, concurrency, scratch / f"worker-{concurrency}-{action}.log")
    samples: list[tuple[float, int]] = []  # (Unix time, the worker's RSS in KiB)
    stop_sampling = threading.Event()
    try:
        per_client = -(-calls // _CLIENT_PROCESSES)
        spec = {"redis": redis_address, "action": action, "calls": per_client}
        clients = [
            subprocess.Popen(_module_command("drive", spec), cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
            for _ in range(_CLIENT_PROCESSES)
        ]

        def sample() -> None:
            while not stop_sampling.wait(0.5):
                samples.append((time.time(), _rss_kib(worker.process.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        outputs = [client.communicate(timeout=900)[0] for client in clients]
        stop_sampling.set()
        sampler.join()
        for client in clients:
            if client.returncode != 0:
                raise RuntimeError(f"a benchmark client failed; worker log:\n{worker.log_path.read_text()[-3000:]}")
        results = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
        rss_end = _rss_kib(worker.process.pid)
    finally:
        stop_sampling.set()
        worker.stop()
    first, last = min(r["started"] for r in results), max(r["ended"] for r in results)
    total = sum(r["calls"] for r in results)
    # Memory once a tenth of the run is done (buffers and caches grown), and its highest while calls ran.
    during = [rss for at, rss in samples if first <= at <= last] or [rss_end]
    warm = next((rss for at, rss in samples if at >= first + (last - first) / 10), rss_end)
    return {
        "calls": total,
        "seconds": last - first,
        "per_second": total / (last - first),
        "rss_kib": {"after_a_tenth": warm, "peak": max(during), "end": rss_end},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the repetitions and the memory run, print the table; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("serve", "drive"):
        (serve if argv[0] == "serve" else drive)(json.loads(argv[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="Repetitions (default 3)")
    parser.add_argument("--baseline-calls", type=int, default=300, help="Calls at concurrency 1 (default 300)")
    parser.add_argument("--calls", type=int, default=15000, help="Calls at concurrency 100 (default 15000)")
    parser.add_argument("--memory-calls", type=int, default=100000, help="Calls of the memory run (default 100000)")
    parser.add_argument("--smoke", action="store_true", help="Tiny counts, one repetition: checks the benchmark works")
    parser.add_argument("--output", type=Path, help="Also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.baseline_calls, args.calls, args.memory_calls = 1, 30, 600, 1200

    from pysoa_like.test.redis import RedisServerProcess

    rows: dict[str, list[float]] = {"c1": [], "c100": [], "c100_blocking": []}
    ratios: dict[str, list[float]] = {"c100": [], "c100_blocking": []}
    started = time.monotonic()
    with RedisServerProcess() as redis_server, tempfile.TemporaryDirectory(prefix="pysoa-like-conc-") as scratch:
        address = list(redis_server.address)
        for rep in range(args.reps):
            redis_server.flush()
            base = _run(address, 1, "wait", args.baseline_calls, Path(scratch))["per_second"]
            rows["c1"].append(base)
            for key, action in (("c100", "wait"), ("c100_blocking", "block")):
                redis_server.flush()
                figure = _run(address, 100, action, args.calls, Path(scratch))["per_second"]
                rows[key].append(figure)
                ratios[key].append(figure / base)
            print(f"repetition {rep + 1}/{args.reps} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        redis_server.flush()
        memory = _run(address, 100, "wait", args.memory_calls, Path(scratch))
    labels = {
        "c1": "concurrency 1, async 10 ms I/O",
        "c100": "concurrency 100, async 10 ms I/O",
        "c100_blocking": "concurrency 100, blocking 10 ms (threads)",
    }
    print(f"One worker process; {args.reps} repetitions; {time.monotonic() - started:.0f} s")
    print(f"{'workload':45} {'calls/s median [min-max]':>30} {'x concurrency 1':>24}")
    for key, label in labels.items():
        values = rows[key]
        figure = f"{median(values):.0f} [{min(values):.0f}-{max(values):.0f}]"
        ratio = ""
        if key in ratios:
            r = ratios[key]
            ratio = f"{median(r):.1f} [{min(r):.1f}-{max(r):.1f}]"
        print(f"{label:45} {figure:>30} {ratio:>24}")
    rss = {key: kib / 1024 for key, kib in memory["rss_kib"].items()}
    print(
        f"memory: {memory['calls']} calls at concurrency 100 in {memory['seconds']:.0f} s "
        f"({memory['per_second']:.0f}/s); worker RSS {rss['after_a_tenth']:.1f} MiB after a tenth of them, "
        f"{rss['end']:.1f} MiB at the end (peak {rss['peak']:.1f} MiB)"
    )
    if args.output:
        args.output.write_text(json.dumps({"throughput": rows, "ratios": ratios, "memory": memory}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
