"""Calling user code from the fleet features: declared callables or server method names, sync or coroutine."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["bind_to_server", "finish"]


def bind_to_server(target: Callable[..., Any] | str, server: Any, what: str) -> Callable[..., Any]:
    """``target`` itself, or the method of ``server`` it names.

    Args:
        target: A callable, or a method name.
        server: The server.
        what: What the callable is for, for the error ("to handle events").

    Raises:
        AttributeError: The server has no such method.
    """
    if isinstance(target, str):
        method = getattr(server, target, None)
        if not callable(method):
            raise AttributeError(f"{type(server).__name__} has no method {target!r} {what}")
        return method  # type: ignore[no-any-return]
    return target


def finish(result: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Run ``result`` to completion if it is awaitable (on ``loop``, else on a new loop closed afterwards)."""
    if not inspect.isawaitable(result):
        return
    if loop is not None:
        loop.run_until_complete(result)
        return
    own = asyncio.new_event_loop()
    try:
        own.run_until_complete(result)
    finally:
        own.close()
