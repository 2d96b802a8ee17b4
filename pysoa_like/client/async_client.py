"""AsyncClient: the asyncio twin of :class:`~pysoa_like.client.client.Client`.

Configured with the same settings dict, it calls the same services with the same arguments, defaults, return
values and exceptions, as coroutines that never block the event loop. Its transports are the asyncio twins of
the configured ones (:meth:`ClientTransport.asyncio_transport`): the Redis transport's asyncio driver and the
local transport's worker thread. Replies are routed by request id, so any number of calls may be in flight at
once on one client, each getting its own reply; a call that is cancelled or times out leaves nothing behind.

The rules are the blocking client's, shared rather than copied: the call options and the argument checks
(:mod:`.client`), the job and its headers (:mod:`.client` too), the deadline (:mod:`._deadline`), what a
call raises and returns (:mod:`._parallel`, :mod:`.client`), the resilience steps (``guarded_steps``) and the
expansion rounds (:class:`~pysoa_like.client.expander.ExpansionRounds`). Only the waiting differs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Generator, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pysoa_like.client._async_handler import AsyncServiceHandler
from pysoa_like.client._call_keywords import options_by_position
from pysoa_like.client._client_base import ClientBase
from pysoa_like.client._deadline import expiry_within, within_deadline
from pysoa_like.client._parallel import (
    expandable_actions,
    first_action,
    jobs_of_actions,
    parallel_jobs_of,
    raise_errors,
)
from pysoa_like.client._resilience import FINISH, PLACE, SLEEP, ServicePolicies, guarded_steps
from pysoa_like.client.client import CallOptions, action_result, job_has_errors, job_of, options_of
from pysoa_like.client.expander import ExpansionRounds
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common.transport.errors import PySOATransportError
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from pysoa_like.client._call_keywords import ActionRequestArgumentIterable, CallKeywords, JobRequestArgument
    from pysoa_like.client.client import Client
    from pysoa_like.events._aio_publisher import AsyncRedisEventPublisher
    from pysoa_like.events.types import EventType
    from pysoa_like.fleet._aio import AioFleet
    from pysoa_like.registry.records import ServiceInfo

__all__ = ["AsyncClient"]

_T = TypeVar("_T")


class AsyncClient(ClientBase[AsyncServiceHandler]):
    """Calls actions on services from asyncio code, without blocking the event loop.

    Takes exactly :class:`~pysoa_like.client.client.Client`'s arguments and settings; the call methods are
    coroutines with ``Client``'s arguments, defaults, return values and exceptions. Use it as an async context
    manager, or call :meth:`aclose` when done::

        async with AsyncClient(settings) as client:
            response = await client.call_action("example", "square", {"number": 3})

    One client may serve any number of concurrent calls (``asyncio.gather``, tasks) and any event loop; its
    connections belong to the loop that opened them. Cancelling a call (its task, or ``asyncio.timeout``)
    forgets its request: a reply that comes later is dropped, never given to another call.

    Args:
        config: Service name -> client settings dict (``transport``, ``middleware``, ``metrics``, ...).
        expansion_config: Optional ``{"type_routes": ..., "type_expansions": ...}`` enabling ``expansions``.
        settings_class: Overrides :attr:`settings_class` for this client.
        context: The base context of every request; never modified.
        fleet: Where the fleet features live (:meth:`list_services`, :meth:`publish_event`), as for ``Client``.

    Raises:
        SettingsError: ``config`` is not a mapping, or a service's settings or the expansion config are invalid.

    Attributes:
        deadline: An absolute Unix time that bounds every call of this client, or ``None`` (see ``Client``).
    """

    #: Validates each service's settings (the same :class:`~pysoa_like.client.settings.ClientSettings` as ``Client``).
    settings_class: Any = ClientSettings
    handler_class: type[AsyncServiceHandler] = AsyncServiceHandler

    def __init__(
        self,
        config: Mapping[str, Any],
        expansion_config: Mapping[str, Any] | None = None,
        settings_class: Any = None,
        context: Mapping[str, Any] | None = None,
        *,
        fleet: Any = None,
    ) -> None:
        super().__init__(config, expansion_config, settings_class, context, fleet=fleet)
        self._blocking: Client | None = None
        self._async_publisher: AsyncRedisEventPublisher | None = None
        self._aio_fleet_redis: AioFleet | None = None

    # Closing

    async def aclose(self) -> None:
        """Close the transports' connections and tasks (of the running loop); the client may be used again after."""
        handlers = list(self.handlers.values())
        for handler in handlers:
            await handler.aclose()
        if self._async_publisher is not None:
            await self._async_publisher.aclose()
        if self._aio_fleet_redis is not None:
            await self._aio_fleet_redis.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    # Fleet features, on the event loop (the blocking Client resolves the fleet's Redis)

    def _blocking_client(self) -> Client:
        client = self._blocking
        if client is None:
            from pysoa_like.client.client import Client

            client = self._blocking = Client(
                self.settings, settings_class=self.settings_class, fleet=self._fleet_argument
            )
            client.context = self.context
        return client

    async def list_services(
        self, service_names: Iterable[str] | None = None, queue_depths: bool = True
    ) -> list[ServiceInfo]:
        """:meth:`Client.list_services <pysoa_like.client.client.Client.list_services>`, as a coroutine reading the
        registry from the event loop (the asyncio Redis driver, on the client's connections when the fleet's Redis is
        its services' Redis)."""
        from pysoa_like.registry._aio_reader import list_services_async

        return await list_services_async(self._aio_fleet(), service_names, queue_depths)

    def _aio_fleet(self) -> AioFleet:
        """The fleet's Redis on the event loop (see ``Client.fleet_redis``)."""
        from pysoa_like.fleet._aio import AioFleet

        fleet = self._blocking_client().fleet_redis()
        aio = self._aio_fleet_redis
        if aio is None or aio.fleet is not fleet:
            aio = self._aio_fleet_redis = AioFleet(fleet)
        return aio

    async def publish_event(
        self,
        name: str | EventType,
        body: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
        switches: Iterable[Any] | None = None,
        correlation_id: str | None = None,
        retention_seconds: float | None = None,
    ) -> str:
        """:meth:`Client.publish_event <pysoa_like.client.client.Client.publish_event>`, as a coroutine.

        On the fleet's Redis the event is appended from the event loop (the asyncio Redis driver, on the
        connections the client's calls use when the Redis is the same); an in-memory event bus (tests, local
        services) records it at once.
        """
        from pysoa_like.client._fleet import event_origin
        from pysoa_like.events._aio_publisher import AsyncRedisEventPublisher
        from pysoa_like.events.publisher import RedisEventPublisher

        client = self._blocking_client()
        publisher = client._event_publisher()
        if not isinstance(publisher, RedisEventPublisher):
            return client.publish_event(name, body, context, switches, correlation_id, retention_seconds)
        twin = self._async_publisher
        if twin is None or twin.publisher is not publisher:
            twin = self._async_publisher = AsyncRedisEventPublisher(publisher)
        full_context, origin = event_origin(self.context, switches, correlation_id, context)
        return await twin.publish(name, body, full_context, origin, retention_seconds)

    # The one call path: deadline, send, wait, finish

    async def _send(self, service_name: str, actions: ActionRequestArgumentIterable, options: CallOptions) -> int:
        """Send one job of a call; its request id."""
        keywords = options.job_keywords  # (checked when the options were read)
        expiry = keywords.get("message_expiry_in_seconds")
        deadline = self.deadline if self._deadline is not None or self.job_deadline_margin is not None else None
        if deadline is not None:
            expiry = expiry_within(expiry, deadline, service_name)
        handler = self._get_handler(service_name)
        job = job_of(
            self.context,
            handler.base_context,
            actions,
            keywords.get("switches"),
            keywords.get("correlation_id"),
            keywords.get("continue_on_error", False),
            keywords.get("context"),
            keywords.get("control_extra"),
            expiry,
            keywords.get("suppress_response", False),
            as_message=handler.takes_messages(),
        )
        return await handler.send_request(job, expiry)

    async def _wait(self, service_name: str, request_id: int, timeout: float | None) -> JobResponse:
        """Wait for the reply to one of the calls' requests (forgotten if the wait ends without it)."""
        return await self.handlers[service_name].get_response(request_id, timeout)

    def _forget(self, service_name: str, request_id: int) -> None:
        handler = self.handlers.get(service_name)
        if handler is not None:
            handler.forget(request_id)

    async def _finish(self, response: JobResponse, options: CallOptions) -> JobResponse:
        """Raise the errors of one job's reply as the options ask, then perform the expansions."""
        if job_has_errors(response):
            raise_errors((response,), options.raise_job_errors, options.raise_action_errors)
        if options.expansions and not response.errors:
            await self._expand(response.actions, options)
        return response

    async def _expand(self, actions: Iterable[ActionResponse], options: CallOptions) -> None:
        """Perform a call's expansions on ``actions``: each round's requests at once, through this same path."""
        rounds = ExpansionRounds(
            self.expansion_converter,
            actions,
            options.expansions,
            options.job_context(self.context),
            options.job_keywords.get("control_extra"),
            options.timeout,
        )
        fetch_options = rounds.options

        async def fetch(service: str, requests: list[ActionRequest]) -> JobResponse:
            request_id = await self._send(service, requests, fetch_options)
            return await self._wait(service, request_id, fetch_options.timeout)

        while (wanted := rounds.next_round()) is not None:
            keys = list(wanted)
            responses = await _all_or_nothing([fetch(*rounds.request_of(key, wanted[key])) for key in keys])
            for key, response in zip(keys, responses, strict=True):
                rounds.store(key, response)

    async def _call(self, service_name: str, actions: ActionRequestArgumentIterable, options: CallOptions) -> Any:
        """Send one job and wait for its finished reply (``None`` when the job asks for no reply)."""
        deadline = self.deadline if self._deadline is not None or self.job_deadline_margin is not None else None
        if deadline is not None:
            options = within_deadline(deadline, (service_name,), options, self._default_wait)
        if options.expansions:
            options = options.with_correlation_id(self.context)
        handler = self.handlers.get(service_name) or self._get_handler(service_name)
        policies = handler.policies
        if policies is None and options.retry:
            policies = handler.make_policies()
        if policies is not None or options.fallback is not None:
            kind, value = await self._guarded(service_name, list(actions), options, policies)
            return await self._finish(value, options) if kind is FINISH else value
        timeout = options.timeout
        started = time.monotonic() if timeout else 0.0
        request_id = await self._send(service_name, actions, options)
        if not options.expects_reply:
            return None
        response = await handler.get_response(request_id, options.wait_left(started))
        return await self._finish(response, options)

    async def _send_and_wait(
        self, service_name: str, actions: list[Any], options: CallOptions, sent: list[bool]
    ) -> JobResponse | None:
        """One attempt of a guarded call: send, then wait for the reply (not finished); ``sent[0]`` once sent."""
        timeout = options.timeout
        started = time.monotonic() if timeout else 0.0
        request_id = await self._send(service_name, actions, options)
        sent[0] = True
        if not options.expects_reply:
            return None
        return await self._wait(service_name, request_id, options.wait_left(started))

    async def _guarded(
        self,
        service_name: str,
        actions: list[Any],
        options: CallOptions,
        policies: ServicePolicies | None,
        wait_for_room: bool = True,
    ) -> tuple[str, Any]:
        """Drive :func:`guarded_steps` (breakers, bulkhead, retries, fallbacks) with the event loop's waits.

        Returns:
            ``(FINISH, reply)`` (its errors not raised yet) or ``(RESULT, value)`` (a fallback's response, or
            ``None``).
        """
        steps = guarded_steps(
            service_name,
            actions,
            options,
            policies,
            self._default_wait(service_name),
            blocking=False,
            wait_for_room=wait_for_room,
        )
        outcome: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    step = steps.send(outcome) if error is None else steps.throw(error)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                finally:
                    error = outcome = None
                kind, argument, sent = step
                if kind is SLEEP:
                    await asyncio.sleep(argument)
                    continue
                if kind is PLACE:
                    try:
                        outcome = await sent.wait_for_place(argument)
                    except BaseException as exc:
                        error = exc
                    continue
                try:
                    outcome = await self._send_and_wait(service_name, actions, argument, sent)
                except BaseException as exc:
                    error = exc
        finally:
            steps.close()

    # The calls

    async def call_action(
        self,
        service_name: str,
        action: str,
        body: dict[str, Any] | None = None,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> ActionResponse:
        """Call one action and wait for its response (as :meth:`pysoa_like.client.client.Client.call_action`).

        Options may be given by position too, in ``Client.call_action``'s order (PySOA 1.4.9's).

        Returns:
            The :class:`ActionResponse`; the list of job :class:`Error` records instead if the job failed and
            ``raise_job_errors`` is false; ``None`` with ``suppress_response``.

        Raises:
            CallJobError, CallActionError, MessageReceiveTimeout, ImproperlyConfigured, InvalidExpansionKey: As
                for ``Client.call_action``.
            TypeError: More options by position than ``Client.call_action`` takes, or one given twice.
        """
        if positional:
            options = options_by_position("AsyncClient.call_action", positional, options)
        actions = [ActionRequest(action=action, body=body or {})]
        return action_result(await self._call(service_name, actions, options_of(options)))

    async def call_actions(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> JobResponse:
        """Call several actions in one job and wait for the :class:`JobResponse` (as ``Client.call_actions``).

        Options may be given by position too, in ``Client.call_actions``' order (PySOA 1.4.9's).
        """
        if positional:
            options = options_by_position("AsyncClient.call_actions", positional, options)
        return await self._call(service_name, actions, options_of(options))  # type: ignore[no-any-return]

    async def call_actions_parallel(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> Generator[ActionResponse, None, None]:
        """Call each action as its own job, all at once (as ``Client.call_actions_parallel``).

        Options may be given by position too, in ``Client.call_actions_parallel``'s order (PySOA 1.4.9's).

        Returns:
            A generator of the action responses in input order (job errors or transport exceptions in place,
            as for ``Client``).
        """
        if positional:
            options = options_by_position("AsyncClient.call_actions_parallel", positional, options)
        results = await self.call_jobs_parallel(jobs_of_actions(service_name, actions), **options)
        items = [first_action(result) for result in results]
        return (item for item in items)

    async def call_jobs_parallel(
        self, jobs: Iterable[JobRequestArgument], *positional: Any, **options: Unpack[CallKeywords]
    ) -> list[JobResponse]:
        """Send several jobs at once and wait for every response (as ``Client.call_jobs_parallel``).

        The jobs are sent concurrently and their replies awaited together, within the call's ``timeout``. Options
        may be given by position too, in ``Client.call_jobs_parallel``'s order (PySOA 1.4.9's).

        Returns:
            The job responses in input order (transport exceptions in place with ``catch_transport_errors``).

        Raises:
            CallJobError, CallActionError: A job failed (as the options ask).
            PySOATransportError: A job could not be sent or its reply did not come (unless
                ``catch_transport_errors``); the other jobs are then forgotten.
            TypeError: More options by position than ``Client.call_jobs_parallel`` takes, or one given twice.
        """
        if positional:
            options = options_by_position("AsyncClient.call_jobs_parallel", positional, options)
        call = options_of(options)
        job_list = parallel_jobs_of(jobs, call)
        deadline = self.deadline if self._deadline is not None or self.job_deadline_margin is not None else None
        if deadline is not None:
            call = within_deadline(
                deadline, dict.fromkeys(service for service, _a in job_list), call, self._default_wait
            )
        # One correlation id for the whole call links its jobs.
        call = call.with_correlation_id(self.context)
        started = time.monotonic()
        catch = call.catch_transport_errors

        async def one_job(service_name: str, actions: list[Any]) -> Any:
            try:
                policies = self._call_policies(service_name, call)
                if policies is not None or call.fallback is not None:
                    # Its jobs never wait for room in a bulkhead: they would wait for each other.
                    return (await self._guarded(service_name, actions, call, policies, wait_for_room=False))[1]
                request_id = await self._send(service_name, actions, call)
                if not call.expects_reply:
                    return None
                return await self._wait(service_name, request_id, call.wait_left(started))
            except PySOATransportError as exc:
                if not catch:
                    raise
                return exc

        results = await _all_or_nothing([one_job(service, actions) for service, actions in job_list])
        raise_errors(
            (r for r in results if isinstance(r, JobResponse)), call.raise_job_errors, call.raise_action_errors
        )
        if call.expansions:
            await self._expand(expandable_actions(results), call)
        return results


async def _all_or_nothing(calls: list[Awaitable[_T]]) -> list[_T]:
    """Run ``calls`` concurrently and return their results in order; the first to fail cancels the others.

    Raises:
        BaseException: The error of the first call (in input order) that failed; if this coroutine is cancelled,
            every call is cancelled (each forgets its request) before the cancellation goes on.
    """
    if len(calls) == 1:
        return [await calls[0]]
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    # Every error is retrieved (none is reported as never retrieved); the first in input order is raised.
    errors = [task.exception() for task in tasks if not task.cancelled()]
    for error in errors:
        if error is not None:
            raise error
    return [task.result() for task in tasks]
