"""Gateway overhead per call: ``python -m benchmarks.gateway [--reps R] [--calls N] [--smoke]``.

One throwaway redis-server, the example ``calculator`` service (one worker, under ``pysoa-like
serve``) and ``pysoa-like gateway`` (its own process, uvicorn) exposing ``calculator.square``. Each
repetition makes ``--calls`` serial calls of ``square`` three ways, one after the other (so drift on a
noisy machine hits all alike):

* **AsyncClient**: ``await AsyncClient.call_action`` in this process, over Redis (what the gateway uses);
* **Client**: ``Client.call_action`` in this process, over Redis;
* **gateway**: ``POST /calculator/square`` with a JSON body over one kept-alive HTTP connection
  (``http.client``, the lightest client at hand, so the figure is mostly the gateway's).

Printed: the median microseconds per call of each (median over repetitions, with min and max), the
gateway's overhead per call against the direct AsyncClient call (gateway minus direct, within each
repetition) and the ratio. The JSON
goes to ``benchmarks/results/gateway.json`` (or ``--output``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks._stats import summarize
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.test.redis import RedisServerProcess
from pysoa_like.test.server import close_client

__all__ = ["main", "time_async", "time_direct", "time_gateway"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "gateway.json"
_START_TIMEOUT = 60.0


def time_direct(client: Client, calls: int) -> float:
    """Serial ``square`` calls with the client; microseconds per call (wall)."""
    started = time.perf_counter()
    for number in range(calls):
        if client.call_action("calculator", "square", {"number": number}).body["square"] != number * number:
            raise AssertionError(f"wrong square of {number}")
    return (time.perf_counter() - started) * 1_000_000 / calls


async def _async_calls(client: AsyncClient, calls: int) -> float:
    started = time.perf_counter()
    for number in range(calls):
        response = await client.call_action("calculator", "square", {"number": number})
        if response.body["square"] != number * number:
            raise AssertionError(f"wrong square of {number}")
    return (time.perf_counter() - started) * 1_000_000 / calls


def time_async(loop: asyncio.AbstractEventLoop, client: AsyncClient, calls: int) -> float:
    """Serial ``square`` calls with the asyncio client on ``loop``; microseconds per call (wall)."""
    return loop.run_until_complete(_async_calls(client, calls))


def _connect(port: int) -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    # http.client writes the headers and the body apart: without TCP_NODELAY, Nagle's algorithm holds the
    # body until the server's delayed ACK (40 ms a call). Browsers and HTTP libraries set it too.
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def time_gateway(port: int, calls: int) -> float:
    """Serial ``POST /calculator/square`` on one new connection (made before timing); microseconds per call.

    A connection per run: uvicorn closes one left idle for 5 s while the other ways are timed.
    """
    connection = _connect(port)
    try:
        return _time_posts(connection, calls)
    finally:
        connection.close()


def _time_posts(connection: http.client.HTTPConnection, calls: int) -> float:
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for number in range(calls):
        connection.request("POST", "/calculator/square", body=b'{"number": %d}' % number, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or json.loads(body)["square"] != number * number:
            raise AssertionError(f"the gateway answered {response.status} {body[:200]!r}")
    return (time.perf_counter() - started) * 1_000_000 / calls


def _wait_for_text(path: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        match = re.search(pattern, path.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(map(str, process.args))} did not start:\n{path.read_text(errors='replace')}")
        time.sleep(0.05)


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child in its own session, stopped (SIGTERM, then SIGKILL) with everything it started."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def run(reps: int, calls: int, warmup: int, scratch: Path) -> dict[str, Any]:
    """Start Redis, the service and the gateway; time both ways ``reps`` times; return the figures."""
    python = sys.executable
    with RedisServerProcess() as redis_server, contextlib.ExitStack() as stack:
        env = {"PYSOA_LIKE_DEMO_REDIS_URL": redis_server.url, "PYTHONPATH": str(REPO_ROOT)}
        serve = [python, "-m", "pysoa_like", "serve", "examples.services:CalculatorServer"]
        stack.enter_context(
            _process([*serve, "--settings", "examples.settings_calculator"], env, scratch / "service.log")
        )
        gateway_command = [python, "-m", "pysoa_like", "gateway", "--redis-url", redis_server.url]
        gateway_command += ["--expose", "calculator:square", "--port", "0"]
        gateway_log = scratch / "gateway.log"
        gateway = stack.enter_context(_process(gateway_command, env, gateway_log))
        port = int(_wait_for_text(gateway_log, r"on http://127\.0\.0\.1:(\d+)/", gateway).group(1))
        transport = {
            "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
            "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [redis_server.url]}},
        }
        client = Client({"calculator": {"transport": transport}})
        stack.callback(close_client, client)
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)
        async_client = AsyncClient({"calculator": {"transport": transport}})
        stack.callback(lambda: loop.run_until_complete(async_client.aclose()))
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            try:
                client.call_action("calculator", "square", {"number": 1}, timeout=1)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        time_async(loop, async_client, warmup)
        time_direct(client, warmup)
        time_gateway(port, warmup)
        direct_async, direct, through = [], [], []
        for _ in range(reps):
            direct_async.append(time_async(loop, async_client, calls))
            direct.append(time_direct(client, calls))
            through.append(time_gateway(port, calls))
    overhead = [g - d for g, d in zip(through, direct_async, strict=True)]
    ratio = [g / d for g, d in zip(through, direct_async, strict=True)]
    return {
        "calls": calls,
        "reps": reps,
        "async_client_us": summarize(direct_async),
        "direct_us": summarize(direct),
        "gateway_us": summarize(through),
        "overhead_us": summarize(overhead),
        "ratio": summarize(ratio),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="Repetitions (default 7)")
    parser.add_argument("--calls", type=int, default=2000, help="Timed calls per repetition and way (default 2000)")
    parser.add_argument("--warmup", type=int, default=300, help="Untimed calls of each way first (default 300)")
    parser.add_argument("--smoke", action="store_true", help="Tiny counts, one repetition: checks the benchmark works")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Where to write the JSON")
    args = parser.parse_args(argv)
    if args.smoke:
        args.reps, args.calls, args.warmup = 1, 20, 5
    if args.calls < 1 or args.reps < 1 or args.warmup < 0:
        parser.error("--calls and --reps must be at least 1, --warmup at least 0")
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
        figures = run(args.reps, args.calls, args.warmup, Path(scratch))
    ways = (("direct AsyncClient call", "async_client_us"), ("direct Client call", "direct_us"))
    for label, key in (*ways, ("through the gateway", "gateway_us")):
        stats = figures[key]
        print(f"{label:<24} median {stats['median']:8.1f} us per call [min {stats['min']:.1f}, max {stats['max']:.1f}]")
    overhead, ratio = figures["overhead_us"], figures["ratio"]
    print(
        f"{'gateway overhead':<24} median {overhead['median']:8.1f} us per call "
        f"[min {overhead['min']:.1f}, max {overhead['max']:.1f}]; ratio {ratio['median']:.2f} x "
        f"[{ratio['min']:.2f}-{ratio['max']:.2f}] over {args.reps} x {args.calls} calls"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
