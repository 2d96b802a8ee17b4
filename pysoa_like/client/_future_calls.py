"""The client's calls that do not wait for their reply at once: futures and parallel calls.

A base class of :class:`~pysoa_like.client.client.Client` (its methods are the client's). Every one of them sends
through the call path of ``client.py`` (``Client._send``, ``Client._wait``, ``Client._finish``) and, for the parallel
calls, ``_parallel.py``'s ``ParallelJobs``; a service with resilience policies, or a call with a ``fallback``, goes
through ``_guarded_calls.py`` as a blocking call does. The blocking ``call_action`` and ``call_actions`` are defined
by ``call_action_future`` and ``call_actions_future`` only when these are replaced (``Client._futures_replaced``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client._call_keywords import ActionRequestArgumentIterable, JobRequestArgument, options_by_position
from pysoa_like.client._client_fleet import ClientFleetFeatures
from pysoa_like.client._future import FutureSOAResponse
from pysoa_like.client._guarded_calls import GuardedCall, GuardedJobs
from pysoa_like.client._parallel import (
    ParallelJobs,
    expandable_actions,
    first_action,
    jobs_of_actions,
    parallel_jobs_of,
    raise_errors,
    send_jobs,
)
from pysoa_like.client._resilience import FINISH
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from pysoa_like.client._call_keywords import CallKeywords
    from pysoa_like.client.client import CallOptions

__all__ = ["FutureCalls"]


class FutureCalls(ClientFleetFeatures):
    """``Client``'s futures and parallel calls (see :class:`~pysoa_like.client.client.Client`)."""

    # The call path's own functions (client.py's options_of and action_result), set by Client: this module, which
    # client.py imports, does not import it.
    _options_of: Callable[[Mapping[str, Any]], CallOptions]
    _action_result: Callable[[JobResponse | None], ActionResponse]

    if TYPE_CHECKING:
        # The call path, client.py's.

        def _send(
            self,
            service_name: str,
            actions: ActionRequestArgumentIterable,
            options: CallOptions,
            receive_follows: float | None = None,
        ) -> int: ...

        def _wait(self, service_name: str, request_id: Any, timeout: float | None) -> JobResponse: ...

        def _finish(self, response: JobResponse, options: CallOptions) -> JobResponse: ...

        def _within_deadline(self, service_names: Iterable[str], options: CallOptions) -> CallOptions: ...

        def _expand(self, actions: Iterable[ActionResponse], options: CallOptions) -> None: ...

        def _forget(self, service_name: str, request_id: Any) -> None: ...

    def call_actions_future(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> FutureSOAResponse[JobResponse]:
        """Send one job now; the future's result is what :meth:`call_actions` returns.

        A service with resilience policies, or a call with a ``fallback`` or its own ``retry``, goes through
        them as a blocking call does (see the docs' *Resilience* page): refused or sent now, retried and
        falling back when the result is asked for.

        Args:
            service_name: The service to call.
            actions: The actions, run in order by one server.
            *positional: Options by position, in the order of :meth:`call_actions` (PySOA 1.4.9's).
            **options: The keyword arguments of :meth:`call_actions`.

        Raises:
            ImproperlyConfigured, PySOATransportError: At once, if the job cannot be sent.
            TypeError: At once, for more options by position than PySOA's method took, or one given twice.
        """
        if positional:
            options = options_by_position("Client.call_actions_future", positional, options)
        call = self._options_of(options)
        if self._deadline is not None or self.job_deadline_margin is not None:
            call = self._within_deadline((service_name,), call)
        if call.expansions:
            call = call.with_correlation_id(self.context)
        actions = list(actions)
        policies = self._call_policies(service_name, call)
        if policies is not None or call.fallback is not None:
            guarded = GuardedCall(self, service_name, actions, call, policies)

            def guarded_result(result_timeout: float | None) -> JobResponse:
                kind, value = guarded.wait(result_timeout)
                return self._finish(value, call) if kind is FINISH else value

            return FutureSOAResponse(guarded_result)
        started = time.monotonic()
        request_id = self._send(service_name, actions, call)
        received: list[JobResponse] = []

        def get_result(result_timeout: float | None) -> JobResponse:
            if not call.expects_reply:
                return None  # type: ignore[return-value]  # no reply will ever come
            if not received:
                wait = call.wait_left(started) if result_timeout is None else result_timeout
                received.append(self._wait(service_name, request_id, wait))
            return self._finish(received[0], call)

        return FutureSOAResponse(get_result)

    def call_action_future(
        self,
        service_name: str,
        action: str,
        body: dict[str, Any] | None = None,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> FutureSOAResponse[ActionResponse]:
        """Send a one-action job now; the future's result is what :meth:`call_action` returns.

        Args:
            service_name: The service to call.
            action: The action to call.
            body: The action's request body.
            *positional: Options by position, in the order of :meth:`call_action` (PySOA 1.4.9's).
            **options: The keyword arguments of :meth:`call_actions_future`.
        """
        if positional:
            options = options_by_position("Client.call_action_future", positional, options)
        future = self.call_actions_future(service_name, [ActionRequest(action=action, body=body or {})], **options)

        def get_result(result_timeout: float | None) -> ActionResponse:
            return self._action_result(future.result(result_timeout))

        return FutureSOAResponse(get_result)

    def call_jobs_parallel_future(
        self, jobs: Iterable[JobRequestArgument], *positional: Any, **options: Unpack[CallKeywords]
    ) -> FutureSOAResponse[list[JobResponse]]:
        """Send every job now; the future's result is what :meth:`call_jobs_parallel` returns.

        Args:
            jobs: ``{"service_name": ..., "actions": [...]}`` dicts.
            *positional: Options by position, in the order of :meth:`call_jobs_parallel` (PySOA 1.4.9's).
            **options: The keyword arguments of :meth:`call_jobs_parallel`.

        Raises:
            ImproperlyConfigured: At once, if a job names an unknown service.
            PySOATransportError: At once, if a job cannot be sent (unless ``catch_transport_errors``).
            TypeError: At once, for more options by position than PySOA's method took, or one given twice.
        """
        if positional:
            options = options_by_position("Client.call_jobs_parallel_future", positional, options)
        call = self._options_of(options)
        job_list = parallel_jobs_of(jobs, call)
        if self._deadline is not None or self.job_deadline_margin is not None:
            call = self._within_deadline(dict.fromkeys(service for service, _actions in job_list), call)
        # One correlation id for the whole call links its jobs (PySOA gave each job its own).
        call = call.with_correlation_id(self.context)
        started = time.monotonic()
        parallel: ParallelJobs | GuardedJobs
        if call.fallback is not None or any(self._call_policies(service, call) for service, _a in job_list):
            parallel = GuardedJobs(self, job_list, call, lambda service: self._call_policies(service, call))
        else:
            parallel = ParallelJobs(send_jobs(self, job_list, call), call.catch_transport_errors, self._wait)

        def get_result(result_timeout: float | None) -> list[Any]:
            if isinstance(parallel, GuardedJobs):
                results = parallel.collect(result_timeout)  # each job waits until its own deadline otherwise
            else:
                results = parallel.collect(call.wait_left(started) if result_timeout is None else result_timeout)
            raise_errors(
                (r for r in results if isinstance(r, JobResponse)), call.raise_job_errors, call.raise_action_errors
            )
            if call.expansions:
                self._expand(expandable_actions(results), call)
            return results

        return FutureSOAResponse(get_result)

    def call_actions_parallel_future(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> FutureSOAResponse[Generator[ActionResponse, None, None]]:
        """Send one job per action now; the future's result is what :meth:`call_actions_parallel` returns.

        Args:
            service_name: The service to call.
            actions: The actions, each sent as its own job.
            *positional: Options by position, in the order of :meth:`call_actions_parallel` (PySOA 1.4.9's).
            **options: The keyword arguments of :meth:`call_jobs_parallel_future`.
        """
        if positional:
            options = options_by_position("Client.call_actions_parallel_future", positional, options)
        future = self.call_jobs_parallel_future(jobs_of_actions(service_name, actions), **options)

        def get_result(result_timeout: float | None) -> Generator[ActionResponse, None, None]:
            items = [first_action(result) for result in future.result(result_timeout)]
            return (item for item in items)

        return FutureSOAResponse(get_result)

    # Blocking parallel calls: the futures' results

    def call_actions_parallel(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> Generator[ActionResponse, None, None]:
        """Call each action as its own job, all at once, and wait for every response.

        Args:
            service_name: The service to call.
            actions: The actions.
            *positional: Options by position, in PySOA 1.4.9's order: ``expansions``, ``raise_job_errors``,
                ``raise_action_errors``, ``catch_transport_errors``, ``timeout``, ``switches``,
                ``correlation_id``, ``context``, ``control_extra``.
            **options: The keyword arguments of :meth:`call_action`, and ``catch_transport_errors``.

        Returns:
            A generator of the action responses in input order. In place of a response it yields the
            job's :class:`Error` list (``raise_job_errors=False``) or the transport exception
            (``catch_transport_errors=True``).

        Raises:
            TypeError: More options by position than PySOA's method took, or one given twice.
        """
        if positional:
            options = options_by_position("Client.call_actions_parallel", positional, options)
        return self.call_actions_parallel_future(service_name, actions, **options).result()

    def call_jobs_parallel(
        self, jobs: Iterable[JobRequestArgument], *positional: Any, **options: Unpack[CallKeywords]
    ) -> list[JobResponse]:
        """Send several jobs, possibly to different services, at once and wait for every response.

        Args:
            jobs: ``{"service_name": ..., "actions": [...]}`` dicts.
            *positional: Options by position, in PySOA 1.4.9's order: ``expansions``, ``raise_job_errors``,
                ``raise_action_errors``, ``catch_transport_errors``, ``timeout``, ``switches``,
                ``correlation_id``, ``continue_on_error``, ``context``, ``control_extra``.
            **options: The keyword arguments of :meth:`call_actions_parallel`.

        Returns:
            The job responses in input order (transport exceptions in place with
            ``catch_transport_errors=True``).

        Raises:
            TypeError: More options by position than PySOA's method took, or one given twice.
        """
        if positional:
            options = options_by_position("Client.call_jobs_parallel", positional, options)
        return self.call_jobs_parallel_future(jobs, **options).result()
