"""The concurrent worker: one process running up to ``concurrency`` jobs at once on an asyncio event loop.

:meth:`~pysoa_like.server.server.Server.run` hands over to :class:`ConcurrentWorker` when the ``concurrency``
setting is above 1 (signals, the heartbeat and readiness files, the fleet features and the shutdown around it
stay the worker loop's). Three threads share the work:

* the **main thread** runs the event loop; every job is a task of it. With coroutine-capable middleware (or
  none) the job runs on the loop (:class:`~pysoa_like.server._async_job.LoopJobPipeline`): coroutine actions
  are awaited there, plain actions run in a thread pool of ``concurrency`` threads. Otherwise the whole job
  runs in that pool through the one-job-at-a-time pipeline, its coroutine actions handed back to the loop.
* the **receiver** thread takes a free place (one of ``concurrency``), then receives one request through the
  server transport (its usual blocking receive, a second at most) and hands it to the loop. It stops pulling
  when the server is shutting down, runs the idle actions when nothing came, and backs off during an outage
  exactly as the one-job-at-a-time loop does.
* the **replier** thread sends each job's response as soon as the job hands it over (several, when they come
  together, then one wait for Redis' acknowledgements), and keeps the jobs' time limits: a job still running
  at ``harakiri.timeout``, or at its deadline (the request's expiry), is answered there and then
  (``ACTION_TIMEOUT``/``JOB_TIMEOUT`` or ``DEADLINE_EXCEEDED``), whether or not the job can be stopped, and
  its task is cancelled (a coroutine stops at its next ``await``; a plain action's thread runs on, its result
  dropped). Harakiri also starts a graceful shutdown of the worker, bounded by ``harakiri.shutdown_grace``,
  as in the one-job-at-a-time worker: something was stuck.

Only the replier decides that a job is answered, so a job is never answered twice: a response handed over
after the job's time limit answer is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import math
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from pysoa_like.common.logging import REQUEST_LOG_CONTEXT
from pysoa_like.common.transport.base import ReceivedMessage, ReceivedMeta
from pysoa_like.common.transport.errors import TransientPySOATransportError
from pysoa_like.common.types import ActionResponse, JobResponse, job_response_to_dict
from pysoa_like.core.message import deadline_of
from pysoa_like.server._async_job import CURRENT_JOB, LoopJobPipeline, runs_on_loop
from pysoa_like.server._error_responses import (
    action_timeout_error,
    deadline_interrupted_error,
    job_time_limit_error,
)
from pysoa_like.server._event_loop import submit_in_context
from pysoa_like.server._harakiri import format_thread_stacks
from pysoa_like.server._outage import OutageTracker
from pysoa_like.server._request_cycle import _correlation_context

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["ConcurrentWorker", "JobState"]

# How long the receiver waits for a free place before looking at shutting_down again.
_PLACE_WAIT_SECONDS = 0.25
# The most requests one receive takes (when the transport can take several in one round trip).
_MOST_PER_RECEIVE = 50
# The longest the replier waits for a response before looking at the time limits again.
_REPLIER_WAIT_SECONDS = 0.25
# How long shutting down waits for the replier to send what it holds.
_REPLIER_STOP_SECONDS = 10.0
_HARAKIRI = "harakiri"
_DEADLINE = "deadline"


class JobState:
    """One job in flight: what the replier needs to answer it, and where it stands."""

    __slots__ = (
        "action",
        "answered",
        "client_version",
        "context",
        "deadline",
        "job_request",
        "limit",
        "limit_kind",
        "meta",
        "request_id",
        "response",
        "started",
        "task",
    )

    def __init__(self, request_id: Any, meta: dict[str, Any], job_request: Any, harakiri_timeout: float) -> None:
        self.request_id = request_id
        self.meta = meta
        self.job_request = job_request
        self.context = _correlation_context(job_request)
        self.client_version: tuple[int, ...] = (0, 40, 0)
        self.started = time.perf_counter()
        #: The job's deadline (absolute Unix time), or ``None``.
        self.deadline = deadline_of(meta.get("__expiry__"))
        now = time.monotonic()
        self.limit = now + harakiri_timeout if harakiri_timeout > 0 else math.inf
        self.limit_kind = _HARAKIRI
        if self.deadline is not None:
            deadline_at = now + (self.deadline - time.time())
            if deadline_at < self.limit:
                self.limit, self.limit_kind = deadline_at, _DEADLINE
        #: The action running now (loop pipeline only), and the job's response so far.
        self.action: str | None = None
        self.response: JobResponse | None = None
        #: Set by the replier only, when it sends (or drops) the job's answer.
        self.answered = False
        self.task: asyncio.Task[None] | None = None


class ConcurrentWorker:
    """Serves until the server shuts down, up to ``server.concurrency`` jobs at once (see the module docstring).

    Args:
        server: The server (set up, signals installed by the caller).
        outage: The worker loop's outage tracker (receive failures back off through it).
    """

    def __init__(self, server: Server, outage: OutageTracker) -> None:
        self.server = server
        self.concurrency = server.concurrency
        self._outage = outage
        self._places = threading.Semaphore(self.concurrency)
        #: The jobs in flight (a dict used as an ordered set; changed on the loop only, read by the replier).
        self.active: dict[JobState, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiving = True
        self._all_done: asyncio.Event | None = None
        self._pipeline: LoopJobPipeline | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._replier = Replier(self)
        # The transport's receive of several requests in one round trip, when it has one.
        self._receive_many = getattr(server.transport, "receive_request_messages", None)
        self._harakiri_fired = threading.Event()
        # Times the worker's idle spells (no job in flight), on the loop, with a recorder only: the receiver's waits
        # overlap running jobs, so they are not the worker's idle time.
        self._idle_timer: Any = None

    def serve(self) -> None:
        """Run the loop until the server shuts down and every job in flight is answered."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        server = self.server
        loop = self._loop = asyncio.get_running_loop()
        self._all_done = asyncio.Event()
        pool = self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, "pysoa-like-job")
        if runs_on_loop(server):
            self._pipeline = LoopJobPipeline(server, pool)
        else:
            server.logger.info(
                "Jobs run in the thread pool (a middleware has no coroutine hooks, or the server overrides "
                "the job pipeline)"
            )
        server.transport.hold_many_requests()
        previous_runner = server._coroutine_runner
        server._coroutine_runner = functools.partial(submit_in_context, loop)
        receiver = threading.Thread(target=self._receive_forever, name="pysoa-like-receiver", daemon=True)
        self._replier.start()
        receiver.start()
        server.logger.info("Serving up to %d jobs at once", self.concurrency)
        self._idle_started()
        try:
            await self._all_done.wait()
        finally:
            self._idle_ended()
            self._receiving = False
            self._replier.stop(_REPLIER_STOP_SECONDS)
            pool.shutdown(wait=False, cancel_futures=True)
            server._coroutine_runner = previous_runner

    # The receiver thread

    def _receive_forever(self) -> None:
        server = self.server
        places = self._places
        try:
            while not server.shutting_down:
                if not places.acquire(timeout=_PLACE_WAIT_SECONDS):
                    continue
                free = 1
                while free < _MOST_PER_RECEIVE and places.acquire(blocking=False):
                    free += 1
                received = self._receive(free)
                for _ in range(free - len(received)):
                    places.release()
                if received and not self._call_soon(self._start, received):
                    return
        finally:
            self._call_soon(self._receiving_stopped)

    def _receive(self, free: int) -> list[ReceivedMessage]:
        """Up to ``free`` requests (several in one round trip when the transport can), or none."""
        server = self.server
        many = self._receive_many
        try:
            if many is not None and free > 1:
                received = server.receive_with(many, free, timed=False) or []
            else:
                one = server.receive_next(timed=False)
                received = [one] if one is not None else []
            self._outage.succeeded()
            return received
        except TransientPySOATransportError as exc:
            server._sleep(self._outage.failed(exc))
            if server._heartbeat is not None:
                # Alive and retrying: a long outage must not look like a stuck worker.
                server._heartbeat.beat()
        except Exception as exc:
            server.logger.error("Unexpected error in the server loop: %s", exc, exc_info=exc)
        return []

    def _call_soon(self, callback: Any, *args: Any) -> bool:
        loop = self._loop
        try:
            assert loop is not None
            loop.call_soon_threadsafe(callback, *args)
            return True
        except RuntimeError:  # the loop is closed: the worker is going away
            return False

    # The loop

    def _receiving_stopped(self) -> None:
        self._receiving = False
        self._maybe_done()

    def _maybe_done(self) -> None:
        if not self._receiving and not self.active and self._all_done is not None:
            self._all_done.set()

    def _start(self, received: list[ReceivedMessage]) -> None:
        timeout = self.server._harakiri.timeout
        loop = self._loop
        assert loop is not None
        for request_id, meta, job_request in received:
            state = JobState(request_id, meta if isinstance(meta, dict) else {}, job_request, timeout)
            self.active[state] = None
            state.task = loop.create_task(self._run(state))

    async def _run(self, state: JobState) -> None:
        server = self.server
        metrics = server._metrics
        counting = server._counting
        server._in_flight += 1
        server._jobs_handled += 1
        job_timer = None
        if counting:
            if server._in_flight == 1:
                self._idle_ended()
            metrics.gauge("server.worker.busy").set(server._in_flight)
            job_timer = metrics.timer("server.job")
            job_timer.start()
        CURRENT_JOB.set(state)
        # The job's task has a context of its own: nothing to reset.
        REQUEST_LOG_CONTEXT.set({"request_id": state.request_id, **state.context})
        try:
            meta = state.meta
            state.client_version = (
                meta.client_version if isinstance(meta, ReceivedMeta) else server._client_version_of(meta)
            )
            response_dict = await self._job_response(state)
            self._replier.put(state, response_dict)
        except asyncio.CancelledError:
            pass  # answered at its time limit by the replier
        except Exception as exc:
            metrics.counter("server.error.unknown").increment()
            server.logger.error("Unexpected error while handling request %r: %s", state.request_id, exc, exc_info=exc)
            self._replier.put(state, None)  # unanswered: the transport is told the job is over
        finally:
            try:
                server.perform_post_request_actions()
            except Exception as exc:
                server.logger.error("perform_post_request_actions failed: %s", exc, exc_info=exc)
            server._in_flight -= 1
            if job_timer is not None:
                job_timer.stop()
                metrics.gauge("server.worker.busy").set(server._in_flight)
                if not server._in_flight:
                    self._idle_started()
            del self.active[state]
            self._places.release()
            self._maybe_done()

    def _idle_started(self) -> None:
        """The worker has no job in flight now: its idle time runs (``server.idle_time``), with a recorder."""
        server = self.server
        if server._counting and self._idle_timer is None:
            timer = self._idle_timer = server._metrics.timer("server.idle_time")
            timer.start()

    def _idle_ended(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.stop()

    async def _job_response(self, state: JobState) -> dict[str, Any]:
        if self._pipeline is not None:
            return await self._pipeline.job_response(state)
        assert self._loop is not None
        context = contextvars.copy_context()
        server = self.server
        response: dict[str, Any] = await self._loop.run_in_executor(
            self._pool,
            context.run,
            server._job_response,
            state.meta,
            state.job_request,
            state.context,
            state.client_version,
        )
        return response

    def cancel(self, state: JobState) -> None:
        """Cancel a job's task (from the replier, at the job's time limit)."""
        task = state.task
        if task is not None:
            self._call_soon(task.cancel)

    def harakiri(self, state: JobState) -> None:
        """A job outlived ``harakiri.timeout``: log the stacks, shut the worker down (bounded by the grace)."""
        server = self.server
        if self._harakiri_fired.is_set():
            return
        self._harakiri_fired.set()
        harakiri = server._harakiri
        server.logger.error(
            "Harakiri: request %r took more than %s seconds; it was answered and the worker shuts down. Thread "
            "stacks:\n%s",
            state.request_id,
            harakiri.timeout,
            format_thread_stacks(),
        )
        server._on_harakiri()
        if harakiri.shutdown_grace > 0:
            timer = threading.Timer(harakiri.shutdown_grace, self._grace_over)
            timer.daemon = True
            timer.start()

    def _grace_over(self) -> None:
        self.server.logger.error("Graceful shutdown after harakiri took too long; exiting the process immediately")
        self.server._harakiri.emergency_exit()


_STOP = object()


class Replier:
    """The replier thread: sends responses as jobs hand them over, and answers jobs at their time limits."""

    def __init__(self, worker: ConcurrentWorker) -> None:
        self.worker = worker
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pysoa-like-replier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, state: JobState, response_dict: dict[str, Any] | None) -> None:
        """Hand over a job's response (from the loop); None when the job ended without one."""
        self._queue.put((state, response_dict))

    def stop(self, timeout: float) -> None:
        """Send what is held, then stop (waiting at most ``timeout``)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        transport = self.worker.server.transport
        while True:
            try:
                item = self._queue.get(timeout=self._wait())
            except queue.Empty:
                item = None
            stop = False
            sent = False
            while item is not None:
                if item is _STOP:
                    stop = True
                else:
                    self._send(*item)
                    sent = True
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if self._answer_overdue() or sent:
                self._flush(transport)
            if stop:
                self._flush(transport)
                return

    def _wait(self) -> float:
        limits = [state.limit for state in list(self.worker.active)]
        if not limits:
            return _REPLIER_WAIT_SECONDS
        return max(min(min(limits) - time.monotonic(), _REPLIER_WAIT_SECONDS), 0.001)

    def _flush(self, transport: Any) -> None:
        try:
            transport.flush_responses()
        except Exception as exc:
            self.worker.server.logger.error("Could not confirm the last responses: %s", exc, exc_info=exc)

    def _send(self, state: JobState, response_dict: dict[str, Any] | None) -> None:
        if state.answered:
            # Answered at its time limit already; what the job came up with later goes nowhere.
            if response_dict is not None:
                self.worker.server.metrics.counter("server.job.late_response_dropped").increment()
            return
        state.answered = True
        server = self.worker.server
        if response_dict is None:
            self._done(state)
            return
        log_context = REQUEST_LOG_CONTEXT.set({"request_id": state.request_id, **state.context})
        try:
            server._respond(
                state.request_id,
                state.meta,
                state.job_request,
                response_dict,
                state.client_version,
                state.context,
                state.started,
            )
        except Exception as exc:
            server.metrics.counter("server.error.unknown").increment()
            server.logger.error("Could not answer request %r: %s", state.request_id, exc, exc_info=exc)
        finally:
            REQUEST_LOG_CONTEXT.reset(log_context)
            self._done(state)

    def _done(self, state: JobState) -> None:
        """Tell the transport the worker is done with the job's request (answered or not)."""
        try:
            self.worker.server.transport.request_done(state.meta)
        except Exception as exc:
            self.worker.server.logger.error("Could not release request %r: %s", state.request_id, exc, exc_info=exc)

    def _answer_overdue(self) -> bool:
        """Answer the jobs past their time limit; whether any was."""
        now = time.monotonic()
        answered = False
        for state in list(self.worker.active):
            if state.answered or state.limit > now:
                continue
            answered = True
            try:
                self._send(state, self._limit_response(state))
            except Exception as exc:  # the replier must live on: every other job's answer depends on it
                state.answered = True
                self.worker.server.logger.error(
                    "Could not answer request %r at its time limit: %s", state.request_id, exc, exc_info=exc
                )
            self.worker.cancel(state)
            if state.limit_kind == _HARAKIRI:
                self.worker.harakiri(state)
        return answered

    def _limit_response(self, state: JobState) -> dict[str, Any]:
        """The answer of a job at its time limit: the actions done, then the error of the one in progress."""
        server = self.worker.server
        metrics = server.metrics
        action = state.action
        harakiri = state.limit_kind == _HARAKIRI
        if harakiri:
            error = action_timeout_error(action) if action else job_time_limit_error(server._harakiri.timeout)
            metrics.counter("server.error.harakiri", harakiri_level="action" if action else "job").increment()
        else:
            error = deadline_interrupted_error(action)
            metrics.counter("server.error.deadline_exceeded").increment()
        done = list(state.response.actions) if state.response is not None else []
        if action:
            if server._counting:
                metrics.counter("server.action.error", action=action, code=error.code).increment()
            response = JobResponse(actions=[*done, ActionResponse(action=action, errors=[error])])
        else:
            response = JobResponse(errors=[error], actions=done)
        response.context.update(state.context)
        return job_response_to_dict(response, state.client_version)
