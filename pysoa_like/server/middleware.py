"""Server middleware: wrappers around the whole job and around each action.

Middleware are configured in the ``middleware`` server setting (``{"path": ..., "kwargs": ...}``)
and composed like an onion: the first one listed is the outermost, so it sees the request first
and the response last. The job stack is built once when the server starts; the action stack is
built for every action call (around a fresh action instance).

A server with ``concurrency`` above 1 runs its jobs on an asyncio event loop. There, a middleware's
coroutine hooks (:meth:`ServerMiddleware.async_job`, :meth:`ServerMiddleware.async_action`) are
used when it has them; a middleware with only the plain hooks still works, but then each job runs
whole in the server's thread pool (see ``docs/asyncio.rst``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest

__all__ = ["AsyncActionHandler", "AsyncJobHandler", "ServerMiddleware"]

JobHandler = Callable[[EnrichedJobRequest], JobResponse]
ActionHandler = Callable[[EnrichedActionRequest], ActionResponse]
AsyncJobHandler = Callable[[EnrichedJobRequest], Awaitable[JobResponse]]
"""What :meth:`ServerMiddleware.async_job` wraps and returns: a coroutine function of the job."""
AsyncActionHandler = Callable[[EnrichedActionRequest], Awaitable[ActionResponse]]
"""What :meth:`ServerMiddleware.async_action` wraps and returns: a coroutine function of one action's request."""


class ServerMiddleware:
    """Base class for server middleware; both hooks return their argument unchanged by default.

    Example::

        class TimingMiddleware(ServerMiddleware):
            def action(self, process_action):
                def handler(request):
                    started = time.monotonic()
                    try:
                        return process_action(request)
                    finally:
                        log.info("%s took %.3fs", request.action, time.monotonic() - started)
                return handler
    """

    def job(self, process_job: JobHandler) -> JobHandler:
        """Wrap job processing.

        Args:
            process_job: The next handler: takes an :class:`EnrichedJobRequest`, returns a ``JobResponse``.

        Returns:
            A handler with the same signature.
        """
        return process_job

    def action(self, process_action: ActionHandler) -> ActionHandler:
        """Wrap one action call.

        Args:
            process_action: The next handler: takes an :class:`EnrichedActionRequest`, returns an
                ``ActionResponse``.

        Returns:
            A handler with the same signature.
        """
        return process_action

    def async_job(self, process_job: AsyncJobHandler) -> AsyncJobHandler:
        """Wrap job processing on a concurrent server's event loop (``concurrency`` above 1).

        Override it together with :meth:`job`, which a server running one job at a time (and the local
        transport) still uses; the two should do the same thing.

        Args:
            process_job: The next handler: a coroutine function of the :class:`EnrichedJobRequest`.

        Returns:
            A coroutine function with the same signature.
        """
        return process_job

    def async_action(self, process_action: AsyncActionHandler) -> AsyncActionHandler:
        """Wrap one action call on a concurrent server's event loop (``concurrency`` above 1).

        Override it together with :meth:`action`. The example above, for the event loop::

            def async_action(self, process_action):
                async def handler(request):
                    started = time.monotonic()
                    try:
                        return await process_action(request)
                    finally:
                        log.info("%s took %.3fs", request.action, time.monotonic() - started)
                return handler

        Args:
            process_action: The next handler: a coroutine function of the :class:`EnrichedActionRequest`.

        Returns:
            A coroutine function with the same signature.
        """
        return process_action


def runs_on_loop(middleware: ServerMiddleware) -> bool:
    """Whether ``middleware`` can run on the event loop: each plain hook it overrides has a coroutine twin."""
    kind = type(middleware)
    return (kind.job is ServerMiddleware.job or kind.async_job is not ServerMiddleware.async_job) and (
        kind.action is ServerMiddleware.action or kind.async_action is not ServerMiddleware.async_action
    )


def check_coroutine_hooks(middleware: ServerMiddleware) -> None:
    """Refuse a middleware with a coroutine hook but not its plain twin (which the one-job-at-a-time path needs).

    Raises:
        ValueError: Naming the middleware and the missing hook.
    """
    kind = type(middleware)
    for plain, coroutine in (("job", "async_job"), ("action", "async_action")):
        if getattr(kind, coroutine) is not getattr(ServerMiddleware, coroutine) and getattr(kind, plain) is getattr(
            ServerMiddleware, plain
        ):
            raise ValueError(
                f"Server middleware {kind.__module__}.{kind.__qualname__} defines {coroutine} but not {plain}: a "
                f"server handling one job at a time (concurrency 1, the local transport) calls {plain}, so define "
                "both (doing the same thing)"
            )
