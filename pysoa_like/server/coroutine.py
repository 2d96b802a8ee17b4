"""Coroutine middleware: hooks around coroutines scheduled with ``request.run_coroutine``.

Configured in the ``coroutine_middleware`` server setting. For each ``run_coroutine`` call,
:meth:`CoroutineMiddleware.before_run_coroutine` runs for every middleware in order, in the calling
thread (the place to capture thread-local or context state); then each middleware's
:meth:`CoroutineMiddleware.coroutine` wraps the coroutine, applied in reverse so that the first
middleware listed is the outermost wrapper when the coroutine runs on the event loop thread.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["CoroutineMiddleware", "DefaultCoroutineMiddleware"]

_T = TypeVar("_T")

_logger = logging.getLogger("pysoa_like.async")


class CoroutineMiddleware:
    """Base class for coroutine middleware; both hooks do nothing by default."""

    def before_run_coroutine(self) -> None:
        """Called in the thread that calls ``run_coroutine``, before the coroutine is scheduled."""

    def coroutine(self, coroutine: Coroutine[Any, Any, _T]) -> Coroutine[Any, Any, _T]:
        """Wrap the coroutine; return a coroutine that awaits it (or the coroutine itself).

        Args:
            coroutine: The coroutine (or the next middleware's wrapper).

        Returns:
            The coroutine to run instead.
        """
        return coroutine


class DefaultCoroutineMiddleware(CoroutineMiddleware):
    """Logs any exception a scheduled coroutine raises, then re-raises it into its future.

    Callers often never look at the future ``run_coroutine`` returns; without this, such errors
    would vanish silently.
    """

    def coroutine(self, coroutine: Coroutine[Any, Any, _T]) -> Coroutine[Any, Any, _T]:
        return self._logged(coroutine)

    @staticmethod
    async def _logged(coroutine: Coroutine[Any, Any, _T]) -> _T:
        try:
            return await coroutine
        except Exception:
            _logger.exception("Error occurred while awaiting coroutine in request.run_coroutine")
            raise
