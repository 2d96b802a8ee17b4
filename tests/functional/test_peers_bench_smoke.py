"""The peers benchmark (``python -m benchmarks.peers``) runs end to end: every figure of every client it could
start, ratios against every peer measured, and a peer whose package is missing reported as skipped.

Only that the benchmark works is checked here, never how fast anything is (machines are noisy).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
_PEER_MODULES = {"grpc": ("grpc", "google.protobuf"), "faststream": ("faststream",)}
_SMOKE_WAVES = (10, 50)


def _importable(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


def _run(tmp_path: Path, prelude: str = "") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    output = tmp_path / "peers.json"
    arguments = ["--smoke", "--output", str(output)]
    code = f"{prelude}import sys; from benchmarks.peers import main; sys.exit(main({arguments!r}))"
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed, json.loads(output.read_text())


def _assert_figures(report: dict[str, Any], clients: set[str], peers: set[str]) -> None:
    assert set(report["labels"]) == clients | peers
    workloads = ["serial_p50_us", *(f"{wave}_calls_per_s" for wave in _SMOKE_WAVES)]
    assert set(report["figures"]) == {f"{client}_{workload}" for client in clients | peers for workload in workloads}
    for summary in report["figures"].values():
        assert 0 < summary["min"] <= summary["median"] <= summary["max"]
    assert set(report["ratios"]) == {
        f"{like}_over_{peer}_{workload}" for like in clients for peer in peers for workload in workloads
    }
    for summary in report["ratios"].values():
        assert 0 < summary["min"] <= summary["median"] <= summary["max"]
    assert len(report["machine"]["load_average_before"]) == 3


@pytest.mark.timeout(300)
def test_smoke_run_measures_every_installed_peer(tmp_path: Path) -> None:
    """Both pysoa_like clients and every peer whose package is installed (`make venv` installs the peers group)
    have all their figures and ratios; the others are listed as skipped."""
    completed, report = _run(tmp_path)
    installed = {peer for peer, modules in _PEER_MODULES.items() if _importable(modules)}
    _assert_figures(report, {"client", "async_client"}, installed)
    assert set(report["skipped"]) == set(_PEER_MODULES) - installed
    if installed:
        assert "pysoa_like / peer" in completed.stdout


@pytest.mark.timeout(300)
def test_peers_that_cannot_be_imported_are_skipped_with_the_reason(tmp_path: Path) -> None:
    """With neither grpc nor faststream importable, the run still measures both clients and says why each peer
    was skipped and how to install it."""
    completed, report = _run(tmp_path, "import sys; sys.modules['grpc'] = None; sys.modules['faststream'] = None; ")
    _assert_figures(report, {"client", "async_client"}, set())
    assert set(report["skipped"]) == {"grpc", "faststream"}
    for peer, reason in report["skipped"].items():
        assert "not importable" in reason and "make bench-peers" in reason, (peer, reason)
        assert f"skipped {peer}: not importable" in completed.stdout
