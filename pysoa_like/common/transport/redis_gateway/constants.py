"""Constants of the Redis Gateway transport (PySOA's module path); they live in :mod:`pysoa_like.core.constants`."""

from __future__ import annotations

from pysoa_like.core.constants import *  # noqa: F403
from pysoa_like.core.constants import __all__ as _core_all

__all__ = list(_core_all)
