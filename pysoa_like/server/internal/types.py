"""Switch helpers: turn "switch constants" into ints and hold a request's active switches.

A switch is a feature-flag integer carried in ``context["switches"]``. Services often name their
switches with constants: plain ints, ``IntEnum`` members, or objects whose ``value`` is int-like.
Every helper here accepts all of those forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, SupportsInt, runtime_checkable

from pysoa_like.core.switches import get_switch, is_switch

__all__ = ["RequestSwitchSet", "SupportsIntValue", "SwitchSet", "get_switch", "is_switch"]


@runtime_checkable
class SupportsIntValue(Protocol):
    """An object whose ``value`` attribute can be converted to an int (a plain ``Enum`` member, say)."""

    @property
    def value(self) -> SupportsInt: ...


class SwitchSet(frozenset[int]):
    """An immutable set of switch ints that accepts switch constants wherever a switch is expected.

    Args:
        switches: Switch ints or switch constants.
    """

    def __new__(cls, switches: Iterable[Any] | None = None) -> SwitchSet:
        return super().__new__(cls, (get_switch(s) for s in switches) if switches else ())

    def __contains__(self, switch: object) -> bool:
        if isinstance(switch, int) and not isinstance(switch, bool):
            return frozenset.__contains__(self, switch)
        return is_switch(switch) and frozenset.__contains__(self, get_switch(switch))

    def is_active(self, switch: Any) -> bool:
        """Whether ``switch`` (an int or switch constant) is in this set."""
        return switch in self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self)!r})"


class RequestSwitchSet(SwitchSet):
    """The switches active for one request (``request.switches``)."""
