"""Parallel calls: sending several jobs at once and collecting their replies in input order.

Also the errors any call raises (:func:`raise_errors`, shared by single and parallel calls); what a one-job
call returns is :mod:`pysoa_like.client.client`'s (``job_has_errors``, ``action_result``).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pysoa_like.client._deadline import SHORTEST_WAIT_SECONDS
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.common.types import ActionResponse, JobResponse, _convert_action_requests

if TYPE_CHECKING:
    from pysoa_like.client._call_keywords import ActionRequestArgumentIterable
    from pysoa_like.client._future_calls import FutureCalls
    from pysoa_like.client.client import CallOptions, ServiceHandler
    from pysoa_like.common.transport.base import ClientTransport

__all__ = [
    "ParallelJobs",
    "SentJob",
    "batching_handlers",
    "expandable_actions",
    "first_action",
    "flush_batches",
    "jobs_of_actions",
    "parallel_jobs_of",
    "raise_errors",
    "send_jobs",
]

#: What a parallel call holds per job: ``(service, request_id)`` to wait for, the send error, or ``None``
#: (a job that gets no reply).
SentJob = tuple[str, Any] | PySOATransportError | None

#: Collects the reply to one request: ``(service, request_id, timeout) -> JobResponse``.
WaitForReply = Callable[[str, Any, "float | None"], JobResponse]


def parallel_jobs_of(jobs: Iterable[Mapping[str, Any]], options: CallOptions) -> list[tuple[str, list[Any]]]:
    """The ``(service, actions)`` of a parallel call's jobs.

    Raises:
        TypeError: ``jobs`` is a mapping or a string, or a job is not a dict with ``service_name`` and a list of
            ``actions``; the message says which job and what it holds.
    """
    if isinstance(jobs, Mapping | str):
        raise TypeError(
            f"jobs must be a list of jobs (dicts with 'service_name' and 'actions'), got {short_repr(jobs)}"
        )
    job_list = []
    for index, job in enumerate(jobs):
        if not isinstance(job, Mapping) or "service_name" not in job or not _is_action_list(job.get("actions")):
            raise TypeError(f"jobs[{index}]: {_job_problem(job)}")
        job_list.append((job["service_name"], list(job["actions"])))
    return job_list


def _is_action_list(actions: Any) -> bool:
    # Any iterable of actions, as before; a dict or a string would be taken apart into its keys or letters.
    return isinstance(actions, Iterable) and not isinstance(actions, Mapping | str)


def _job_problem(job: Any) -> str:
    """What is wrong with one job of a parallel call (which has no ``service_name`` or no list of ``actions``)."""
    if not isinstance(job, Mapping):
        return f"expected a dict with 'service_name' and 'actions', got {short_repr(job)}"
    unknown = [str(key) for key in job if key not in _JOB_KEYS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], _JOB_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key(s) {', '.join(map(repr, unknown))} (a job takes 'service_name' and 'actions'){hint}"
    if "service_name" not in job:
        return "missing the key 'service_name'"
    return f"'actions' must be a list of actions, got {short_repr(job.get('actions'))}"


_JOB_KEYS = ("service_name", "actions")


def raise_errors(responses: Iterable[JobResponse], raise_job_errors: bool, raise_action_errors: bool) -> None:
    """Raise the errors of ``responses`` as the call options ask.

    Raises:
        CallJobError: With every job error, if ``raise_job_errors`` and any job has errors.
        CallActionError: With every action that has errors (in jobs without job errors), if
            ``raise_action_errors``.
    """
    responses = list(responses)
    if raise_job_errors:
        job_errors = [error for response in responses for error in response.errors]
        if job_errors:
            raise CallJobError(job_errors)
    if raise_action_errors:
        failed = [
            action for response in responses if not response.errors for action in response.actions if action.errors
        ]
        if failed:
            raise CallActionError(failed)


def expandable_actions(responses: Iterable[Any]) -> list[ActionResponse]:
    """The actions of the successful job responses among ``responses``."""
    return [
        action
        for response in responses
        if isinstance(response, JobResponse) and not response.errors
        for action in response.actions
    ]


def jobs_of_actions(service_name: str, actions: Iterable[Any]) -> list[dict[str, Any]]:
    """The jobs of ``call_actions_parallel``: one per action. The actions are checked as one list first, so that a
    wrong one is named by its place among them (``actions[2]: ...``), not as the first action of its job.

    Raises:
        TypeError: An action is neither an ``ActionRequest`` nor a dict with ``action`` and ``body``.
    """
    return [{"service_name": service_name, "actions": [action]} for action in _convert_action_requests(actions)]


def first_action(result: Any) -> Any:
    """What a parallel action call yields for one job: its action, its job errors, or the item in place."""
    if isinstance(result, JobResponse):
        return result.errors if result.errors else result.actions[0]
    return result  # a transport exception, or None for a suppressed response


def batching_handlers(client: FutureCalls, service_names: Iterable[str]) -> list[ServiceHandler]:
    """The handlers whose transports now hold this thread's sends back, to push them together.

    A service the client cannot resolve is left to ``send_request`` (which raises, unless replaced).
    """
    handlers: dict[int, ServiceHandler] = {}
    for service_name in service_names:
        try:
            handler = client._get_handler(service_name)
        except ImproperlyConfigured:
            continue
        handlers.setdefault(id(handler), handler)
    return [handler for handler in handlers.values() if handler.transport.begin_send_batch()]


def flush_batches(batching: Sequence[ServiceHandler]) -> dict[tuple[str, Any], PySOATransportError]:
    """Send what the batching transports hold, those of one class together (one round trip per Redis master
    for every service of a parallel call); the jobs whose send failed, by ``(service, request id)``."""
    by_class: dict[type[ClientTransport], list[ServiceHandler]] = {}
    for handler in batching:
        by_class.setdefault(type(handler.transport), []).append(handler)
    failed: dict[tuple[str, Any], PySOATransportError] = {}
    for transport_class, handlers in by_class.items():
        flushed = transport_class.flush_send_batches([handler.transport for handler in handlers])
        for handler, errors in zip(handlers, flushed, strict=True):
            for request_id, error in errors.items():
                failed[(handler.service_name, request_id)] = error
    return failed


def send_jobs(
    client: FutureCalls,
    jobs: Sequence[tuple[str, ActionRequestArgumentIterable]],
    options: CallOptions,
    refused: Mapping[int, PySOATransportError] | None = None,
) -> list[SentJob]:
    """Send the jobs of a parallel call, in order, each through ``client``'s call path.

    ``refused``: jobs not to send (by position), with the error that takes their place (an open circuit
    breaker's, with ``catch_transport_errors``).

    Each transport that can batch (see ``ClientTransport.begin_send_batch``) holds its jobs back and pushes them
    all in one round trip at the end; a job whose push then fails is treated as if its send had failed.

    Returns:
        Per job: ``(service, request_id)``, the send error (with ``catch_transport_errors``), or ``None``
        when the job asks for no reply.

    Raises:
        PySOATransportError: A send failed and ``catch_transport_errors`` is false; the jobs already
            sent are forgotten.
    """
    catch = options.catch_transport_errors
    sent: list[SentJob] = []
    # (position in sent, service, request id) of every job handed to its transport, unanswered ones included.
    handed: list[tuple[int, str, Any]] = []
    batching = batching_handlers(client, dict.fromkeys(service for service, _actions in jobs))
    try:
        try:
            for position, (service_name, actions) in enumerate(jobs):
                if refused and position in refused:
                    sent.append(refused[position])
                    continue
                try:
                    request_id = client._send(service_name, actions, options)
                except PySOATransportError as exc:
                    if not catch:
                        raise
                    sent.append(exc)
                else:
                    handed.append((len(sent), service_name, request_id))
                    sent.append((service_name, request_id) if options.expects_reply else None)
        finally:
            failed = flush_batches(batching)
        for position, service_name, request_id in handed:
            error = failed.get((service_name, request_id))
            if error is not None:
                if not catch:
                    raise error
                client._forget(service_name, request_id)
                sent[position] = error
    except BaseException:
        for item in sent:
            if isinstance(item, tuple):
                client._forget(*item)
        raise
    return sent


class ParallelJobs:
    """The jobs of one parallel call, collected in input order and kept across timed-out retries.

    Args:
        sent: What :func:`send_jobs` returned.
        catch_transport_errors: Whether receive errors are returned in place of responses.
        wait: Collects the reply to one request (the client's call path).
    """

    def __init__(self, sent: list[SentJob], catch_transport_errors: bool, wait: WaitForReply) -> None:
        self._sent = sent
        self._catch = catch_transport_errors
        self._wait = wait
        self._results: dict[int, Any] = {}

    def collect(self, timeout: float | None) -> list[Any]:
        """Wait for every reply, all within ``timeout``, and return the results in input order.

        ``timeout`` bounds the whole collection (PySOA gave it to each reply in turn, so N slow jobs took up
        to N times the timeout); ``None`` gives each receive the transport's default.
        """
        deadline = None if not timeout else time.monotonic() + timeout
        for index, item in enumerate(self._sent):
            if index in self._results:
                continue
            if not isinstance(item, tuple):
                self._results[index] = item
                continue
            wait = timeout if deadline is None else max(deadline - time.monotonic(), SHORTEST_WAIT_SECONDS)
            try:
                self._results[index] = self._wait(item[0], item[1], wait)
            except PySOATransportError as exc:
                if not self._catch:
                    raise
                self._results[index] = exc
        return [self._results[index] for index in range(len(self._sent))]
