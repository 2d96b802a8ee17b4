"""The gateway benchmark still runs: a tiny run prints both ways, the overhead and the JSON (never a speed check)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(150)
def test_gateway_benchmark_prints_the_overhead(tmp_path: Path) -> None:
    """`python -m benchmarks.gateway --smoke` exits 0, prints the direct and gateway medians and the overhead."""
    output = tmp_path / "gateway.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.gateway", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for label in ("direct AsyncClient call", "direct Client call", "through the gateway"):
        assert re.search(rf"^{label}.* median +[0-9.]+ us per call", completed.stdout, re.M), completed.stdout
    assert re.search(r"^gateway overhead .* ratio [0-9.]+ x", completed.stdout, re.M), completed.stdout
    figures = json.loads(output.read_text())
    assert figures["reps"] == 1 and figures["gateway_us"]["median"] > 0 and figures["async_client_us"]["median"] > 0
