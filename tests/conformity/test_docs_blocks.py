"""The docs' code blocks that need Conformity (kind ``conformity``) run here, in Conformity's environment."""

from __future__ import annotations

import pytest

from tests.docs._blocks import Block, all_blocks

_BLOCKS = [block for block in all_blocks() if block.kind == "conformity"]


def test_the_docs_have_conformity_blocks() -> None:
    """The blocks are found (an empty list would make the test below vacuous)."""
    assert _BLOCKS


@pytest.mark.parametrize("block", _BLOCKS, ids=lambda block: block.where)
def test_a_conformity_block_runs(block: Block) -> None:
    """The block runs after its comment's setup code, with the real Conformity installed."""
    namespace: dict[str, object] = {"__name__": "docs_conformity"}
    exec(compile(block.argument, f"{block.where} (setup)", "exec"), namespace)
    exec(compile(block.body, block.where, "exec"), namespace)
