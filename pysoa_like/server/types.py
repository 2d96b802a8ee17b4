"""What actions and job middleware receive: enriched requests, plus the action contract.

:class:`EnrichedActionRequest` is the request object every action is called with; it adds the
job's headers, the active switches, a client for nested calls and ``run_coroutine`` to the plain
:class:`~pysoa_like.common.types.ActionRequest`. Servers may use a subclass through
``Server.request_class``; extra attrs fields of such a subclass are carried over by
:meth:`EnrichedActionRequest.call_local_action`.
"""

from __future__ import annotations

import abc
import concurrent.futures
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import attr

# Client and ERROR_CODE_UNKNOWN stay importable from here, as they were.
from pysoa_like.client.client import Client as Client
from pysoa_like.common.constants import ERROR_CODE_SERVER_ERROR
from pysoa_like.common.constants import ERROR_CODE_UNKNOWN as ERROR_CODE_UNKNOWN
from pysoa_like.common.errors import Error
from pysoa_like.common.types import ActionRequest, ActionResponse, Body, Context, Control, JobRequest
from pysoa_like.core.deadlines import time_left
from pysoa_like.server._request_cycle import (
    JobClients,
    job_switches,
    looks_valid_job_request,
    to_switch_set,
    unknown_action_error,
)
from pysoa_like.server.errors import ActionError
from pysoa_like.server.internal.types import RequestSwitchSet

if TYPE_CHECKING:
    from pysoa_like.server._request_cycle import RequestCycleMixin

__all__ = [
    "ActionInterface",
    "ActionType",
    "EnrichedActionRequest",
    "EnrichedJobRequest",
    "JobClients",
    "RunCoroutineType",
    "job_switches",
    "looks_valid_job_request",
]

RunCoroutineType: TypeAlias = Callable[[Coroutine[Any, Any, Any]], "concurrent.futures.Future[Any]"]
"""The type of ``request.run_coroutine``: schedules a coroutine and returns a future of its result."""


class _JobHeaders:
    """What the job's request and its actions' requests both offer: the job's clients and its time left."""

    __slots__ = ()
    _client: Any
    _job_clients: JobClients | None
    deadline: float | None

    @property
    def client(self) -> Any:
        """A client for calling other services, carrying this job's context forward and bounded by its deadline:
        the one given as ``client``, else the job's, made by the server's ``make_client`` when first asked for
        (``None`` for a request made by hand without one)."""
        client = self._client
        if client is None and self._job_clients is not None:
            return self._job_clients.client()
        return client

    @client.setter
    def client(self, client: Any) -> None:
        self._client = client

    @property
    def async_client(self) -> Any:
        """An :class:`~pysoa_like.client.async_client.AsyncClient` for calling other services from coroutine
        actions, with the same context chaining as :attr:`client` (correlation id, switches, calling service) and
        bounded by the job's deadline; made on first use and shared by the job's actions (``None`` when the
        request was not made by a server)."""
        clients = self._job_clients
        return None if clients is None else clients.async_client()

    def time_remaining(self) -> float | None:
        """Seconds until :attr:`deadline` (zero or negative once it has passed), or ``None`` without one."""
        return time_left(self.deadline, time.time())


