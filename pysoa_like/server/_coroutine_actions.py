"""Coroutine actions: ``async def run`` on an :class:`~pysoa_like.server.action.Action`, or a coroutine function
in ``action_class_map``.

Both are called like any action and give back a coroutine of the :class:`ActionResponse`. A server running
``concurrency`` > 1 jobs awaits it on its event loop (:mod:`pysoa_like.server._concurrent_worker`); a server
running one job at a time hands it to its event loop thread and waits (:func:`wait_for_action`), cancelling it
at the job's deadline or when harakiri interrupts the wait. Either way the action sees the same request, and
its errors become the same responses as a plain action's. :class:`CoroutineAwaitingMixin` is how the request
cycle of a server running one job at a time awaits them.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from pysoa_like.client._deadline import JOB_DEADLINE
from pysoa_like.common.types import ActionResponse

if TYPE_CHECKING:
    # For types only: server.types imports the job runner, which imports this module.
    from pysoa_like.server.types import EnrichedActionRequest

__all__ = [
    "JOB_DEADLINE",
    "CoroutineAwaitingMixin",
    "CoroutineFunctionAction",
    "DeadlineInterrupt",
    "as_action_response",
    "is_coroutine_action",
    "wait_for_action",
]


CoroutineRunner = Callable[[Awaitable[Any], contextvars.Context], "concurrent.futures.Future[Any]"]
# An action as the request cycle calls it.
ActionCallable = Callable[["EnrichedActionRequest"], ActionResponse]


class DeadlineInterrupt(Exception):
    """A coroutine action was cancelled because its job's deadline passed (answered ``DEADLINE_EXCEEDED``)."""


def as_action_response(action: str, result: Any) -> ActionResponse:
    """What a coroutine function action returned, as a response: a response as is, ``None`` an empty body."""
    if isinstance(result, ActionResponse):
        return result
    return ActionResponse(action=action, body={} if result is None else result)


class CoroutineFunctionAction:
    """An ``async def action(request)`` of ``action_class_map``, called like an action class instance.

    The function gets the :class:`~pysoa_like.server.types.EnrichedActionRequest` and returns the response
    body (a dict, or ``None`` for an empty one) or an :class:`ActionResponse`; it raises
    :class:`~pysoa_like.server.errors.ActionError` for errors, as a plain action does.

    Args:
        function: The coroutine function.
    """

    __slots__ = ("function",)

    #: Always a coroutine action.
    is_coroutine_action = True

    def __init__(self, function: Callable[[EnrichedActionRequest], Awaitable[Any]]) -> None:
        self.function = function

    def __call__(self, request: EnrichedActionRequest) -> Coroutine[Any, Any, ActionResponse]:
        return self._run(request)

    async def _run(self, request: EnrichedActionRequest) -> ActionResponse:
        return as_action_response(request.action, await self.function(request))


def is_coroutine_action(action: Any) -> bool:
    """Whether calling ``action`` (an action instance) gives a coroutine, as far as can be told before calling it."""
    return bool(getattr(action, "is_coroutine_action", False)) or inspect.iscoroutinefunction(action)


def is_coroutine_function(value: Any) -> bool:
    """Whether an ``action_class_map`` value is a coroutine function (the action itself, not a factory)."""
    return inspect.iscoroutinefunction(value)


def wait_for_action(future: concurrent.futures.Future[Any], deadline: float | None) -> Any:
    """Wait for a coroutine action running on another thread's loop; cancel it at ``deadline`` or on interrupt.

    Args:
        future: The action's future (see :func:`~pysoa_like.server._event_loop.submit_in_context`).
        deadline: The job's deadline (absolute Unix time), or ``None``.

    Returns:
        What the action returned.

    Raises:
        DeadlineInterrupt: The deadline passed first (the action was cancelled).
        BaseException: What the action raised; or what interrupted the wait (harakiri), after cancelling it.
    """
    timeout = None if deadline is None else max(deadline - time.time(), 0.0)
    try:
        done, _ = concurrent.futures.wait((future,), timeout)
    except BaseException:
        future.cancel()
        raise
    if not done:
        future.cancel()
        raise DeadlineInterrupt()
    return future.result()


class CoroutineAwaitingMixin:
    """How the sync pipeline (:class:`~pysoa_like.server._request_cycle.RequestCycleMixin`) awaits a coroutine
    action: it hands the coroutine to :attr:`_coroutine_runner` and waits for it (:func:`wait_for_action`)."""

    #: Runs a coroutine action met by the sync pipeline: on the event loop thread (one job at a time), or on the
    #: concurrent worker's loop (a job in its thread pool); see :meth:`_await_action`.
    _coroutine_runner: CoroutineRunner

    def _awaiting(self, action: ActionCallable, deadline: float | None) -> ActionCallable:
        """``action`` (a coroutine action) as a blocking callable, for action middleware written for plain actions."""

        def run(request: EnrichedActionRequest) -> ActionResponse:
            result: Any = action(request)
            return self._await_action(result, deadline) if inspect.isawaitable(result) else result

        return run

    def _await_action(self, awaitable: Any, deadline: float | None) -> ActionResponse:
        """Run a coroutine action's awaitable to completion (cancelled at ``deadline`` or by harakiri)."""
        future = self._coroutine_runner(awaitable, contextvars.copy_context())
        result: ActionResponse = wait_for_action(future, deadline)
        return result
