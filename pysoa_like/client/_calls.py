"""The result side of client calls: waiting for replies and applying the error-raising options."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pysoa_like.client._handler import ServiceHandler
from pysoa_like.client.errors import CallActionError, CallJobError
from pysoa_like.common._header_rules import suppress_response_requested
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.common.types import ActionResponse, JobRequest, JobResponse

__all__ = ["ParallelJobs", "ReplySource", "SentJob", "expandable_actions", "first_action", "raise_errors", "send_jobs"]


class ReplySource(Protocol):
    """What a call waits on for its reply: a :class:`ServiceHandler`, or the client's public-method path."""

    def get_response(self, request_id: Any, receive_timeout_in_seconds: float | None = None) -> JobResponse:
        """The reply to ``request_id``."""

    def forget(self, request_id: Any) -> None:
        """Stop waiting for ``request_id``."""


#: What a parallel call holds per job: the reply source and request id to wait for, or the send error.
SentJob = tuple[ReplySource, int] | PySOATransportError


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


def first_action(result: Any) -> Any:
    """What a parallel action call yields for one job: its action, its job errors, or the item in place."""
    if isinstance(result, JobResponse):
        return result.errors if result.errors else result.actions[0]
    return result  # a transport exception, or None for a suppressed response


def send_jobs(
    requests: list[tuple[ServiceHandler, JobRequest]], expiry: float | None, catch_transport_errors: bool
) -> list[SentJob | None]:
    """Send the jobs of a parallel call, in order.

    Each transport that can batch (see ``ClientTransport.begin_send_batch``) holds its jobs back and pushes them
    all in one round trip at the end; a job whose push then fails is treated as if its send had failed.

    Returns:
        Per job: ``(handler, request_id)``, the send error (with ``catch_transport_errors``), or
        ``None`` when the job suppresses its response.

    Raises:
        PySOATransportError: A send failed and ``catch_transport_errors`` is false; the jobs already
            sent are forgotten.
    """
    sent: list[SentJob | None] = []
    # (position in sent, handler, request id) of every job handed to its transport, suppressed ones included.
    handed: list[tuple[int, ServiceHandler, int]] = []
    batching = [
        handler
        for handler in {id(handler): handler for handler, _request in requests}.values()
        if handler.transport.begin_send_batch()
    ]
    try:
        try:
            for handler, request in requests:
                try:
                    request_id = handler.send_tracked_request(request, expiry)
                except PySOATransportError as exc:
                    if not catch_transport_errors:
                        raise
                    sent.append(exc)
                else:
                    handed.append((len(sent), handler, request_id))
                    sent.append(None if suppress_response_requested(request.control) else (handler, request_id))
        finally:
            failed = {
                (id(handler), request_id): error
                for handler in batching
                for request_id, error in handler.transport.flush_send_batch().items()
            }
        for position, handler, request_id in handed:
            error = failed.get((id(handler), request_id))
            if error is not None:
                if not catch_transport_errors:
                    raise error
                handler.forget(request_id)
                sent[position] = error
    except BaseException:
        for item in sent:
            if isinstance(item, tuple):
                item[0].forget(item[1])
        raise
    return sent


class ParallelJobs:
    """The jobs of one parallel call, collected in input order and kept across timed-out retries.

    Args:
        sent: Per job, the ``(handler, request_id)`` to wait for, the send error (with
            ``catch_transport_errors``), or ``None`` for a suppressed response.
        catch_transport_errors: Whether receive errors are returned in place of responses.
        after: Called with the collected results before they are returned (error raising, expansions).
    """

    def __init__(
        self,
        sent: list[SentJob | None],
        catch_transport_errors: bool,
        after: Callable[[list[Any]], None],
    ) -> None:
        self._sent = sent
        self._catch = catch_transport_errors
        self._after = after
        self._results: dict[int, Any] = {}

    def collect(self, timeout: float | None) -> list[Any]:
        """Wait for every reply (each with ``timeout``) and return the results in input order."""
        for index, item in enumerate(self._sent):
            if index in self._results:
                continue
            if item is None or isinstance(item, PySOATransportError):
                self._results[index] = item
                continue
            handler, request_id = item
            try:
                self._results[index] = handler.get_response(request_id, timeout)
            except PySOATransportError as exc:
                if not self._catch:
                    raise
                self._results[index] = exc
        results = [self._results[index] for index in range(len(self._sent))]
        self._after(results)
        return results
