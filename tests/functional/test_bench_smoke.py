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

from benchmarks._report import EVENT_IMPLEMENTATIONS, FIGURES, TARGETS, ratio_keys
from tests.interop._pysoa_venv import ensure_pysoa_venv

REPO_ROOT = Path(__file__).resolve().parents[2]
# Generous: CI runs this beside two other test passes on a 2-CPU machine
# (46 s seen there under load for three implementations, 50 s for five beside other gates; 20 s on a quieter
# machine for three).
_SMOKE_BUDGET_SECONDS = 120


@pytest.mark.timeout(900)
def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    """`python -m benchmarks.run --smoke` finishes within 120 s and its JSON holds every figure, ratio and target
    (the events figures for the floor and pysoa_like only), at-least-once delivery's included."""
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
    implementations = {"floor", "like", "alo", "alo_claim", "pysoa"}
    assert set(report["figures"]) == implementations
    for implementation, figures in report["figures"].items():
        for key, _, _ in FIGURES:
            if key.startswith("events_") and implementation not in EVENT_IMPLEMENTATIONS:
                assert key not in figures, (implementation, key)
                continue
            summary = figures[key]
            assert summary["min"] <= summary["median"] <= summary["max"], (implementation, key)
            assert len(summary["values"]) == 1
        for key in ("serial_p50_us", "throughput_calls_per_s", "big_ms"):
            assert figures[key]["median"] > 0, (implementation, key)
    for implementation in EVENT_IMPLEMENTATIONS:
        for key in ("events_published_per_s", "events_handled_per_s", "events_drained_per_s"):
            assert report["figures"][implementation][key]["median"] > 0, (implementation, key)
    assert set(report["ratios"]) == ratio_keys(implementations, report["figures"])
    assert [target["key"] for target in report["targets"]] == [key for _, _, key, _, _ in TARGETS]
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["redis_server"]


@pytest.mark.timeout(600)
def test_smoke_run_with_a_baseline_reports_it_next_to_this_checkout(tmp_path: Path) -> None:
    """`--baseline HEAD` adds the package as committed (run from an extracted copy) and its ratios to the report."""
    output = tmp_path / "smoke.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--smoke",
            "--no-pysoa",
            "--no-delivery",
            "--baseline=HEAD",
            f"--output={output}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(output.read_text())
    assert list(report["figures"]) == ["floor", "base", "like"]
    assert report["labels"]["base"].startswith("pysoa_like @ ")
    assert set(report["ratios"]) == ratio_keys({"floor", "base", "like"}, report["figures"])
    assert report["figures"]["base"]["serial_p50_us"]["median"] > 0
    assert "serial p50 pysoa_like/baseline" in completed.stdout


def test_baseline_that_names_nothing_is_refused_before_anything_starts() -> None:
    """A --baseline that is neither a checkout nor a git revision exits with status 2 and says why."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--no-pysoa", "--baseline", "no-such-revision-xyz"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "neither a directory nor a git revision" in completed.stderr


@pytest.mark.timeout(300)
def test_asyncio_client_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    """`python -m benchmarks.asyncio_client --smoke --baseline HEAD` runs and its JSON holds both clients' figures
    and their ratios, and AsyncClient's figures of the baseline and of this checkout, each in a process of its own."""
    output = tmp_path / "asyncio.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.asyncio_client", "--smoke", "--baseline=HEAD", "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "AsyncClient / Client" in completed.stdout
    figures = json.loads(output.read_text())["figures"]
    for client in ("sync", "async"):
        assert figures[f"{client}_serial_p50_us"]["median"] > 0
        for wave in (100, 1000):
            assert figures[f"{client}_{wave}_calls_per_s"]["median"] > 0
    for client in ("sync", "async"):
        for wave in (100, 1000):
            assert figures[f"{client}_{wave}_cpu_us"]["median"] >= 0
    for ratio in ("serial_ratio", "in_flight_100_ratio", "in_flight_1000_ratio"):
        assert figures[ratio]["min"] <= figures[ratio]["median"] <= figures[ratio]["max"]
    assert "checkout / baseline" in completed.stdout
    for run in ("baseline", "checkout"):
        for wave in (100, 1000):
            assert figures[f"{run}_{wave}_calls_per_s"]["median"] > 0
    for wave in (100, 1000):
        assert figures[f"against_baseline_{wave}_calls_per_s"]["median"] > 0


def test_a_figure_measured_as_zero_gives_no_ratio_rather_than_failing() -> None:
    """A CPU figure below the clock's tick (0 in a tiny run) leaves its ratio out; the other ratios are made."""
    from benchmarks._report import build_report

    floor = {"serial_p50_us": 200.0}
    like = {"serial_p50_us": 300.0, "redis_cpu_us": 0.0}
    at_least_once = {"serial_p50_us": 330.0, "redis_cpu_us": 40.0}
    report = build_report([{"floor": floor, "like": like, "alo": at_least_once}])
    assert report["ratios"]["serial_p50_like_over_floor"]["median"] == 1.5
    assert report["ratios"]["serial_p50_alo_over_like"]["median"] == 1.1
    assert "redis_cpu_alo_over_like" not in report["ratios"]


def test_a_ratio_whose_denominator_was_measured_as_zero_is_not_expected() -> None:
    """A smoke run may measure a CPU figure as 0 (below the clock's tick): the report then has no ratio over it,
    and the expected keys say so; every other ratio is still expected."""
    measured = {"max": 5.0}
    figures = {"floor": {"serial_p50_us": {"max": 0.0}}, "like": {}}
    figures["floor"].update({figure: measured for figure, _label, _format in FIGURES if figure != "serial_p50_us"})
    figures["like"].update({figure: measured for figure, _label, _format in FIGURES})
    expected = ratio_keys({"floor", "like"}, figures)
    assert "serial_p50_like_over_floor" not in expected
    assert expected == ratio_keys({"floor", "like"}) - {"serial_p50_like_over_floor"}
