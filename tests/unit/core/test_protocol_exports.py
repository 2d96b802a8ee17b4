"""Tests that the public protocol modules export what they define."""

from __future__ import annotations

import types

import pytest

from pysoa_like.common.transport.redis_gateway import constants, protocol, utils


@pytest.mark.parametrize("module", [constants, protocol, utils])
def test_all_names_exist_and_are_unique(module: types.ModuleType) -> None:
    """Every name in ``__all__`` exists, and ``__all__`` has no duplicates."""
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_protocol_exports_every_public_callable_and_class() -> None:
    """protocol.py re-exports every public function and class of the private modules it imports."""
    public = {
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(protocol.__all__)
