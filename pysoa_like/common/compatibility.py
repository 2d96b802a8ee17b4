"""PySOA's context-variable shim, kept so that code importing ``pysoa.common.compatibility`` migrates unchanged.

Compatibility only: pysoa_like itself uses ``contextvars`` directly, and so can new code.

PySOA needed its own ``ContextVar`` class to run on interpreters without ``contextvars`` (Python 2 and 3.5-3.6,
where it fell back to thread locals and patched asyncio). On Python 3.10+ the standard library does all of that, so
:class:`ContextVar` here is a thin wrapper around a :class:`contextvars.ContextVar`, kept only for the spellings the
standard class refuses and PySOA's accepted: the default given by position (``ContextVar("name", "default")``) or
by keyword to ``get`` (``var.get(default="x")``), subclassing, and tokens that name their variable
``token.context_var``. Everything else is the standard library's behaviour: each thread, and each asyncio task, sees
its own value, and a task (also one started on another thread's loop by :func:`asyncio.run_coroutine_threadsafe`)
starts with a copy of its creator's values.

:func:`set_running_loop` does nothing: PySOA needed it on Python 3.5, which had no running-loop tracking.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Generic, TypeVar

__all__ = ["ContextVar", "Token", "set_running_loop"]

_T = TypeVar("_T")

# "No default given" (None is a valid default).
_NO_DEFAULT: Any = object()


class ContextVar(Generic[_T]):
    """A context variable: a value per thread and per asyncio task, set and restored with tokens.

    Args:
        name: The variable's name, for its ``repr`` and debugging.
        default: What :meth:`get` returns when the variable has no value in the current context and no default is
            passed to it; without one, :meth:`get` raises ``LookupError`` then.
    """

    def __init__(self, name: str, default: _T = _NO_DEFAULT) -> None:
        self._default = default
        self._variable: contextvars.ContextVar[_T] = (
            contextvars.ContextVar(name) if default is _NO_DEFAULT else contextvars.ContextVar(name, default=default)
        )

    @property
    def name(self) -> str:
        """The name given when the variable was made."""
        return self._variable.name

    def get(self, default: _T = _NO_DEFAULT) -> _T:
        """The variable's value in the current context.

        Args:
            default: Returned when the variable has no value in the current context (before the variable's own
                default).

        Raises:
            LookupError: The variable has no value in the current context and no default.
        """
        if default is _NO_DEFAULT:
            return self._variable.get()
        return self._variable.get(default)

    def set(self, value: _T) -> Token[_T]:
        """Give the variable ``value`` in the current context.

        Returns:
            The token that :meth:`reset` takes to restore what the variable held before.
        """
        return Token(self, self._variable.set(value))

    def reset(self, token: Token[_T]) -> None:
        """Restore what the variable held before the :meth:`set` that returned ``token`` (no value, if it had none).

        Raises:
            TypeError: ``token`` is not a :class:`Token`.
            ValueError: ``token`` comes from another variable, or was made in another context.
            RuntimeError: ``token`` was used already.
        """
        if not isinstance(token, Token):
            raise TypeError(f"reset() takes the Token that set() returned, got {type(token).__name__}")
        if token.context_var is not self:
            raise ValueError(f"{token!r} was made by another ContextVar than {self!r}")
        self._variable.reset(token.standard_token)

    def __repr__(self) -> str:
        default = "" if self._default is _NO_DEFAULT else f" default={self._default!r}"
        return f"<ContextVar name={self.name!r}{default} at 0x{id(self):x}>"


class Token(Generic[_T]):
    """What :meth:`ContextVar.set` returns: the way back to the variable's previous value, usable once.

    Attributes:
        context_var: The :class:`ContextVar` that made it (PySOA's name; ``var`` is the standard library's).
        standard_token: The ``contextvars.Token`` of the wrapped standard variable.
    """

    #: ``old_value`` of a token whose variable had no value before.
    MISSING = contextvars.Token.MISSING

    def __init__(self, context_var: ContextVar[_T], standard_token: contextvars.Token[_T]) -> None:
        self.context_var = context_var
        self.standard_token = standard_token

    @property
    def var(self) -> ContextVar[_T]:
        """The :class:`ContextVar` that made the token (the standard library's name for it)."""
        return self.context_var

    @property
    def old_value(self) -> Any:
        """The value the variable had before the :meth:`ContextVar.set` that made the token, or :attr:`MISSING`."""
        return self.standard_token.old_value

    def __repr__(self) -> str:
        return f"<Token var={self.context_var!r} at 0x{id(self):x}>"


def set_running_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Do nothing: kept for code written against PySOA, which needed it on Python 3.5 only.

    asyncio tracks the running loop itself (:func:`asyncio.get_running_loop`); this function does not change it.

    Args:
        loop: Ignored.
    """
    del loop
