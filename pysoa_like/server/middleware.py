"""Server middleware: wrappers around the whole job and around each action.

Middleware are configured in the ``middleware`` server setting (``{"path": ..., "kwargs": ...}``)
and composed like an onion: the first one listed is the outermost, so it sees the request first
and the response last. The job stack is built once when the server starts; the action stack is
built for every action call (around a fresh action instance).
"""

from __future__ import annotations

from collections.abc import Callable

from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest

__all__ = ["ServerMiddleware"]

JobHandler = Callable[[EnrichedJobRequest], JobResponse]
ActionHandler = Callable[[EnrichedActionRequest], ActionResponse]


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
