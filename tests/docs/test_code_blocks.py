"""Every code block of the README and the docs is executed or checked, page by page (see ``_blocks.py``).

Python blocks run in one namespace per page, in order, so a fragment continues the blocks above it.
The docs' example Redis URL (``redis://127.0.0.1:6379/0``) is replaced by a throwaway Redis of the
test suite, so no block ever touches a real server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysoa_like.test.redis import RedisServerProcess
from tests.docs._blocks import KINDS, PAGES, ROOT, all_blocks, page_blocks


@pytest.fixture(scope="module")
def docs_redis() -> Iterator[RedisServerProcess]:
    """The throwaway Redis that stands for the docs' ``redis://127.0.0.1:6379/0``."""
    with RedisServerProcess() as server:
        yield server


def test_every_block_is_handled() -> None:
    """A block nobody handles (no kind, or an unknown one, or text without saying what it is) fails here."""
    problems = [
        f"{block.where}: [{block.language}] {block.kind!r}"
        for block in all_blocks()
        if block.kind not in KINDS or (block.kind == "text" and not block.argument)
    ]
    assert problems == [], "add a `.. doc-test: KIND` comment before each (see docs/development.rst)"


def test_the_kinds_are_documented_for_writers() -> None:
    """docs/development.rst explains every kind of block comment the test understands."""
    text = (ROOT / "docs" / "development.rst").read_text()
    assert [kind for kind in KINDS if f"``{kind}``" not in text] == []


@pytest.mark.timeout(300)  # a page with several pytest examples starts a pytest for each
@pytest.mark.parametrize("page", [page for page in PAGES if page_blocks(page)], ids=lambda page: page.name)
def test_the_code_blocks_of_a_page(page: Path, docs_redis: RedisServerProcess, tmp_path: Path) -> None:
    """Each block of the page, in order, is run or checked as its kind says, in a Python process of its own.

    A process per page, because examples change process-wide state (a registered serializer, a custom
    test plan directive) that other tests must not inherit.
    """
    docs_redis.flush()
    result = subprocess.run(
        [sys.executable, "-m", "tests.docs._run_page", str(page), docs_redis.url, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
