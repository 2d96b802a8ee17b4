"""The lowest allowed release of each core dependency, read from the installed project's metadata.

``python tools/core_floors.py`` prints ``name==floor`` for every unconditional requirement of
``pysoa_like`` with a ``>=floor`` bound (redis, msgpack, attrs): ``make test-lowest`` and ``tox -e lowest``
install exactly those. ``--check`` exits non-zero unless each installed version equals its floor,
so a lowest-versions run can never pass on newer releases by mistake.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys

# "name" then comma-separated specifiers ("redis<9,>=5.0.1"), with no extra or environment marker.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*([^;\[]*)$")
_LOWER_BOUND = re.compile(r"^\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")


def core_floors(distribution: str = "pysoa_like") -> dict[str, str]:
    """Return ``{name: floor}`` for the distribution's unconditional requirements with a ``>=`` bound (an
    upper bound beside it, as in ``redis>=5.0.1,<9``, is allowed)."""
    floors = {}
    for requirement in importlib.metadata.requires(distribution) or []:
        match = _REQUIREMENT.match(requirement)
        if not match:
            continue
        for specifier in match.group(2).split(","):
            bound = _LOWER_BOUND.match(specifier)
            if bound:
                floors[match.group(1)] = bound.group(1)
    return floors


def _same_release(installed: str, floor: str) -> bool:
    def parts(version: str) -> list[int]:
        numbers = [int(part) for part in re.findall(r"\d+", version.split("+")[0])]
        while numbers and numbers[-1] == 0:
            numbers.pop()
        return numbers

    return parts(installed) == parts(floor)


def main(argv: list[str]) -> int:
    floors = core_floors()
    if not floors:
        print("no core floors found: is pysoa_like installed in this environment?", file=sys.stderr)
        return 2
    if argv[1:] == ["--check"]:
        wrong = {
            name: importlib.metadata.version(name)
            for name, floor in floors.items()
            if not _same_release(importlib.metadata.version(name), floor)
        }
        for name, installed in wrong.items():
            print(f"{name} {installed} is installed, not its floor {floors[name]}", file=sys.stderr)
        if not wrong:
            print("core dependencies at their floors: " + ", ".join(f"{n} {v}" for n, v in floors.items()))
        return 1 if wrong else 0
    print("\n".join(f"{name}=={floor}" for name, floor in floors.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
