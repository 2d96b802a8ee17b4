"""Calls through the public ``send_request`` and ``get_all_responses``, for clients that replace them.

PySOA's ``call_*`` methods were built on ``Client.send_request`` and ``Client.get_all_responses``, so
a subclass overriding them, or a test patching them, changed every call. pysoa_like's calls normally
skip both (they wait for each reply by request id, see :mod:`pysoa_like.client._handler`); when either
is replaced on the client's class or on the client itself, the calls go through them instead, in
PySOA's way: one ``send_request`` per job, then ``get_all_responses`` until the job's reply appears.

Replies that ``get_all_responses`` yields for other requests sent through ``send_request`` on the same
thread are kept, and the stock ``get_all_responses`` yields them first, so none is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client._calls import SentJob
from pysoa_like.client.errors import PySOAClientError
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.common.types import JobRequest, JobResponse

if TYPE_CHECKING:
    from pysoa_like.client.client import ActionRequestArgumentIterable, Client, JobRequestArgument

__all__ = ["PublicReplies", "kept_replies", "send_job_publicly", "send_jobs_publicly"]

_KEPT_ATTRIBUTE = "_pysoa_like_kept_replies"


def _kept(client: Client) -> dict[tuple[str, Any], JobResponse]:
    """This thread's replies pulled for other requests (by ``(service, request_id)``), created on first use."""
    local: threading.local = client.__dict__.setdefault(_KEPT_ATTRIBUTE, threading.local())
    try:
        kept: dict[tuple[str, Any], JobResponse] = local.replies
    except AttributeError:
        kept = local.replies = {}
    return kept


def kept_replies(client: Client, service_name: str) -> Generator[tuple[Any, JobResponse], None, None] | None:
    """The kept replies of ``service_name`` on this thread, removed as they are yielded (``None`` if there are none)."""
    local = client.__dict__.get(_KEPT_ATTRIBUTE)
    kept: dict[tuple[str, Any], JobResponse] | None = getattr(local, "replies", None) if local is not None else None
    if not kept or not any(service == service_name for service, _ in kept):
        return None

    def drain() -> Generator[tuple[Any, JobResponse], None, None]:
        for key in [key for key in kept if key[0] == service_name]:
            response = kept.pop(key, None)
            if response is not None:
                yield key[1], response

    return drain()


class PublicReplies:
    """Waits for one service's replies through the client's ``get_all_responses`` (a handler's ``get_response``).

    Args:
        client: The client whose ``get_all_responses`` is used.
        service_name: The service.
    """

    __slots__ = ("client", "service_name")

    def __init__(self, client: Client, service_name: str) -> None:
        self.client = client
        self.service_name = service_name

    def get_response(self, request_id: Any, receive_timeout_in_seconds: float | None = None) -> JobResponse:
        """The reply to ``request_id``, from the kept replies or from ``get_all_responses``.

        Raises:
            PySOAClientError: ``get_all_responses`` ended without yielding it.
            PySOATransportError: As ``get_all_responses`` raises it (``MessageReceiveTimeout``...).
        """
        kept = _kept(self.client)
        response = kept.pop((self.service_name, request_id), None)
        if response is not None:
            return response
        others: list[Any] = []
        responses = self.client.get_all_responses(
            self.service_name, receive_timeout_in_seconds=receive_timeout_in_seconds
        )
        try:
            for received_id, received in responses:
                if received_id == request_id:
                    return received
                kept[(self.service_name, received_id)] = received
                others.append(received_id)
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                close()
        raise PySOAClientError(
            f"get_all_responses for service {self.service_name} ended without the response to request "
            f"{request_id!r} (it gave responses to {others!r})"
        )

    def forget(self, request_id: Any) -> None:
        """Drop a kept reply to ``request_id``, if any (the handler's ``forget``)."""
        _kept(self.client).pop((self.service_name, request_id), None)


def send_job_publicly(
    client: Client,
    service_name: str,
    actions: ActionRequestArgumentIterable,
    switches: Iterable[Any] | None,
    correlation_id: str | None,
    continue_on_error: bool,
    context: Mapping[str, Any] | None,
    control_extra: Mapping[str, Any] | None,
    expiry: float | None,
    suppress_response: bool,
) -> tuple[Any, JobRequest, int]:
    """Send one job through the client's (replaced) ``send_request``.

    Returns:
        The reply source to wait on, the job as the client would have built it (its context is what
        expansions send on) and the request id.
    """
    actions = list(actions)
    options: dict[str, Any] = {"suppress_response": True} if suppress_response else {}
    request_id = client.send_request(
        service_name, actions, switches=switches, correlation_id=correlation_id,
        continue_on_error=continue_on_error, context=context, control_extra=control_extra,
        message_expiry_in_seconds=expiry, **options,
    )  # fmt: skip
    job = client._make_job(
        actions, switches, correlation_id, continue_on_error, context, control_extra, expiry, suppress_response
    )
    return PublicReplies(client, service_name), job, request_id


def send_jobs_publicly(
    client: Client,
    jobs: Iterable[JobRequestArgument],
    switches: Iterable[Any] | None,
    correlation_id: str | None,
    continue_on_error: bool,
    context: Mapping[str, Any] | None,
    control_extra: Mapping[str, Any] | None,
    expiry: float | None,
    suppress_response: bool,
    catch_transport_errors: bool,
) -> tuple[list[SentJob | None], Mapping[str, Any]]:
    """Send the jobs of a parallel call one by one through :meth:`send_request` (a replaced one)."""
    sent: list[SentJob | None] = []
    expansion_context: Mapping[str, Any] = {}
    for job in jobs:
        try:
            replies, request, request_id = send_job_publicly(
                client, job["service_name"], job["actions"], switches, correlation_id, continue_on_error, context,
                control_extra, expiry, suppress_response,
            )  # fmt: skip
        except PySOATransportError as exc:
            if not catch_transport_errors:
                raise
            sent.append(exc)
            continue
        expansion_context = expansion_context or request.context
        sent.append(None if suppress_response else (replies, request_id))
    return sent, expansion_context
