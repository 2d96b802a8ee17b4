"""One job on the concurrent worker's event loop: the coroutine twin of the request cycle's job pipeline.

:class:`LoopJobPipeline` runs a job as a task of the loop: the job middleware's and action middleware's
coroutine hooks (:meth:`~pysoa_like.server.middleware.ServerMiddleware.async_job` and
:meth:`~pysoa_like.server.middleware.ServerMiddleware.async_action`), then each action: a coroutine action
awaited on the loop, a plain one run in the worker's thread pool (in a copy of the job's context, so logging
context, the job's deadline and the current identity follow it there). Validation, error responses, metrics
and the request log are the request cycle's own methods, shared with the one-job-at-a-time path.

:func:`runs_on_loop` decides whether a server can use it: when a middleware has only plain hooks, or the
server overrides the pipeline's methods, the worker runs each job whole in its thread pool instead (the
one-job-at-a-time pipeline, with coroutine actions handed back to the loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import time
from typing import TYPE_CHECKING, Any

from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.common.logging import RUNNING_ACTION_NAME
from pysoa_like.common.types import ActionResponse, JobResponse, job_response_to_dict
from pysoa_like.server._coroutine_actions import JOB_DEADLINE, is_coroutine_action
from pysoa_like.server._request_cycle import RequestCycleMixin, empty_job_response, unknown_action_error
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.middleware import AsyncActionHandler, AsyncJobHandler
from pysoa_like.server.middleware import runs_on_loop as middleware_runs_on_loop
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest, job_switches

if TYPE_CHECKING:
    from pysoa_like.server._concurrent_worker import JobState
    from pysoa_like.server.server import Server

__all__ = ["CURRENT_JOB", "LoopJobPipeline", "runs_on_loop"]

#: The job a task of the loop is running (what the time-limit answer reports: the action in progress and the
#: actions done).
CURRENT_JOB: contextvars.ContextVar[JobState | None] = contextvars.ContextVar("pysoa_like_current_job", default=None)

# The request cycle's methods the loop pipeline stands in for: a server overriding one keeps its own (in threads).
_PIPELINE_METHODS = ("process_job", "execute_job", "make_middleware_stack")


def runs_on_loop(server: Server) -> bool:
    """Whether ``server``'s jobs can run on the loop: every middleware has coroutine hooks (or no hooks), and the
    server keeps the stock job pipeline."""
    kind = type(server)
    return all(middleware_runs_on_loop(m) for m in server.middleware) and all(
        getattr(kind, name) is getattr(RequestCycleMixin, name) for name in _PIPELINE_METHODS
    )


class LoopJobPipeline:
    """Runs jobs as tasks of the loop (see the module docstring).

    Args:
        server: The server.
        pool: The thread pool plain actions run in.
    """

    def __init__(self, server: Server, pool: concurrent.futures.ThreadPoolExecutor) -> None:
        self.server = server
        self.pool = pool
        execute: AsyncJobHandler = self.execute_job
        self._job_stack = build_middleware_stack([m.async_job for m in server.middleware], execute)
        self._action_wrappers = [m.async_action for m in server.middleware]

    async def job_response(self, state: JobState) -> dict[str, Any]:
        """Run the job (hooks, request log, middleware, actions) and return its response as a dict."""
        server = self.server
        token = JOB_DEADLINE.set(state.deadline)
        try:
            server.perform_pre_request_actions()
            server._request_logger.log_request(state.job_request)
            job_response = await self.process_job(state.job_request)
            return job_response_to_dict(job_response, state.client_version)
        except Exception as exc:
            return server._unconvertible(exc, state.context, state.client_version)
        finally:
            JOB_DEADLINE.reset(token)

    async def process_job(self, job_request: Any) -> JobResponse:
        """:meth:`~pysoa_like.server.server.Server.process_job` on the loop."""
        server = self.server
        try:
            enriched = server._enriched_job(job_request)
            if isinstance(enriched, JobResponse):
                return enriched
            response = await self._job_stack(enriched)
            if "correlation_id" in enriched.context:
                response.context["correlation_id"] = enriched.context["correlation_id"]
            return response
        except Exception as exc:
            return server._job_failed(exc)

    async def execute_job(self, job_request: EnrichedJobRequest) -> JobResponse:
        """:meth:`~pysoa_like.server.server.Server.execute_job` on the loop (the base of the job stack)."""
        server = self.server
        response = empty_job_response()
        state = CURRENT_JOB.get()
        if state is not None:
            state.response = response
        switches = job_switches(job_request.context)
        continue_on_error = bool(job_request.control.get("continue_on_error", False))
        deadline = job_request.deadline
        for action_request_raw in job_request.actions:
            name = action_request_raw.action
            if deadline is not None and time.time() >= deadline:
                server._deadline_passed(response, name, deadline)
                break
            request, action_timer = server._begin_action(response, job_request, name, action_request_raw.body, switches)
            action_name = RUNNING_ACTION_NAME.set(name)
            if state is not None:
                state.action = name
            try:
                action = server.get_action(name)
                if action is None:
                    action_response = ActionResponse(action=name, errors=[unknown_action_error(name, True)])
                else:
                    action_response = await self._action_stack(action)(request)
            except ActionError as exc:
                action_response = ActionResponse(action=name, errors=exc.errors)
            except JobError:
                raise
            except Exception as exc:
                action_response = server.handle_unhandled_exception(exc, ActionResponse, action=name)
            finally:
                RUNNING_ACTION_NAME.reset(action_name)
                if action_timer is not None:
                    action_timer.stop()
                if state is not None:
                    state.action = None
            if server._action_done(response, name, action_response, continue_on_error):
                break
        return response

    def _action_stack(self, action: Any) -> AsyncActionHandler:
        async def run(request: EnrichedActionRequest) -> ActionResponse:
            if is_coroutine_action(action):
                result: Any = action(request)
            else:
                context = contextvars.copy_context()
                result = await asyncio.get_running_loop().run_in_executor(self.pool, context.run, action, request)
            if inspect.isawaitable(result):
                result = await result
            return result  # type: ignore[no-any-return]

        call: AsyncActionHandler = run
        return build_middleware_stack(self._action_wrappers, call) if self._action_wrappers else call
