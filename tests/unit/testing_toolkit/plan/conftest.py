"""Helpers of the test plan tests.

Test modules import the plan aliases ``TestCase`` and ``TestFixture`` renamed (``PlanCase``, ``PlanFixture``):
pytest on Python 3.10 takes a ``dict[...]`` or ``list[...]`` alias named ``Test*`` for a test class and fails the
collection with a warning.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.test.plan.grammar import directive as directive_module
from pysoa_like.test.plan.grammar.directive import TestFixture
from pysoa_like.test.plan.parser import ServiceTestPlanFixtureParser


@pytest.fixture
def parse(tmp_path: Path) -> Callable[..., TestFixture]:
    """``parse(text, name="plan")``: write ``text`` (dedented) to ``<name>.pysoa`` and parse it."""

    def parse_text(text: str, name: str = "plan") -> TestFixture:
        path = tmp_path / f"{name}.pysoa"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return ServiceTestPlanFixtureParser(str(path), name).parse_test_fixture()

    return parse_text


@pytest.fixture
def directive_registry() -> Iterator[None]:
    """Restore the directive registry (and the entry-point cache) after a test changes it."""
    saved: dict[str, Any] = {
        "REGISTERED_DIRECTIVES": list(directive_module.REGISTERED_DIRECTIVES),
        "ENTRY_POINT_DIRECTIVES": list(directive_module.ENTRY_POINT_DIRECTIVES),
        "FAILED_ENTRY_POINTS": list(directive_module.FAILED_ENTRY_POINTS),
        "_entry_points_loaded": directive_module._entry_points_loaded,
    }
    yield
    for name, value in saved.items():
        current = getattr(directive_module, name)
        if isinstance(current, list):
            current[:] = value
        else:
            setattr(directive_module, name, value)


def call_hooks(hook: str, *args: Any, **kwargs: Any) -> None:
    """Call ``hook`` on a fresh instance of every registered directive, in order (as the runner does)."""
    for directive in directive_module.get_all_directives():
        getattr(directive(), hook)(*args, **kwargs)
