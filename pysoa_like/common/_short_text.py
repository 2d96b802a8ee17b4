"""Short renderings of values that came from peers, for log lines and error messages (no I/O, no state)."""

from __future__ import annotations

import reprlib

__all__ = ["MAXIMUM_LOG_LINE_CHARACTERS", "cap_line", "short_repr"]

#: The longest text :func:`cap_line` keeps by default (longer ones are cut, saying how much was cut).
MAXIMUM_LOG_LINE_CHARACTERS = 1000

_REPR = reprlib.Repr()
_REPR.maxstring = 120
_REPR.maxother = 120
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def short_repr(value: object) -> str:
    """A repr of ``value`` of at most about 200 characters, whatever its size or depth."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a broken __repr__ in a peer-supplied value must not break the log line
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 200 else text[:197] + "..."


def cap_line(text: str, limit: int = MAXIMUM_LOG_LINE_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
