"""The concurrent-worker benchmark (``make bench``'s second part) still runs end to end, with tiny counts.

Only that it works and reports every figure is checked, never how fast anything is (machines are noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_smoke_run_reports_throughputs_ratios_and_memory(tmp_path: Path) -> None:
    """`python -m benchmarks.concurrency --smoke` exits 0 and its JSON holds each workload's throughput, the
    ratios to concurrency 1 and the memory run (every call answered)."""
    output = tmp_path / "concurrency.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.concurrency", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "x concurrency 1" in completed.stdout
    report = json.loads(output.read_text())
    assert set(report["throughput"]) == {"c1", "c100", "c100_blocking"}
    assert all(len(values) == 1 and values[0] > 0 for values in report["throughput"].values())
    assert set(report["ratios"]) == {"c100", "c100_blocking"}
    assert report["memory"]["calls"] >= 1200
    assert set(report["memory"]["rss_kib"]) == {"after_a_tenth", "peak", "end"}
