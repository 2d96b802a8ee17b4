"""Shared test configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

# pytester runs pytest in-process (the test plan plugin's tests use it).
pytest_plugins = ["pytester"]

# Tests that need Conformity itself live here and run in Conformity's own environment
# (`make test-conformity`), because Conformity's attrs<22 pin does not fit the main one.
_CONFORMITY_TESTS = Path(__file__).parent / "conformity"
_LEFT_OUT: list[str] = []


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave ``tests/conformity`` out where Conformity is not installed (reported in the summary)."""
    if collection_path == _CONFORMITY_TESTS and importlib.util.find_spec("conformity") is None:
        _LEFT_OUT.append(str(collection_path))
        return True
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which folder was left out and where it runs instead, so nothing goes untested in silence."""
    for path in _LEFT_OUT:
        terminalreporter.write_line(
            f"{path}: not collected here (Conformity is not installed in this environment); "
            "`make test-conformity` (or `tox -e conformity`) runs it in Conformity's own environment; "
            "`make test` runs both."
        )
    from tests.browser import MISSING

    for message in MISSING:
        terminalreporter.write_line(f"NOT RUN: {message}.")
