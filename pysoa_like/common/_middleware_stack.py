"""Composing middleware around a handler, the one rule for clients, servers and coroutines alike.

Each middleware contributes a wrapper factory (``m.request``, ``m.job``, ``m.action``, ``m.coroutine``)
that takes the next handler and returns a new one. The first middleware listed is the outermost: it
sees a request first and its response last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["build_middleware_stack"]

_H = TypeVar("_H")


def build_middleware_stack(wrappers: Iterable[Callable[[_H], _H]], base: _H) -> _H:
    """Wrap ``base`` in ``wrappers`` so that the first one listed is the outermost.

    Args:
        wrappers: Wrapper factories, outermost first.
        base: The innermost handler.

    Returns:
        The composed handler (``base`` itself when there are no wrappers).
    """
    for wrap in reversed(list(wrappers)):
        base = wrap(base)
    return base
