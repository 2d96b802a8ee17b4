"""Side effects of the library service, patched by the plans' ``mock`` directives."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)
SENT: list[tuple[str, dict[str, Any]]] = []


def next_reference(prefix: str) -> str:
    """A new reference such as ``L-1``."""
    return f"{prefix}-{next(_counter)}"


def notify(member_id: str, **details: Any) -> None:
    """Record a notification (a real service would send a message)."""
    SENT.append((member_id, details))
