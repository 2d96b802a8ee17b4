"""A second pysoa_like to benchmark against: another checkout, or the package as it was at a git revision.

``--baseline`` (of ``benchmarks.run`` and ``benchmarks.local``) takes a directory holding a
``pysoa_like/`` package (a git worktree of an older commit, say) or a git revision of this repository
(``main``, ``HEAD~3``, a commit hash), whose ``pysoa_like/`` is then extracted with ``git archive``
into a temporary directory. Either way the baseline's processes run this checkout's ``benchmarks``
modules with the baseline's ``pysoa_like``: they start in a directory holding nothing but that
package (``python -m`` puts the current directory first on ``sys.path``) and find ``benchmarks`` on
``PYTHONPATH``. Comparing old and new code in the same run is the only honest comparison on a noisy
machine, where the same code measures differently from one minute to the next.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Baseline", "prepared_baseline"]

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Where a baseline's processes start, and how they find this checkout's ``benchmarks`` package.

    Attributes:
        label: A short name for tables (``pysoa_like @ <revision>`` or the directory's name).
        start_dir: The working directory of its processes (holds only its ``pysoa_like``).
    """

    label: str
    start_dir: Path

    def environment(self) -> dict[str, str]:
        """The extra environment of its processes: this checkout on ``PYTHONPATH``, after ``start_dir``."""
        return {"PYTHONPATH": str(REPO_ROOT)}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def _extract_revision(revision: str, target: Path) -> str:
    """Extract ``pysoa_like/`` as of ``revision`` into ``target``; returns the short commit hash.

    Raises:
        ValueError: ``revision`` names no commit of this repository.
    """
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except subprocess.CalledProcessError as exc:
        raise ValueError(f"--baseline {revision!r} is neither a directory nor a git revision") from exc
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "pysoa_like"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tempfile.TemporaryFile() as buffer:
        buffer.write(archive)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, filter="data")
            else:  # pragma: no cover - Python releases before the extraction filters
                tar.extractall(target)
    return commit[:10]


@contextlib.contextmanager
def prepared_baseline(spec: str) -> Iterator[Baseline]:
    """The baseline named by ``spec`` (a directory or a git revision), ready for the length of the block.

    Raises:
        ValueError: ``spec`` is a directory without a ``pysoa_like`` package, or no git revision.
    """
    with tempfile.TemporaryDirectory(prefix="pysoa-like-baseline-") as scratch:
        start_dir = Path(scratch)
        given = Path(spec).expanduser()
        if given.is_dir():
            package = given.resolve() / "pysoa_like"
            if not (package / "__init__.py").is_file():
                raise ValueError(f"--baseline {spec!r}: the directory holds no pysoa_like package")
            if package.parent == REPO_ROOT:
                raise ValueError(f"--baseline {spec!r} is this checkout itself")
            os.symlink(package, start_dir / "pysoa_like")
            label = f"pysoa_like @ {given.resolve().name}"
        else:
            label = f"pysoa_like @ {_extract_revision(spec, start_dir)}"
        yield Baseline(label, start_dir)


def run_in_checkout(cwd: Path, env: dict[str, str], module_args: Sequence[str]) -> dict[str, Any]:
    """Run ``python -m <module_args>`` in ``cwd`` (a checkout or an extracted baseline) and return the JSON object on
    its last line of output; the process must have imported the ``pysoa_like`` of ``cwd``.

    Raises:
        BenchmarkError: The process failed, or imported another ``pysoa_like``.
    """
    from benchmarks._procs import BenchmarkError  # _procs imports this module

    completed = subprocess.run(
        [sys.executable, "-m", *module_args],
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"the process in {cwd} failed:\n{completed.stdout}\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if not Path(result["package"]).resolve().is_relative_to((cwd / "pysoa_like").resolve()):
        raise BenchmarkError(f"the process started in {cwd} imported pysoa_like from {result['package']}")
    return result
