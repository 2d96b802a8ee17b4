"""tools/core_floors.py finds the floor of every core dependency, so `make test-lowest` installs each one."""

from __future__ import annotations

import importlib.metadata

from tools.core_floors import core_floors


def test_every_core_dependency_has_its_floor_found_even_beside_an_upper_bound() -> None:
    """redis, msgpack and attrs are each listed with the >= bound the installed pysoa_like declares (redis also
    has an upper bound, which once made the lowest-versions run leave it at the locked release)."""
    unconditional = [
        requirement for requirement in importlib.metadata.requires("pysoa_like") or [] if ";" not in requirement
    ]
    floors = core_floors()
    assert set(floors) == {"redis", "msgpack", "attrs"}
    for name, floor in floors.items():
        [requirement] = [r for r in unconditional if r.startswith(name)]
        assert f">={floor}" in requirement.replace(" ", ""), requirement
