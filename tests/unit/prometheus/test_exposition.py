"""Serving the metrics of a ``serve`` process group: scrapes answered while workers create their files."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from pysoa_like.prometheus import METRICS_ENV, MULTIPROC_DIR_ENV, start_exposition


def test_a_scrape_while_a_worker_creates_its_values_file_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's values file that exists but is still empty (created, not yet sized) is left out of the scrape,
    which is answered (it failed with a 500 when a scrape came in between)."""
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(METRICS_ENV, "prometheus")  # as start_exposition sets it: put back after the test
    (tmp_path / "counter_4242.db").write_bytes(b"")
    exposition = start_exposition("svc", None, port=0, host="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{exposition.port}/metrics", timeout=5) as response:
            assert response.status == 200
    finally:
        exposition.close()


@pytest.mark.parametrize("interval", [0, -1.0, float("nan"), float("inf")])
def test_a_textfile_interval_that_is_not_above_0_is_refused(
    interval: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interval of 0 or less (or NaN, infinite) is a ValueError naming it, before anything starts: 0 rewrote
    the textfile in a busy loop."""
    monkeypatch.setenv(MULTIPROC_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(METRICS_ENV, "prometheus")
    with pytest.raises(ValueError, match="interval must be a finite number of seconds above 0"):
        start_exposition("svc", None, textfile=str(tmp_path / "metrics.prom"), interval=interval).close()
    assert not (tmp_path / "metrics.prom").exists()
