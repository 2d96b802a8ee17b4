"""Shared test configuration."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests import run_summary

# pytester runs pytest in-process (the test plan plugin's tests use it).
pytest_plugins = ["pytester"]

_TESTS = Path(__file__).resolve().parent
# Tests that need Conformity itself live here and run in Conformity's own environment
# (`make test-conformity`), because Conformity's attrs<22 pin does not fit the main one.
_CONFORMITY_TESTS = _TESTS / "conformity"
# Folders whose tests share costly session fixtures (the interop venv and deployments, the six-node cluster, the
# dashboard's and gateway's servers and browser) or time themselves (the benchmark smoke runs): under pytest-xdist
# each runs whole in one worker, as each other test file does (see pytest_collection_modifyitems).
_KEPT_TOGETHER = [
    _TESTS / "interop",
    _TESTS / "integration" / "cluster",
    _TESTS / "functional" / "dashboard",
    _TESTS / "functional" / "gateway",
]
_BENCH_SMOKE = "bench_smoke"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Leave ``tests/conformity`` out where Conformity is not installed (reported in the summary)."""
    if collection_path == _CONFORMITY_TESTS and importlib.util.find_spec("conformity") is None:
        run_summary.note(
            f"{collection_path}: not collected here (Conformity is not installed in this environment); "
            "`make test-conformity` (or `tox -e conformity`) runs it in Conformity's own environment; "
            "`make test` runs both."
        )
        return True
    return None


def _group(path: Path) -> str:
    """The pytest-xdist group of a test in ``path``: its kept-together folder, else its file."""
    for folder in _KEPT_TOGETHER:
        if folder in path.parents:
            return str(folder.relative_to(_TESTS.parent))
    if path.name.endswith(f"{_BENCH_SMOKE}.py"):
        return _BENCH_SMOKE
    return str(path)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test an ``xdist_group``, so ``--dist loadgroup`` keeps a file's (or a folder's) tests together.

    Module and session fixtures are then started once, and tests that share them run in order, as without
    xdist; only whole groups run beside each other. (Conformity's environment has no pytest-xdist.)
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(Path(str(item.path)).resolve())))


def _summary_lines() -> list[str]:
    from tests.browser import MISSING

    return [*run_summary.LINES, *(f"NOT RUN: {message}." for message in MISSING)]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hand the summary's lines to the controller (which prints the summary)."""
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["summary_lines"] = _summary_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the pytest-xdist controller, take the summary's lines of a worker that finished."""
    for line in getattr(node, "workeroutput", {}).get("summary_lines", []):
        run_summary.note(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which folder was left out and where it runs instead, so nothing goes untested in silence."""
    for line in dict.fromkeys(_summary_lines()):
        terminalreporter.write_line(line)
