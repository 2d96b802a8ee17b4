"""The install hints of the test plans name the extra as the package metadata spells it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def _declared_extras() -> set[str]:
    """The extra names of pyproject.toml, as written there (read without tomllib, which Python 3.10 lacks)."""
    text = (ROOT / "pyproject.toml").read_text()
    optional = text.split("[project.optional-dependencies]")[1].split("\n[")[0]
    return set(re.findall(r"^([\w-]+) = \[", optional, re.M))


def _normalized(extra: str) -> str:
    """PEP 685's form of an extra name: what the built metadata's Provides-Extra says."""
    return re.sub(r"[-_.]+", "-", extra).lower()


def test_the_missing_extra_error_names_an_extra_that_old_pips_install() -> None:
    """Without pyparsing, importing the plan package names a declared extra, spelt as the metadata spells it."""
    script = "import sys; sys.modules['pyparsing'] = None; import pysoa_like.test.plan"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    hint = re.search(r"ImportError: .*pysoa_like\[([^\]]+)\]", result.stderr)
    assert hint, result.stderr
    extra = hint.group(1)
    assert extra in _declared_extras()
    # pip before 23.3 compares the requested extra with the metadata's without normalizing it.
    assert extra == _normalized(extra)
