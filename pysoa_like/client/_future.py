"""FutureSOAResponse: the handle returned by the ``*_future`` client methods."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from pysoa_like.common.transport.errors import MessageReceiveTimeout

__all__ = ["FutureSOAResponse"]

T = TypeVar("T")

_PENDING = object()


class FutureSOAResponse(Generic[T]):
    """A response that can be collected later.

    The request was sent when the future was created. :meth:`result` blocks for the response. The
    first value or non-timeout exception is cached; a :class:`MessageReceiveTimeout` is not, so
    ``result`` may be retried after a timeout.

    Futures must be resolved on the thread that created them, because each thread receives replies
    on its own queue.

    Args:
        get_response: A callable that takes the receive timeout in seconds (or ``None``) and returns
            the final value, raising on failure.
    """

    def __init__(self, get_response: Callable[[float | None], T]) -> None:
        self._get_response = get_response
        self._value: object = _PENDING
        self._error: BaseException | None = None
        self._traceback: TracebackType | None = None

    def result(self, timeout: float | None = None) -> T:
        """Return the response, blocking until it arrives if needed.

        Args:
            timeout: The most seconds to wait; ``None`` uses the call's ``timeout`` or the
                transport's default. Ignored once a value or exception is cached.

        Returns:
            The response the corresponding blocking method would have returned.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time (not cached; call again to keep waiting).
            Exception: Whatever the call raised (cached, re-raised with its original traceback).
        """
        if self._error is not None:
            raise self._error.with_traceback(self._traceback)
        if self._value is not _PENDING:
            return self._value  # type: ignore[return-value]
        try:
            value = self._get_response(timeout)
        except MessageReceiveTimeout:
            raise
        except Exception as exc:
            self._error = exc
            self._traceback = exc.__traceback__
            raise
        self._value = value
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Return the exception the call raised, or ``None`` if it succeeded; blocks like :meth:`result`.

        The outcome is cached exactly as for :meth:`result`.

        Args:
            timeout: As for :meth:`result`.

        Returns:
            The exception, or ``None``.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time (raised, not returned).
        """
        try:
            self.result(timeout)
        except MessageReceiveTimeout:
            raise
        except Exception as exc:
            return exc
        return None

    def running(self) -> bool:
        """Whether the outcome is not known yet (it only becomes known through :meth:`result`/:meth:`exception`)."""
        return not self.done()

    def done(self) -> bool:
        """Whether a value or an exception has been obtained and cached."""
        return self._error is not None or self._value is not _PENDING
