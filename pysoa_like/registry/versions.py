"""Service versions: parsing and ordering, for minimum-version checks.

A version is a dotted string of numbers with an optional pre-release or local suffix:
``"2"``, ``"1.4.10"``, ``"1.5.0rc1"``, ``"1.5.0-beta.2"``, ``"1.5.0+build7"``. Numbers compare as
numbers (``1.10 > 1.9``), missing parts count as 0 (``1.4 == 1.4.0``), and a pre-release sorts before
its release (``1.5.0rc1 < 1.5.0``); a ``+local`` part is ignored. A version with no leading number at
all (``"unknown"``) is older than every version, so it never satisfies a minimum.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ["ServiceVersion", "meets_minimum"]

_VERSION = re.compile(r"^\s*v?(?P<release>\d+(?:\.\d+)*)(?P<pre>[^+]*?)(?:\+.*)?\s*$")


@total_ordering
class ServiceVersion:
    """A parsed version (see the module docstring for the rules).

    Args:
        text: The version string.
    """

    __slots__ = ("_key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        match = _VERSION.match(text) if isinstance(text, str) else None
        if match is None:
            # Not a version at all: older than everything.
            self._key: tuple[int, tuple[int, ...], int, str] = (0, (), 0, "")
            return
        release = tuple(int(part) for part in match.group("release").split("."))
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        pre = match.group("pre").lstrip(".-_")
        # A release (no suffix) sorts after every pre-release of the same numbers.
        self._key = (1, release, 0 if pre else 1, pre)

    @property
    def is_valid(self) -> bool:
        """Whether the text starts with a version number."""
        return self._key[0] == 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServiceVersion):
            return NotImplemented
        return self._key == other._key

    def __lt__(self, other: ServiceVersion) -> bool:
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"ServiceVersion({self.text!r})"

    def __str__(self) -> str:
        return self.text


def meets_minimum(version: str | None, minimum: str | None) -> bool:
    """Whether ``version`` is at least ``minimum`` (always true without a minimum).

    Args:
        version: A service's version (``None`` or junk never meets a minimum).
        minimum: The minimum required, or ``None``.
    """
    if minimum is None:
        return True
    if version is None:
        return False
    parsed = ServiceVersion(version)
    return parsed.is_valid and parsed >= ServiceVersion(minimum)
