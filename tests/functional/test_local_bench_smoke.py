"""The local-transport benchmark still runs: a tiny run prints both figures and, with --profile, the tables.

Only that the benchmark works is checked here, never how fast anything is (machines are noisy).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.local import make_client, time_calls
from pysoa_like.test.server import close_client

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_local_benchmark_prints_medians_and_profile() -> None:
    """`python -m benchmarks.local` with tiny counts exits 0 and prints wall and CPU medians and both profile tables."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.local", "--calls", "50", "--reps", "3", "--warmup", "5", "--profile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in ("wall", "CPU"):
        match = re.search(rf"local call \({label}\): median ([0-9.]+) us per call", completed.stdout)
        assert match is not None and float(match.group(1)) > 0, completed.stdout
    assert "top 25 by tottime (50 calls)" in completed.stdout
    assert "top 25 by cumulative (50 calls)" in completed.stdout
    assert "handle_next_request" in completed.stdout


def test_local_benchmark_calls_really_round_trip() -> None:
    """Each timed call reaches the in-process server and comes back with the right square."""
    client = make_client()
    try:
        wall, cpu = time_calls(client, 20)
        assert wall > 0 and cpu >= 0
        assert client.call_action("bench_local", "square", {"number": 12}).body == {"square": 144}
    finally:
        close_client(client)


@pytest.mark.timeout(300)
def test_local_benchmark_against_a_baseline_prints_both_and_the_ratio() -> None:
    """`--baseline HEAD` times the committed package in its own processes too and prints the ratio of the two."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.local", "--calls", "50", "--reps", "2", "--warmup", "5", "--baseline=HEAD"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(r"pysoa_like @ [0-9a-f]{10} \(CPU\): median [0-9.]+ us per call", completed.stdout)
    match = re.search(r"pysoa_like/baseline \(CPU\): median ([0-9.]+)", completed.stdout)
    assert match is not None and float(match.group(1)) > 0, completed.stdout
