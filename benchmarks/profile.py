"""Profile pysoa_like's client and server with cProfile during one benchmark workload.

``python -m benchmarks.profile [--calls N] [--top K] [--workload serial|big|throughput]`` starts a
throwaway redis-server and one pysoa_like server (under the real runner, profiling from ``setup`` to
``teardown``), runs the workload in a profiled client process, stops the server and prints the top
functions of each side by cumulative and by own time. The ``.prof`` files stay in
``benchmarks/results/`` for ``snakeviz`` or ``python -m pstats``. Both sides are timed in CPU time
(``time.process_time``), so waiting for Redis does not count; cProfile slows each call down several
times, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import io
import pstats
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks._procs import REPO_ROOT, implementations, run_client, start_server

__all__ = ["main", "top_functions"]

RESULTS = REPO_ROOT / "benchmarks" / "results"


def top_functions(paths: Sequence[Path], sort: str, top: int) -> str:
    """pstats' listing of the ``top`` functions of the merged ``paths``, sorted by ``sort``."""
    stream = io.StringIO()
    stats = pstats.Stats(*(str(path) for path in paths), stream=stream)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    return stream.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the profiled serial workload and print both sides' top functions."""
    from pysoa_like.test.redis import RedisServerProcess

    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="Timed serial calls (default 3000)")
    parser.add_argument("--top", type=int, default=15, help="Functions listed per table (default 15)")
    parser.add_argument(
        "--workload", choices=("serial", "big", "throughput"), default="serial", help="What to profile (default serial)"
    )
    args = parser.parse_args(argv)
    like = next(impl for impl in implementations(None) if impl.key == "like")
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_prefix = RESULTS / "profile-server.prof"
    client_path = RESULTS / "profile-client.prof"
    for old in RESULTS.glob("profile-server.prof.*"):
        old.unlink()
    with RedisServerProcess() as redis_server:
        config = {"redis": list(redis_server.address), "service": "bench_like", "profile": str(server_prefix)}
        server = start_server(like, config, RESULTS / "profile-server.log")
        try:
            spec = {
                "redis": config["redis"],
                "service": "bench_like",
                "workload": args.workload,
                "calls": args.calls,
                "warmup": 100,
                "wave": 100,
                "warmup_waves": 1,
                "size": 1024 * 1024,
                "big_calls": max(1, args.calls // 100),
                "big_warmup": 1,
                "redis_pid": redis_server.pid,
                "server_pids": [server.pid],
                "profile": str(client_path),
            }
            result = run_client(like, spec, timeout=600)
        finally:
            server.stop()
    server_paths = sorted(RESULTS.glob("profile-server.prof.*"))
    if not server_paths:
        print("the server wrote no profile (did it stop gracefully?)", file=sys.stderr)
        return 1
    summary = {key: round(value, 1) for key, value in result.items() if isinstance(value, float)}
    print(f"{args.workload} under cProfile: {summary}")
    for side, paths in (("CLIENT", [client_path]), ("SERVER", server_paths)):
        for sort in ("cumulative", "tottime"):
            print(f"===== {side}: top {args.top} by {sort} =====")
            print(top_functions(paths, sort, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
