"""Actions: the :class:`Action` base class and the built-in actions.

``from pysoa_like.server.action import Action`` is the usual import.
"""

from __future__ import annotations

from pysoa_like.server.action.base import Action

__all__ = ["Action"]
