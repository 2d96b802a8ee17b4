"""The client: call actions on services, blocking, in parallel or through futures.

Every call method builds one or more job requests (see :mod:`pysoa_like.client._headers` for the
context and control headers), sends them through the service's :class:`ServiceHandler` and waits for
the replies by request id, so calls of any kind can be mixed on one client and one thread, and one
client can be shared by several threads.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from pysoa_like.client._calls import ParallelJobs, expandable_actions, first_action, raise_errors, send_jobs
from pysoa_like.client._expansion import perform_expansions
from pysoa_like.client._future import FutureSOAResponse
from pysoa_like.client._handler import ServiceHandler
from pysoa_like.client._headers import make_context_header, make_control_header, new_correlation_id
from pysoa_like.client._public_path import kept_replies, send_job_publicly, send_jobs_publicly
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured, InvalidExpansionKey
from pysoa_like.client.expander import ExpansionConverter, ExpansionSettings
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common.types import ActionRequest, ActionResponse, JobRequest, JobResponse

if TYPE_CHECKING:
    from pysoa_like.events.types import EventType
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.registry.records import ServiceInfo

__all__ = [
    "ActionRequestArgument",
    "ActionRequestArgumentIterable",
    "ActionRequestArgumentList",
    "Client",
    "FutureSOAResponse",
    "JobRequestArgument",
    "ServiceHandler",
]

# A blocking call whose send used up its timeout still looks for its reply this long.
_SHORTEST_WAIT_SECONDS = 0.01

#: An action to call: an :class:`ActionRequest` or a dict ``{"action": ..., "body": {...}}``.
ActionRequestArgument = ActionRequest | dict[str, Any]
ActionRequestArgumentList = list[ActionRequestArgument]
ActionRequestArgumentIterable = Iterable[ActionRequestArgument]
#: One job of :meth:`Client.call_jobs_parallel`: ``{"service_name": str, "actions": [...]}``.
JobRequestArgument = dict[str, Any]


class Client:
    """Calls actions on services.

    Args:
        config: Service name -> client settings dict (``transport``, ``middleware``, ``metrics``).
            Every entry is validated here with :attr:`settings_class`.
        expansion_config: Optional ``{"type_routes": ..., "type_expansions": ...}`` enabling the
            ``expansions`` argument (see :mod:`pysoa_like.client.expander`).
        settings_class: Overrides :attr:`settings_class` for this client.
        context: The base context of every request (switches, correlation id, any other keys); it is
            never modified.
        fleet: Where the fleet features live (:meth:`list_services`, :meth:`publish_event`):
            ``{"backend_type": ..., "backend_layer_kwargs": ...}`` as for the Redis transports, a
            :class:`~pysoa_like.fleet.redis.FleetRedis`, or (tests) a
            :class:`~pysoa_like.events.testing.LocalEventBus` to publish to. By default, the Redis the
            client's Redis services share; a client whose services all use the local transport
            publishes to the process's :func:`~pysoa_like.events.testing.local_event_bus`.

    Raises:
        Settings.ImproperlyConfigured: A service's settings or the expansion config are invalid.

    Common keyword arguments of the call methods (defaults in parentheses):

    * ``expansions`` (None): ``{type: ["expansion", ...]}`` to expand in the responses.
    * ``raise_job_errors`` (True): raise :class:`CallJobError` on job errors; otherwise return
      them (``call_action`` and the parallel calls return/yield the list of :class:`Error`).
    * ``raise_action_errors`` (True): raise :class:`CallActionError` with every failed action.
    * ``catch_transport_errors`` (False, parallel calls): return transport exceptions in place.
    * ``timeout`` (None): seconds (int or float) for the message expiry, ``control.timeout`` and
      the receive wait; ``None`` uses the transport's defaults.
    * ``switches`` (None), ``correlation_id`` (None), ``context`` (None): context header input.
    * ``continue_on_error`` (False), ``control_extra`` (None): control header input.
    * ``message_expiry_in_seconds`` (None): the expiry, when it should differ from ``timeout``.
    * ``suppress_response`` (False): send and forget; the call returns ``None`` without waiting.
    """

    settings_class: Any = ClientSettings
    handler_class: type[ServiceHandler] = ServiceHandler

    FutureResponse = FutureSOAResponse
    CallActionError = CallActionError
    CallJobError = CallJobError
    JobError = CallJobError
    ImproperlyConfigured = ImproperlyConfigured
    InvalidExpansionKey = InvalidExpansionKey

    def __init__(
        self,
        config: Mapping[str, Any],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: Any = None,
        context: Mapping[str, Any] | None = None,
        *,
        fleet: Any = None,
    ) -> None:
        self._fleet_argument = fleet
        self._fleet: Any = None
        self._publisher: Any = None
        if settings_class is not None:
            self.settings_class = settings_class
        self.context: Mapping[str, Any] = context or {}
        self.config: Mapping[str, Any] = config or {}
        self.settings: dict[str, Any] = (
            {name: self._validate(value) for name, value in self.config.items()} if self.config else {}
        )
        self.handlers: dict[str, ServiceHandler] = {}
        self._handlers_lock = threading.Lock()
        self.expansion_converter: ExpansionConverter | None = None
        if expansion_config:
            expansion_settings = ExpansionSettings(expansion_config)
            self.expansion_converter = ExpansionConverter(
                type_routes=expansion_settings["type_routes"],
                type_expansions=expansion_settings["type_expansions"],
            )

    def _validate(self, service_settings: Any) -> Any:
        # Servers build a client per request from already validated settings; skip re-validating them.
        settings_class = self.settings_class
        if isinstance(settings_class, type) and isinstance(service_settings, settings_class):
            return service_settings
        return settings_class(service_settings)

    def _get_handler(self, service_name: str) -> ServiceHandler:
        handler = self.handlers.get(service_name)
        if handler is not None:
            return handler
        if not isinstance(service_name, str):
            raise ValueError(f"Called service name must be a string, got {service_name!r}")
        with self._handlers_lock:
            handler = self.handlers.get(service_name)
            if handler is None:
                if service_name not in self.settings:
                    raise self.ImproperlyConfigured(f'Unrecognized service name "{service_name}"')
                handler = self.handler_class(service_name, self.settings[service_name])
                self.handlers[service_name] = handler
        return handler

    def _make_job(
        self,
        actions: ActionRequestArgumentIterable,
        switches: Iterable[Any] | None,
        correlation_id: str | None,
        continue_on_error: bool,
        context: Mapping[str, Any] | None,
        control_extra: Mapping[str, Any] | None,
        message_expiry_in_seconds: float | None,
        suppress_response: bool,
    ) -> JobRequest:
        return JobRequest(
            control=make_control_header(continue_on_error, suppress_response, control_extra, message_expiry_in_seconds),
            context=make_context_header(self.context, switches, correlation_id, context),
            actions=actions,
        )

    # Fleet features

    def fleet_redis(self) -> FleetRedis:
        """The Redis of the fleet features for this client (see the ``fleet`` argument).

        Raises:
            FleetNotConfiguredError: No ``fleet`` was given and the Redis services do not name one Redis.
        """
        if self._fleet is None:
            from pysoa_like.client._fleet import resolve_client_fleet

            if _is_event_bus(self._fleet_argument):
                from pysoa_like.fleet.errors import FleetNotConfiguredError

                raise FleetNotConfiguredError("This client's fleet is an in-memory event bus: it has no Redis")
            self._fleet = resolve_client_fleet(self._fleet_argument, self.settings)
        fleet: FleetRedis = self._fleet
        return fleet

    def list_services(self, service_names: Iterable[str] | None = None, queue_depths: bool = True) -> list[ServiceInfo]:
        """The live services in the service registry, with their instances, versions, queue depth and load.

        Args:
            service_names: Only these services (each listed even with no live instance); ``None`` for every
                service with at least one live instance.
            queue_depths: Also read each service's request queue depth.

        Returns:
            :class:`~pysoa_like.registry.records.ServiceInfo` records, sorted by name.

        Raises:
            FleetNotConfiguredError: The fleet's Redis is unknown (see the ``fleet`` argument).
            FleetConnectionError: Redis failed.
        """
        from pysoa_like.registry.store import RegistryStore

        return RegistryStore(self.fleet_redis()).list_services(service_names, queue_depths)

    def publish_event(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        retention_seconds: float | None = None,
    ) -> str:
        """Publish an event: every service handling it gets it (see ``docs/events.rst``).

        The event carries this client's context (as a call would: its base context, ``switches``,
        ``correlation_id``, or a new one, and ``context``), so a client made by a server for an action
        (``request.client``) chains the request's.

        Args:
            name: The event name (``"user.created"``) or its :class:`~pysoa_like.events.types.EventType`.
            body: The body: a dict of what action bodies may hold; checked against the declared schema.
            context: Extra context keys.
            switches: Switches added to the context.
            correlation_id: The correlation id (else the base context's, else a new one).
            retention_seconds: How long the stream keeps it for subscribers not running now (default: the
                event type's, else 24 hours).

        Returns:
            The event id (``"1700000000000-0"``).

        Raises:
            InvalidEventError: A bad name, or a body its schema refuses or the serializer cannot carry.
            FleetNotConfiguredError: The fleet's Redis is unknown (see the ``fleet`` argument).
            FleetConnectionError: Redis failed.
        """
        full_context = make_context_header(self.context, switches, correlation_id, context)
        publisher = self.context.get("calling_service") if isinstance(self.context, Mapping) else None
        event_id: str = self._event_publisher().publish(
            name, body, full_context, publisher if isinstance(publisher, str) else None, retention_seconds
        )
        return event_id

    def _event_publisher(self) -> Any:
        publisher = self._publisher
        if publisher is not None:
            return publisher
        if _is_event_bus(self._fleet_argument):
            publisher = self._fleet_argument
        elif self._fleet_argument is None and self.settings and all(_is_local(s) for s in self.settings.values()):
            from pysoa_like.events.testing import local_event_bus

            publisher = local_event_bus()
        else:
            from pysoa_like.events.publisher import RedisEventPublisher

            publisher = RedisEventPublisher(self.fleet_redis())
        self._publisher = publisher
        return publisher

    # Sending without waiting

    def send_request(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Mapping[str, Any] | None = None,
        control_extra: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float | None = None,
        suppress_response: bool = False,
    ) -> int:
        """Send one job without waiting; collect the reply with :meth:`get_all_responses`.

        Args:
            service_name: The service to call.
            actions: The actions of the job.
            switches: Switches added to the context.
            correlation_id: The correlation id (else the base context's, else a new one).
            continue_on_error: Whether the server runs the remaining actions after one fails.
            context: Extra context keys.
            control_extra: Extra control keys.
            message_expiry_in_seconds: The expiry; ``None`` for the transport's default.
            suppress_response: Send and forget: no reply will be collected.

        Returns:
            The request id.

        Raises:
            ImproperlyConfigured: The client has no settings for ``service_name``.
            PySOATransportError: The transport could not send the request.
        """
        handler = self._get_handler(service_name)
        job = self._make_job(
            actions, switches, correlation_id, continue_on_error, context, control_extra,
            message_expiry_in_seconds, suppress_response,
        )  # fmt: skip
        return handler.send_request(job, message_expiry_in_seconds)

    def get_all_responses(
        self, service_name: str, receive_timeout_in_seconds: float | None = None
    ) -> Generator[tuple[int, JobResponse], None, None]:
        """Yield ``(request_id, JobResponse)`` for the requests this thread sent with :meth:`send_request`.

        Replies belonging to blocking calls or futures are never yielded here. Expansions are not
        performed.

        Args:
            service_name: The service the requests were sent to.
            receive_timeout_in_seconds: The most seconds to wait for each reply.

        Raises:
            MessageReceiveTimeout: A reply did not arrive in time.
        """
        responses = self._get_handler(service_name).get_all_responses(receive_timeout_in_seconds)
        kept = kept_replies(self, service_name)
        return responses if kept is None else _chain(kept, responses)

    # Futures: send now, wait on result()

    def call_actions_future(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        expansions: Mapping[str, Any] | None = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: float | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Mapping[str, Any] | None = None,
        control_extra: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float | None = None,
        suppress_response: bool = False,
    ) -> FutureSOAResponse[JobResponse]:
        """Send one job now; the future's result is what :meth:`call_actions` returns.

        Raises:
            ImproperlyConfigured, PySOATransportError: At once, if the job cannot be sent.
        """
        expiry = message_expiry_in_seconds or timeout
        send = self._send_job
        if self._public_methods_replaced():
            send = functools.partial(send_job_publicly, self)
        handler, job, request_id = send(
            service_name, actions, switches, correlation_id, continue_on_error, context, control_extra, expiry,
            suppress_response,
        )  # fmt: skip
        received: list[JobResponse] = []

        def get_result(result_timeout: float | None) -> JobResponse:
            if suppress_response:
                return None  # type: ignore[return-value]  # no reply will ever come
            if not received:
                received.append(handler.get_response(request_id, timeout if result_timeout is None else result_timeout))
            return self._finish_job(
                received[0], job, expansions, raise_job_errors, raise_action_errors, control_extra, timeout
            )

        return FutureSOAResponse(get_result)

    def _public_methods_replaced(self) -> bool:
        """Whether ``send_request`` or ``get_all_responses`` was replaced (by a subclass, or patched on the class
        or on this client): the calls then go through them, as PySOA's did (see :mod:`pysoa_like.client._public_path`).
        """
        cls = type(self)
        return (
            cls.send_request is not _SEND_REQUEST
            or cls.get_all_responses is not _GET_ALL_RESPONSES
            or "send_request" in self.__dict__
            or "get_all_responses" in self.__dict__
        )

    def _send_job(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        switches: Iterable[Any] | None,
        correlation_id: str | None,
        continue_on_error: bool,
        context: Mapping[str, Any] | None,
        control_extra: Mapping[str, Any] | None,
        expiry: float | None,
        suppress_response: bool,
    ) -> tuple[ServiceHandler, JobRequest, int]:
        """Build one job and send it: the handler, the job and its request id."""
        handler = self._get_handler(service_name)
        job = self._make_job(
            actions, switches, correlation_id, continue_on_error, context, control_extra, expiry, suppress_response
        )
        return handler, job, handler.send_tracked_request(job, expiry)

    def _finish_job(
        self,
        response: JobResponse,
        job: JobRequest,
        expansions: Mapping[str, Any] | None,
        raise_job_errors: bool,
        raise_action_errors: bool,
        control_extra: Mapping[str, Any] | None,
        timeout: float | None,
    ) -> JobResponse:
        """Raise the errors of one job's reply as asked, then perform the expansions."""
        if _has_errors(response):
            raise_errors((response,), raise_job_errors, raise_action_errors)
        if expansions and not response.errors:
            perform_expansions(
                self.expansion_converter, self._get_handler, response.actions, expansions, job.context,
                control_extra, timeout,
            )  # fmt: skip
        return response

    def _call_actions_now(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        expansions: Mapping[str, Any] | None = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        timeout: float | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Mapping[str, Any] | None = None,
        control_extra: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float | None = None,
        suppress_response: bool = False,
    ) -> JobResponse | None:
        """``call_actions_future(...).result()`` without building the future: the same send, wait and errors.

        The timeout counts from the call's start: the time the send took is taken off the wait for the reply.
        """
        expiry = message_expiry_in_seconds or timeout
        started = time.monotonic() if timeout else 0.0
        handler, job, request_id = self._send_job(
            service_name, actions, switches, correlation_id, continue_on_error, context, control_extra, expiry,
            suppress_response,
        )  # fmt: skip
        if suppress_response:
            return None
        wait = max(timeout - (time.monotonic() - started), _SHORTEST_WAIT_SECONDS) if timeout else timeout
        return self._finish_job(
            handler.get_response(request_id, wait), job, expansions, raise_job_errors, raise_action_errors,
            control_extra, timeout,
        )  # fmt: skip

    def _futures_overridden(self) -> bool:
        """Whether a subclass or a patch replaced the methods the blocking calls are defined by.

        Those are the future methods, and ``send_request`` and ``get_all_responses`` under them. The
        blocking ``call_action`` and ``call_actions`` then go through them, as in PySOA; otherwise they
        take the equivalent direct path, which builds no futures.
        """
        cls = type(self)
        if (
            cls.call_actions_future is not _CALL_ACTIONS_FUTURE
            or cls.call_action_future is not _CALL_ACTION_FUTURE
            or cls.send_request is not _SEND_REQUEST
            or cls.get_all_responses is not _GET_ALL_RESPONSES
        ):
            return True
        instance = self.__dict__
        return (
            "call_actions_future" in instance
            or "call_action_future" in instance
            or "send_request" in instance
            or "get_all_responses" in instance
        )

    def call_action_future(
        self,
        service_name: str,
        action: str,
        body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> FutureSOAResponse[ActionResponse]:
        """Send a one-action job now; the future's result is what :meth:`call_action` returns.

        Args:
            service_name: The service to call.
            action: The action to call.
            body: The action's request body.
            **kwargs: The keyword arguments of :meth:`call_actions_future`.
        """
        future = self.call_actions_future(service_name, [ActionRequest(action=action, body=body or {})], **kwargs)

        def get_result(result_timeout: float | None) -> ActionResponse:
            return _action_result(future.result(result_timeout))

        return FutureSOAResponse(get_result)

    def call_jobs_parallel_future(
        self,
        jobs: Iterable[JobRequestArgument],
        expansions: Mapping[str, Any] | None = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: float | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        continue_on_error: bool = False,
        context: Mapping[str, Any] | None = None,
        control_extra: Mapping[str, Any] | None = None,
        message_expiry_in_seconds: float | None = None,
        suppress_response: bool = False,
    ) -> FutureSOAResponse[list[JobResponse]]:
        """Send every job now; the future's result is what :meth:`call_jobs_parallel` returns.

        Raises:
            ImproperlyConfigured: At once, if a job names an unknown service.
            PySOATransportError: At once, if a job cannot be sent (unless ``catch_transport_errors``).
        """
        expiry = message_expiry_in_seconds or timeout
        if correlation_id is None and not self.context.get("correlation_id"):
            # One id for the whole call links its jobs (PySOA gave each job its own).
            correlation_id = new_correlation_id()
        if self._public_methods_replaced():
            sent, expansion_context = send_jobs_publicly(
                self,
                jobs, switches, correlation_id, continue_on_error, context, control_extra, expiry,
                suppress_response, catch_transport_errors,
            )  # fmt: skip
        else:
            requests = [
                (
                    self._get_handler(job["service_name"]),
                    self._make_job(
                        job["actions"], switches, correlation_id, continue_on_error, context, control_extra, expiry,
                        suppress_response,
                    ),
                )
                for job in jobs
            ]  # fmt: skip
            sent = send_jobs(requests, expiry, catch_transport_errors)
            expansion_context = requests[0][1].context if requests else {}

        def after(results: list[Any]) -> None:
            raise_errors((r for r in results if isinstance(r, JobResponse)), raise_job_errors, raise_action_errors)
            if expansions:
                perform_expansions(
                    self.expansion_converter, self._get_handler, expandable_actions(results), expansions,
                    expansion_context, control_extra, timeout,
                )  # fmt: skip

        parallel = ParallelJobs(sent, catch_transport_errors, after)
        return FutureSOAResponse(
            lambda result_timeout: parallel.collect(timeout if result_timeout is None else result_timeout)
        )

    def call_actions_parallel_future(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        **kwargs: Any,
    ) -> FutureSOAResponse[Generator[ActionResponse, None, None]]:
        """Send one job per action now; the future's result is what :meth:`call_actions_parallel` returns.

        Args:
            service_name: The service to call.
            actions: The actions, each sent as its own job.
            **kwargs: The keyword arguments of :meth:`call_jobs_parallel_future`.
        """
        future = self.call_jobs_parallel_future(
            [{"service_name": service_name, "actions": [action]} for action in actions], **kwargs
        )

        def get_result(result_timeout: float | None) -> Generator[ActionResponse, None, None]:
            items = [first_action(result) for result in future.result(result_timeout)]
            return (item for item in items)

        return FutureSOAResponse(get_result)

    # Blocking calls

    def call_action(
        self, service_name: str, action: str, body: dict[str, Any] | None = None, **kwargs: Any
    ) -> ActionResponse:
        """Call one action and wait for its response.

        Args:
            service_name: The service to call.
            action: The action to call.
            body: The action's request body (default ``{}``).
            **kwargs: ``expansions``, ``raise_job_errors``, ``raise_action_errors``, ``timeout``,
                ``switches``, ``correlation_id``, ``continue_on_error``, ``context``,
                ``control_extra``, ``message_expiry_in_seconds``, ``suppress_response``.

        Returns:
            The :class:`ActionResponse`; the list of job :class:`Error` records instead if the job
            failed and ``raise_job_errors`` is false; ``None`` with ``suppress_response``.

        Raises:
            CallJobError: The job failed (unless ``raise_job_errors=False``).
            CallActionError: The action failed (unless ``raise_action_errors=False``).
            MessageReceiveTimeout: No response in time.
            ImproperlyConfigured: Unknown service. InvalidExpansionKey: Bad ``expansions``.
        """
        if self._futures_overridden():
            return self.call_action_future(service_name, action, body, **kwargs).result()
        return _action_result(
            self._call_actions_now(service_name, [ActionRequest(action=action, body=body or {})], **kwargs)
        )

    def call_actions(self, service_name: str, actions: ActionRequestArgumentIterable, **kwargs: Any) -> JobResponse:
        """Call several actions in one job and wait for the :class:`JobResponse`.

        Args:
            service_name: The service to call.
            actions: The actions, run in order by one server.
            **kwargs: The keyword arguments of :meth:`call_actions_future`.

        Raises:
            CallJobError, CallActionError, MessageReceiveTimeout: As for :meth:`call_action`.
        """
        if self._futures_overridden():
            return self.call_actions_future(service_name, actions, **kwargs).result()
        return self._call_actions_now(service_name, actions, **kwargs)  # type: ignore[return-value]  # None: suppress_response

    def call_actions_parallel(
        self, service_name: str, actions: ActionRequestArgumentIterable, **kwargs: Any
    ) -> Generator[ActionResponse, None, None]:
        """Call each action as its own job, all at once, and wait for every response.

        Args:
            service_name: The service to call.
            actions: The actions.
            **kwargs: The keyword arguments of :meth:`call_jobs_parallel_future`.

        Returns:
            A generator of the action responses in input order. In place of a response it yields the
            job's :class:`Error` list (``raise_job_errors=False``) or the transport exception
            (``catch_transport_errors=True``).
        """
        return self.call_actions_parallel_future(service_name, actions, **kwargs).result()

    def call_jobs_parallel(self, jobs: Iterable[JobRequestArgument], **kwargs: Any) -> list[JobResponse]:
        """Send several jobs, possibly to different services, at once and wait for every response.

        Args:
            jobs: ``{"service_name": ..., "actions": [...]}`` dicts.
            **kwargs: The keyword arguments of :meth:`call_jobs_parallel_future`.

        Returns:
            The job responses in input order (transport exceptions in place with
            ``catch_transport_errors=True``).
        """
        return self.call_jobs_parallel_future(jobs, **kwargs).result()


def _is_event_bus(value: Any) -> bool:
    """Whether a ``fleet`` argument is an in-memory event bus (tests) rather than Redis settings."""
    return value is not None and not isinstance(value, Mapping) and callable(getattr(value, "publish", None))


_LOCAL_CLIENT_TRANSPORT = "pysoa_like.common.transport.local:LocalClientTransport"


def _is_local(service_settings: Any) -> bool:
    """Whether a service's client settings use the local transport (or a subclass)."""
    transport = service_settings.get("transport") or {}
    if transport.get("path") == _LOCAL_CLIENT_TRANSPORT:
        return True
    transport_class = transport.get("object")
    if isinstance(transport_class, type):
        from pysoa_like.common.transport.local import LocalClientTransport

        return issubclass(transport_class, LocalClientTransport)
    return False


def _has_errors(response: JobResponse) -> bool:
    """Whether the job or any of its actions has errors (most replies have none: nothing to raise)."""
    if response.errors:
        return True
    for action in response.actions:  # noqa: SIM110  # a loop: any() with a generator costs twice as much here
        if action.errors:
            return True
    return False


def _action_result(response: JobResponse | None) -> ActionResponse:
    """What a one-action call returns for its job's reply."""
    if response is None:
        return None  # type: ignore[return-value]  # suppress_response
    if response.errors:
        # Only reachable with raise_job_errors=False; PySOA returns the errors in that case.
        return cast(ActionResponse, response.errors)
    return response.actions[0]


def _chain(
    first: Generator[tuple[Any, JobResponse], None, None], then: Generator[tuple[Any, JobResponse], None, None]
) -> Generator[tuple[Any, JobResponse], None, None]:
    yield from first
    yield from then


# The methods as defined here: the blocking calls skip the futures, and every call skips send_request and
# get_all_responses, unless these were replaced.
_CALL_ACTIONS_FUTURE = Client.call_actions_future
_CALL_ACTION_FUTURE = Client.call_action_future
_SEND_REQUEST = Client.send_request
_GET_ALL_RESPONSES = Client.get_all_responses
