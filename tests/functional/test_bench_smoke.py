"""The benchmark suite still runs end to end: a smoke run with tiny counts produces every figure.

Only that the suite works is checked here, never how fast anything is (machines are noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks._report import FIGURES, RATIOS, TARGETS
from tests.interop._pysoa_venv import ensure_pysoa_venv

REPO_ROOT = Path(__file__).resolve().parents[2]
_SMOKE_BUDGET_SECONDS = 40


@pytest.mark.timeout(900)
def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    """`python -m benchmarks.run --smoke` finishes within 40 s and its JSON holds every figure, ratio and target."""
    # Built (or found) first, so a cold venv build does not count against the smoke run's budget.
    ensure_pysoa_venv()
    output = tmp_path / "smoke.json"
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=_SMOKE_BUDGET_SECONDS + 20,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert elapsed < _SMOKE_BUDGET_SECONDS
    assert "serial p50 (us)" in completed.stdout
    report = json.loads(output.read_text())
    assert set(report["figures"]) == {"floor", "like", "pysoa"}
    for implementation, figures in report["figures"].items():
        for key, _, _ in FIGURES:
            summary = figures[key]
            assert summary["min"] <= summary["median"] <= summary["max"], (implementation, key)
            assert len(summary["values"]) == 1
        for key in ("serial_p50_us", "throughput_calls_per_s", "big_ms"):
            assert figures[key]["median"] > 0, (implementation, key)
    assert set(report["ratios"]) == {key for key, *_ in RATIOS}
    assert [target["key"] for target in report["targets"]] == [key for _, _, key, _, _ in TARGETS]
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["redis_server"]