@attr.s(slots=True)
class EnrichedActionRequest(_JobHeaders, ActionRequest):
    """The request an action is called with.

    Args:
        action: The action's name.
        body: The action's input.
        switches: The job's active switches (converted to a :class:`RequestSwitchSet`).
        context: The job's context header (``correlation_id``, ``switches``, custom keys).
        control: The job's control header.
        client: A client for calling other services, carrying this job's context forward (``None``: the job's,
            made when :attr:`client` is first read).
        run_coroutine: Schedules a coroutine on the server's event loop thread; returns a
            :class:`concurrent.futures.Future`.
        server: The server running the action (used by :meth:`call_local_action`).
        deadline: When the caller stops waiting for the job, as an absolute Unix time (the request's expiry),
            or ``None`` when the request carries none. ``client`` is bounded by it (less a margin).
        job_clients: Where :attr:`client` (unless given) and :attr:`async_client` come from (the server sets it;
            ``None`` for a request made by hand).
    """

    switches: RequestSwitchSet = attr.ib(factory=RequestSwitchSet, converter=to_switch_set)
    context: Context = attr.ib(factory=dict)
    control: Control = attr.ib(factory=dict)
    _client: Any = attr.ib(default=None)
    run_coroutine: RunCoroutineType | None = attr.ib(default=None)
    _server: RequestCycleMixin | None = attr.ib(default=None, repr=False, eq=False)
    deadline: float | None = attr.ib(default=None)
    _job_clients: JobClients | None = attr.ib(default=None, repr=False, eq=False)

    def publish_event(
        self,
        name: Any,
        body: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        retention_seconds: float | None = None,
    ) -> str:
        """Publish an event carrying this request's context (correlation id, switches, other keys).

        Args:
            name: The event name (``"order.paid"``) or its :class:`~pysoa_like.events.types.EventType`.
            body: The body (checked against the declared schema).
            context: Context keys to add or override.
            retention_seconds: How long the stream keeps it (default: the server's ``events.retention_seconds``).

        Returns:
            The event id.

        Raises:
            InvalidEventError: A bad name or body.
            FleetConnectionError: Redis failed.
            FleetNotConfiguredError: The server has no Redis for events (and is not on the local transport).
            RuntimeError: This request was made by hand, with neither a server nor a client to publish through.
        """
        chained = {**self.context, **(context or {})}
        server: Any = self._server
        if server is not None and hasattr(server, "publish_event"):
            return str(server.publish_event(name, body, context=chained, retention_seconds=retention_seconds))
        if self.client is not None and hasattr(self.client, "publish_event"):
            return str(self.client.publish_event(name, body, context=chained, retention_seconds=retention_seconds))
        raise RuntimeError("This request has no server or client to publish events through")

    def call_local_action(
        self,
        action: str,
        body: Body,
        raise_action_errors: bool = True,
        is_caller_error: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> ActionResponse:
        """Run another action of the same server in-process, with no transport and no middleware.

        The new request is a copy of this one with ``action`` and ``body`` replaced and ``context``
        merged over this request's context.

        Args:
            action: The name of the action to run.
            body: Its input.
            raise_action_errors: Raise errors as :class:`ActionError` (else return them in the response).
            is_caller_error: The ``is_caller_error`` flag given to raised errors.
            context: Context keys to add or override for the local call.

        Returns:
            The action's response.

        Raises:
            ActionError: The action failed, is unknown, or this request was not made by a server (a
                ``SERVER_ERROR``, as in PySOA), and ``raise_action_errors`` is true.
        """
        server = self._server
        if server is None:
            errors = [
                Error(
                    code=ERROR_CODE_SERVER_ERROR,
                    message=(
                        f"Cannot call action {action!r} locally: this request was not made by a server "
                        "(its _server is not set), so there is no server to run the action on"
                    ),
                    is_caller_error=False,
                )
            ]
            if raise_action_errors:
                raise ActionError(errors, set_is_caller_error_to=None)
            return ActionResponse(action=action, errors=errors)
        action_callable = server.get_action(action)
        if action_callable is None:
            errors = [unknown_action_error(action, is_caller_error=False)]
            if raise_action_errors:
                raise ActionError(errors, set_is_caller_error_to=is_caller_error)
            return ActionResponse(action=action, errors=errors)
        new_context = dict(self.context)
        if context:
            new_context.update(context)
        request = attr.evolve(self, action=action, body=body, context=new_context)
        try:
            response = action_callable(request)
        except ActionError as exc:
            if raise_action_errors:
                raise ActionError(exc.errors, set_is_caller_error_to=is_caller_error) from exc
            return ActionResponse(action=action, errors=exc.errors)
        if response.errors and raise_action_errors:
            raise ActionError(response.errors, set_is_caller_error_to=is_caller_error)
        return response


@attr.s(slots=True)
class EnrichedJobRequest(_JobHeaders, JobRequest):
    """The job that job middleware receives (and :meth:`~pysoa_like.server.server.Server.execute_job` runs).

    Args:
        control: The control header.
        context: The context header.
        actions: The actions to run.
        client: A client for calling other services, carrying this job's context forward (``None``: the job's,
            made when :attr:`client` is first read).
        run_coroutine: Schedules a coroutine on the server's event loop thread.
        deadline: When the caller stops waiting, as an absolute Unix time, or ``None``.
        job_clients: Where :attr:`client` (unless given) and :attr:`async_client` come from (set by the server).
    """

    _client: Any = attr.ib(default=None)
    run_coroutine: RunCoroutineType | None = attr.ib(default=None)
    deadline: float | None = attr.ib(default=None)
    _job_clients: JobClients | None = attr.ib(default=None, repr=False, eq=False)


class ActionInterface(abc.ABC):
    """The contract for action classes that do not extend :class:`~pysoa_like.server.action.Action`.

    An action is built with the server settings for every call, then called with the request.

    Args:
        settings: The server settings (may be ``None`` in tests).
    """

    @abc.abstractmethod
    def __init__(self, settings: Any = None) -> None:
        """Store what the action needs from the settings."""

    @abc.abstractmethod
    def __call__(self, action_request: EnrichedActionRequest) -> ActionResponse:
        """Run the action and return its response."""


ActionType: TypeAlias = Callable[[Any], Callable[[EnrichedActionRequest], ActionResponse]]
"""What ``Server.action_class_map`` values are: called with the settings, the result is called with the request."""
