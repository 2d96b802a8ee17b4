"""The client: call actions on services, blocking, in parallel or through futures.

Every call method is a thin wrapper over one path (:meth:`Client._send`, :meth:`Client._wait`,
:meth:`Client._finish`): its keyword arguments become a :class:`CallOptions`
value, the job goes out through the public :meth:`Client.send_request` and its reply comes back through
the public :meth:`Client.get_all_responses`, so a subclass or a test that replaces either sees every
call, as in PySOA. Replies are routed by request id (see :mod:`pysoa_like.client._service_handler`), so
calls of any kind can be mixed on one client and one thread, and one client can be shared by several
threads.

This module holds that path and the blocking ``call_action`` and ``call_actions`` (every function a blocking call
runs, so that the call stays in one file until it reaches the service's handler); the futures and parallel calls
are a base class, ``_future_calls.py``; the call methods' keywords and their checks are ``_call_keywords.py``'s, the
thread's call state ``_call_state.py``'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pysoa_like.client._call_keywords import (
    JOB_KEYWORDS,
    ActionRequestArgument,
    ActionRequestArgumentIterable,
    ActionRequestArgumentList,
    CallKeywords,
    JobRequestArgument,
    check_job_arguments,
)
from pysoa_like.client._call_state import CallState, kept_then

# (ClientBase, the Client's base class, stays importable from here, as it was before the fleet methods moved.)
from pysoa_like.client._client_base import ClientBase as ClientBase
from pysoa_like.client._deadline import SHORTEST_WAIT_SECONDS
from pysoa_like.client._future import FutureSOAResponse
from pysoa_like.client._future_calls import FutureCalls
from pysoa_like.client._parallel import raise_errors
from pysoa_like.client._resilience import call_guarded
from pysoa_like.client._service_handler import (
    ServiceHandler,
    job_of,
    make_context_header,
    make_control_header,
    new_correlation_id,
)
from pysoa_like.client.errors import PySOAClientError
from pysoa_like.client.expander import perform_expansions
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.types import ActionRequest, ActionResponse, Context, JobResponse
from pysoa_like.core.deadlines import bounded_expiry
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.core.retry import RetryPolicy, retry_policy_of

if TYPE_CHECKING:
    from typing_extensions import Unpack


__all__ = [
    "ActionRequestArgument",
    "ActionRequestArgumentIterable",
    "ActionRequestArgumentList",
    "Client",
    "FutureSOAResponse",
    "JobRequestArgument",
    "ServiceHandler",
    "action_result",
    "job_has_errors",
]

# The keyword arguments of the call methods (their types and checks: _call_keywords.py) are read and checked once
# into a CallOptions value, which the call path passes around instead of the keywords themselves. A number of seconds
# is checked here: a call with a timeout checks it on its way.


def check_seconds(value: Any, name: str) -> None:
    """Check a duration argument: None, or a finite number of seconds (``0`` means the default, as in PySOA).

    Raises:
        TypeError: ``value`` is not a number (a bool or a string included).
        ValueError: ``value`` is negative, NaN or infinite.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds (int or float) or None, got {short_repr(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds, 0 or more, got {value!r}")


class CallOptions:
    """The options of one call, read once from its keyword arguments (see :class:`CallKeywords`).

    Args:
        expansions: ``{type: ["expansion", ...]}`` to expand in the responses.
        raise_job_errors: Raise ``CallJobError`` on job errors (else return them).
        raise_action_errors: Raise ``CallActionError`` with every failed action.
        catch_transport_errors: Parallel calls: return transport errors in place of responses.
        timeout: Seconds for the message expiry, ``control.timeout`` and the receive wait.
        fallback: What the call returns instead of failing (see :mod:`pysoa_like.client.fallbacks`).
        idempotent: Whether the call may be retried after a timeout or a server error (``None``: the
            service's ``retry`` setting says, by action).
        retry: This call's retry policy (a dict of the ``retry`` setting's keys), ``False`` for no retries,
            or ``None`` for the service's.
        job_keywords: The keywords of ``Client.send_request`` (switches, correlation id, ...).

    Raises:
        TypeError: A keyword that no call method takes, or an argument of the wrong type (see
            :func:`check_job_arguments`).
        ValueError: A ``timeout`` or ``message_expiry_in_seconds`` that is negative, NaN or infinite.
    """

    __slots__ = (
        "catch_transport_errors",
        "expansions",
        "expects_reply",
        "fallback",
        "idempotent",
        "job_keywords",
        "raise_action_errors",
        "raise_job_errors",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        expansions: Mapping[str, Any] | None = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: float | None = None,
        fallback: Any = None,
        idempotent: bool | None = None,
        retry: Any = None,
        **job_keywords: Any,
    ) -> None:
        if not JOB_KEYWORDS.issuperset(job_keywords):
            unknown = sorted(set(job_keywords) - JOB_KEYWORDS)
            raise TypeError(f"Unexpected keyword argument(s) for a client call: {', '.join(unknown)}")
        self.expansions = expansions
        self.raise_job_errors = raise_job_errors
        self.raise_action_errors = raise_action_errors
        self.catch_transport_errors = catch_transport_errors
        self.fallback = fallback
        if idempotent is not None and not isinstance(idempotent, bool):
            raise TypeError(f"idempotent must be True, False or None, got {idempotent!r}")
        self.idempotent = idempotent
        #: ``None`` (the service's policy), ``False`` (no retries) or this call's :class:`RetryPolicy`.
        self.retry: RetryPolicy | Literal[False] | None = (
            retry if retry is None or retry is False or isinstance(retry, RetryPolicy) else retry_policy_of(retry)
        )
        if timeout is not None:
            check_seconds(timeout, "timeout")
        if job_keywords:
            # Checked here, once: the stock send_request does not check a call method's keywords again.
            check_job_arguments(
                job_keywords.get("switches"),
                job_keywords.get("correlation_id"),
                job_keywords.get("context"),
                job_keywords.get("control_extra"),
            )
            expiry = job_keywords.get("message_expiry_in_seconds")
            if expiry is not None:
                check_seconds(expiry, "message_expiry_in_seconds")
        control_extra = job_keywords.get("control_extra")
        self.timeout = timeout
        if timeout and not job_keywords.get("message_expiry_in_seconds"):
            # The call's timeout is also its message expiry, unless one is given (PySOA's rule).
            job_keywords["message_expiry_in_seconds"] = timeout
        #: What ``send_request`` gets: the caller's job keywords (the timeout as the expiry if none).
        self.job_keywords: dict[str, Any] = job_keywords
        suppress_response = job_keywords.get("suppress_response")
        #: Whether the server will answer: not when the job's control says ``suppress_response`` (exactly True).
        self.expects_reply = not (suppress_response or control_extra) or not suppress_response_requested(
            make_control_header(False, bool(suppress_response), control_extra)
        )

    def with_correlation_id(self, base_context: Mapping[str, Any]) -> CallOptions:
        """These options with the correlation id made explicit (a new one unless given or in ``base_context``).

        The jobs of a parallel call share one correlation id, and the expansions of a call send their
        requests with the context of the call's job, so the call path fixes it before sending.
        """
        if self.job_keywords.get("correlation_id") is not None or base_context.get("correlation_id"):
            return self
        return CallOptions(
            self.expansions,
            self.raise_job_errors,
            self.raise_action_errors,
            self.catch_transport_errors,
            self.timeout,
            self.fallback,
            self.idempotent,
            self.retry,
            **{**self.job_keywords, "correlation_id": new_correlation_id()},
        )

    def with_timeout(self, timeout: float) -> CallOptions:
        """These options with ``timeout`` (a deadline's time left) instead, the message expiry cut to it."""
        expiry = self.job_keywords.get("message_expiry_in_seconds")
        return CallOptions(
            self.expansions,
            self.raise_job_errors,
            self.raise_action_errors,
            self.catch_transport_errors,
            timeout,
            self.fallback,
            self.idempotent,
            self.retry,
            **{**self.job_keywords, "message_expiry_in_seconds": bounded_expiry(expiry, timeout)},
        )

    def wait_left(self, started: float) -> float | None:
        """What is left of this call's ``timeout`` (``None``: the transport's default) counted from ``started``
        (``time.monotonic()``).

        A reply may already be waiting when the time is up, so it is still looked for, briefly.
        """
        timeout = self.timeout
        if not timeout:
            return timeout
        return max(timeout - (time.monotonic() - started), SHORTEST_WAIT_SECONDS)

    def job_context(self, base_context: Mapping[str, Any]) -> Context:
        """The context header of this call's job (give it :meth:`with_correlation_id` first)."""
        keywords = self.job_keywords
        return make_context_header(
            base_context, keywords.get("switches"), keywords.get("correlation_id"), keywords.get("context")
        )


# The options of a call given no keyword argument (options are never changed once made).
_DEFAULT_OPTIONS = CallOptions()


def options_of(keywords: Mapping[str, Any]) -> CallOptions:
    """The options of a call made with ``keywords`` (see :class:`CallKeywords`).

    Raises:
        TypeError: A keyword that no call method takes.
    """
    return CallOptions(**keywords) if keywords else _DEFAULT_OPTIONS


def job_has_errors(response: JobResponse) -> bool:
    """Whether the job or any of its actions has errors (most replies have none: nothing to raise)."""
    if response.errors:
        return True
    for action in response.actions:  # noqa: SIM110  # a loop: any() with a generator costs twice as much here
        if action.errors:
            return True
    return False


def action_result(response: JobResponse | None) -> ActionResponse:
    """What a one-action call returns for its job's reply."""
    if response is None:
        return None  # type: ignore[return-value]  # suppress_response
    if response.errors:
        # Only reachable with raise_job_errors=False; PySOA returns the errors in that case.
        return cast(ActionResponse, response.errors)
    return response.actions[0]


class Client(FutureCalls):
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
        SettingsError: (``Settings.ImproperlyConfigured``) A service's settings or the expansion config are invalid.

    Keyword arguments of the call methods (defaults in parentheses), all keyword-only:

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
    * ``fallback`` (None), ``idempotent`` (None), ``retry`` (None): blocking calls only; what the call
      returns instead of failing, whether it may be retried after a timeout or a server error, and its own
      retry policy (see ``docs/resilience.rst``).

    Attributes:
        deadline: An absolute Unix time that bounds every call of this client, or ``None`` (the default).
            The client a server makes for a job (``request.client``) gets the job's deadline minus a margin:
            each call then waits at most the time left (its timeout is cut to it), its request carries that
            deadline as its expiry, and a call made with no time left raises :class:`DeadlineExceededError`
            at once, without sending anything.
    """

    #: Validates each service's settings (the settings of a ``Client`` are :class:`ClientSettings`).
    settings_class: Any = ClientSettings
    handler_class: type[ServiceHandler] = ServiceHandler

    FutureResponse = FutureSOAResponse

    # (For the futures and parallel calls, _future_calls.py: the call path's own functions.)
    _options_of = staticmethod(options_of)
    _action_result = staticmethod(action_result)

    # (The constructor is ClientBase's.) Made when first needed: a server builds a client per job, and most jobs
    # make no call.
    _calls: CallState | None = None

    def _new_call_state(self) -> CallState:
        """The calls' thread state, made on first use (``self._calls or self._new_call_state()`` reads it)."""
        with self._handlers_lock:
            state = self._calls
            if state is None:
                state = self._calls = CallState()
        return state

    # Sending without waiting, and collecting: every call goes through these two

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

        Every call method sends its jobs through this method (the reply of such a job is then its
        call's own, never yielded to another collector).

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
            TypeError: An argument has the wrong type: ``switches`` (a list, tuple or set of ints or int-like
                switch constants; a float or a bool is refused), ``correlation_id`` (a string), ``context`` or
                ``control_extra`` (mappings), ``message_expiry_in_seconds`` (a number); the message names it.
            ValueError: ``message_expiry_in_seconds`` is negative, NaN or infinite.
            InvalidField: A body cannot be encoded (it contains itself, or nests too deeply, say); the message
                names the path.
            PySOATransportError: The transport could not send the request.
        """
        calls = self._calls
        if calls is not None and calls.sending is not None:
            # A call method's own job: its keywords were checked when its options were read.
            claimed, awaits_reply = True, calls.sending.expects_reply
            receive_follows, calls.receive_follows = calls.receive_follows, None
        else:
            claimed, awaits_reply, receive_follows = False, None, None
            check_job_arguments(switches, correlation_id, context, control_extra)
            if message_expiry_in_seconds is not None:
                check_seconds(message_expiry_in_seconds, "message_expiry_in_seconds")
        if (self._deadline is not None or self.job_deadline_margin is not None) and self.deadline is not None:
            message_expiry_in_seconds = bounded_expiry(message_expiry_in_seconds, self._time_left(service_name))
        handler = self.handlers.get(service_name) or self._get_handler(service_name)
        job = job_of(
            self.context,
            handler.base_context,
            actions,
            switches,
            correlation_id,
            continue_on_error,
            context,
            control_extra,
            message_expiry_in_seconds,
            suppress_response,
            # (In its wire form at once unless middleware, or a replaced handler method, must see the JobRequest.)
            as_message=handler.takes_messages(),
        )
        return handler.send_request(job, message_expiry_in_seconds, claimed, receive_follows, awaits_reply)

    def get_all_responses(
        self, service_name: str, receive_timeout_in_seconds: float | None = None
    ) -> Iterator[tuple[int, JobResponse]]:
        """Yield ``(request_id, JobResponse)`` for the requests this thread sent with :meth:`send_request`.

        Replies belonging to blocking calls or futures are never yielded here. A call method collects
        its own reply through here too: it then gets that reply alone (waited for at once, not when
        iterated). Expansions are not performed.

        Args:
            service_name: The service the requests were sent to.
            receive_timeout_in_seconds: The most seconds to wait for each reply.

        Raises:
            MessageReceiveTimeout: A reply did not arrive in time.
        """
        handler = self.handlers.get(service_name) or self._get_handler(service_name)
        calls = self._calls
        if calls is not None:
            collecting = calls.collecting
            if collecting is not None and collecting[0] == service_name:
                request_id = collecting[1]
                return iter(((request_id, handler.get_response(request_id, receive_timeout_in_seconds)),))
            if calls.kept:
                return kept_then(calls.kept, service_name, handler.get_all_responses(receive_timeout_in_seconds))
        return handler.get_all_responses(receive_timeout_in_seconds)

    # The one call path: deadline, send, wait, finish

    def _send(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        options: CallOptions,
        receive_follows: float | None = None,
    ) -> int:
        """Send one job of a call through :meth:`send_request`; its request id.

        ``receive_follows``: the timeout of the receive of its reply that the caller makes right after (``0.0``
        for the transport's default), so that the transport may start that wait with the send.
        """
        state = self._calls or self._new_call_state()
        sending, state.sending = state.sending, options
        state.receive_follows = receive_follows
        try:
            return self.send_request(service_name, actions, **options.job_keywords)
        finally:
            state.sending = sending
            state.receive_follows = None

    def _wait(self, service_name: str, request_id: Any, timeout: float | None) -> JobResponse:
        """Collect the reply to one of the calls' requests through :meth:`get_all_responses`.

        Replies a replaced ``get_all_responses`` yields for other requests are kept for their own callers.

        Raises:
            MessageReceiveTimeout: The reply did not come in time (the request is then forgotten).
            PySOAClientError: A replaced ``get_all_responses`` ended without it.
        """
        state = self._calls or self._new_call_state()
        kept = state.kept.pop((service_name, request_id), None) if state.kept else None
        if kept is not None:
            return kept
        # Set while the replies are pulled: a replaced get_all_responses may call the stock one lazily.
        collecting, state.collecting = state.collecting, (service_name, request_id)
        others: list[Any] = []
        responses: Iterator[tuple[Any, JobResponse]] | None = None
        try:
            responses = self.get_all_responses(service_name, receive_timeout_in_seconds=timeout)
            for received_id, response in responses:
                if received_id == request_id:
                    return response
                state.kept[(service_name, received_id)] = response
                others.append(received_id)
        finally:
            state.collecting = collecting
            close = getattr(responses, "close", None)
            if close is not None:
                close()
        raise PySOAClientError(
            f"get_all_responses for service {service_name} ended without the response to request "
            f"{request_id!r} (it gave responses to {others!r})"
        )

    def _forget(self, service_name: str, request_id: Any) -> None:
        """Stop waiting for one of the calls' requests (a reply that still comes is dropped)."""
        handler = self.handlers.get(service_name)
        if handler is not None:
            handler.forget(request_id)
        if self._calls is not None:
            self._calls.kept.pop((service_name, request_id), None)

    def _finish(self, response: JobResponse, options: CallOptions) -> JobResponse:
        """Raise the errors of one job's reply as the options ask, then perform the expansions."""
        if job_has_errors(response):
            raise_errors((response,), options.raise_job_errors, options.raise_action_errors)
        if options.expansions and not response.errors:
            self._expand(response.actions, options)
        return response

    def _expand(self, actions: Iterable[ActionResponse], options: CallOptions) -> None:
        """Perform a call's expansions on ``actions`` (their requests go through this same path)."""
        perform_expansions(
            self.expansion_converter,
            self._send,
            self._wait,
            self._forget,
            actions,
            options.expansions,
            options.job_context(self.context),
            options.job_keywords.get("control_extra"),
            options.timeout,
        )

    def _call(self, service_name: str, actions: ActionRequestArgumentIterable, options: CallOptions) -> Any:
        """Send one job and wait for its finished reply (``None`` when the job asks for no reply).

        The timeout counts from the call's start: the time the send took is taken off the wait for the reply.
        A service with resilience policies, or a call with a ``fallback``, goes through
        :func:`~pysoa_like.client._resilience.call_guarded`.
        """
        if self._deadline is not None or self.job_deadline_margin is not None:
            options = self._within_deadline((service_name,), options)
        if options.expansions:
            options = options.with_correlation_id(self.context)
        # One lookup serves the policies and the transport below (a service not seen yet gets its handler made
        # by _policies; one that only a replaced method knows has none).
        handler = self.handlers.get(service_name)
        policies = self._policies(service_name) if handler is None else handler.policies
        if policies is None and options.retry:
            policies = self._call_policies(service_name, options)
        if policies is not None or options.fallback is not None:
            action_list = list(actions)

            def attempt(attempt_options: CallOptions, sent: list[bool]) -> JobResponse | None:
                return self._send_and_wait(service_name, action_list, attempt_options, sent)

            return call_guarded(self, service_name, action_list, options, policies, attempt)
        timeout = options.timeout
        started = time.monotonic() if timeout else 0.0
        if not options.expects_reply:
            self._send(service_name, actions, options)
            return None
        # The reply is collected right away: the transport may start waiting for it with the send.
        request_id = self._send(service_name, actions, options, timeout or 0.0)
        return self._finish(self._wait(service_name, request_id, options.wait_left(started)), options)

    def _send_and_wait(
        self, service_name: str, actions: ActionRequestArgumentIterable, options: CallOptions, sent: list[bool]
    ) -> JobResponse | None:
        """One attempt of a guarded call: send, then wait for the reply (not finished); ``sent[0]`` once sent."""
        timeout = options.timeout
        started = time.monotonic() if timeout else 0.0
        request_id = self._send(service_name, actions, options)
        sent[0] = True
        if not options.expects_reply:
            return None
        return self._wait(service_name, request_id, options.wait_left(started))

    def _futures_replaced(self) -> bool:
        """Whether a subclass or a patch replaced the future methods the blocking calls are defined by.

        The blocking ``call_action`` and ``call_actions`` then go through them, as in PySOA; otherwise
        they take the same path without building a future (the only place this is decided).
        """
        cls = type(self)
        if cls.call_actions_future is not _CALL_ACTIONS_FUTURE or cls.call_action_future is not _CALL_ACTION_FUTURE:
            return True
        instance = self.__dict__
        return "call_actions_future" in instance or "call_action_future" in instance

    # Blocking calls

    def call_action(
        self, service_name: str, action: str, body: dict[str, Any] | None = None, **options: Unpack[CallKeywords]
    ) -> ActionResponse:
        """Call one action and wait for its response.

        Args:
            service_name: The service to call.
            action: The action to call.
            body: The action's request body (default ``{}``).
            **options: ``expansions``, ``raise_job_errors``, ``raise_action_errors``, ``timeout``,
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
        if self._futures_replaced():
            return self.call_action_future(service_name, action, body, **options).result()
        actions = [ActionRequest(action=action, body=body or {})]
        return action_result(self._call(service_name, actions, options_of(options)))

    def call_actions(
        self, service_name: str, actions: ActionRequestArgumentIterable, **options: Unpack[CallKeywords]
    ) -> JobResponse:
        """Call several actions in one job and wait for the :class:`JobResponse`.

        Args:
            service_name: The service to call.
            actions: The actions, run in order by one server.
            **options: The keyword arguments of :meth:`call_action`.

        Raises:
            CallJobError, CallActionError, MessageReceiveTimeout: As for :meth:`call_action`.
        """
        if self._futures_replaced():
            return self.call_actions_future(service_name, actions, **options).result()
        return self._call(service_name, actions, options_of(options))  # type: ignore[no-any-return]


# The future methods as defined here: the blocking calls skip building a future unless they were replaced.
_CALL_ACTIONS_FUTURE = Client.call_actions_future
_CALL_ACTION_FUTURE = Client.call_action_future
