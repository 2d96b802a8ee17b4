"""The PySOA 1.4.9 venv builder: cache marker, rebuild rules, failure reporting and the build lock."""

from __future__ import annotations

import json
import stat
import sys
import threading
import time
from pathlib import Path

import pytest
from packaging.markers import Marker

from tests.interop import _pysoa_venv
from tests.interop._pysoa_venv import PySOAVenv, PySOAVenvError, ensure_pysoa_venv, venv_is_complete

_FAKE_PIP_FAILURE = "ERROR: No matching distribution found for pysoa==1.4.9"


def _write_executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _fake_complete_venv(directory: Path, python_tag: str, requirements: str | None = None) -> None:
    _write_executable(directory / "bin" / "python", "#!/bin/sh\nexit 0\n")
    marker = dict(_pysoa_venv._expected_marker(), python=python_tag)
    if requirements is not None:
        marker["requirements"] = requirements
    (directory / _pysoa_venv._MARKER_NAME).write_text(json.dumps(marker), encoding="utf-8")


def test_cached_venv_holds_pysoa_1_4_9_and_its_pins(pysoa_venv: PySOAVenv) -> None:
    """The cached venv is complete for this Python and holds PySOA 1.4.9 with redis 3 and msgpack 0.6."""
    assert venv_is_complete(pysoa_venv.directory)
    assert pysoa_venv.versions["pysoa"] == "1.4.9"
    assert pysoa_venv.versions["redis"].startswith("3.")
    assert pysoa_venv.versions["msgpack"].startswith("0.6.")


def test_cached_venv_holds_exactly_the_locked_releases(pysoa_venv: PySOAVenv) -> None:
    """What the venv holds is what pysoa-requirements.txt pins for this Python, nothing more or less."""
    marker = json.loads((pysoa_venv.directory / _pysoa_venv._MARKER_NAME).read_text(encoding="utf-8"))
    installed = {line.lower() for line in marker["freeze"]}
    locked = set()
    for line in _pysoa_venv.REQUIREMENTS_FILE.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            pin, _, condition = line.rstrip(" \\").partition(";")
            if not condition.strip() or Marker(condition).evaluate():
                locked.add(pin.strip().lower())
    assert installed == locked


def test_marker_for_other_requirements_is_stale(tmp_path: Path) -> None:
    """A venv built from another version of the lock counts as incomplete (so a lock change rebuilds it)."""
    _fake_complete_venv(tmp_path / "old", "{}.{}.{}".format(*sys.version_info[:3]), requirements="0" * 16)
    assert not venv_is_complete(tmp_path / "old")


def test_marker_for_another_python_is_stale(tmp_path: Path) -> None:
    """A venv whose marker names another Python version counts as incomplete (so it is rebuilt)."""
    _fake_complete_venv(tmp_path / "other", "2.7.18")
    _fake_complete_venv(tmp_path / "this", "{}.{}.{}".format(*sys.version_info[:3]))
    assert not venv_is_complete(tmp_path / "other")
    assert venv_is_complete(tmp_path / "this")
    assert not venv_is_complete(tmp_path / "missing")


def test_failed_pip_install_raises_with_pip_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When pip fails, the error names the command and carries pip's output (the tests then fail with it)."""
    # A stand-in interpreter: "-m venv DIR" makes DIR/bin/python, a pip that always fails.
    fake_python = tmp_path / "fake-python"
    failing_pip = f"#!/bin/sh\\necho '{_FAKE_PIP_FAILURE}'\\nexit 1\\n"
    _write_executable(
        fake_python,
        f'#!/bin/sh\nmkdir -p "$3/bin" && printf "{failing_pip}" > "$3/bin/python" && chmod +x "$3/bin/python"\n',
    )
    monkeypatch.setattr(sys, "executable", str(fake_python))
    with pytest.raises(PySOAVenvError) as caught:
        ensure_pysoa_venv(tmp_path / "venv")
    message = str(caught.value)
    assert "pip install" in message and "pysoa-requirements.txt" in message
    assert _FAKE_PIP_FAILURE in message
    assert "exit status 1" in message
    assert not venv_is_complete(tmp_path / "venv")


def test_parallel_callers_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers asking at once wait on the lock: one builds, the other reuses its result."""
    builds: list[Path] = []

    def slow_build(directory: Path) -> PySOAVenv:
        builds.append(directory)
        time.sleep(0.3)
        _fake_complete_venv(directory, "{}.{}.{}".format(*sys.version_info[:3]))
        return PySOAVenv(directory, directory / "bin" / "python", {}, 0.3, built_now=True)

    monkeypatch.setattr(_pysoa_venv, "_build", slow_build)
    results: list[PySOAVenv] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_pysoa_venv(tmp_path / "venv"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(builds) == 1
    assert sorted(result.built_now for result in results) == [False, True]
