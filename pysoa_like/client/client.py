"""The client: call actions on services, blocking, in parallel or through futures; and its link to each service.

Every call method is a thin wrapper over one path (:meth:`Client._send`, :meth:`Client._wait`,
:meth:`Client._finish`): its keyword arguments become a :class:`CallOptions`
value, the job goes out through the public :meth:`Client.send_request` and its reply comes back through
the public :meth:`Client.get_all_responses`, so a subclass or a test that replaces either sees every
call, as in PySOA. Calls of any kind can be mixed on one client and one thread, and one client can be shared
by several threads.

This module holds that path, the blocking ``call_action`` and ``call_actions``, and (as in PySOA) the
:class:`ServiceHandler` a client keeps per service: every function a blocking call runs in the client stays in
this file until the call reaches the transport. The futures and parallel calls are a base class,
``_future_calls.py``; the call methods' keywords and their checks are ``_call_keywords.py``'s, the thread's call
state ``_call_state.py``'s; what a handler is built from (transport, middleware, recorder, policies) is its base
class :class:`~pysoa_like.client._service_link.ServiceLink`'s, and its timed steps under a recording metrics
recorder :class:`~pysoa_like.client._call_metrics.CallMetrics`'.

The job of a call is built here (:func:`job_of`: its control and context headers, the correlation id, and its
wire form at once when no middleware would see the ``JobRequest``, :meth:`ServiceHandler.takes_messages`).

Replies reach a client on a reply channel per thread (over Redis each client thread has its own reply
list), so each handler keeps a :class:`ReplyRouter` per thread: the ids this thread still waits for and the
replies it pulled while waiting for another request. A reply is only ever handed to the call that sent its
request; a reply nobody waits for (late after a timeout, or duplicated) is logged and dropped. PySOA 1.4.9
instead drained every reply and counted outstanding requests, which lost replies between concurrent futures,
after ``suppress_response`` and after timeouts.

Metrics: with the default :class:`~pysoa_like.common.metrics.NoOpMetricsRecorder` nothing is timed or
counted (the handler is built without its instruments, decided once in ``__init__``); any other
recorder gets PySOA's client metrics plus ``client.call`` (a timer from send to reply) and
``client.call.error`` (per error code), for Prometheus and tracing.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from pysoa_like.client._call_keywords import (
    JOB_KEYWORDS,
    ActionRequestArgument,
    ActionRequestArgumentIterable,
    ActionRequestArgumentList,
    CallKeywords,
    JobRequestArgument,
    check_expansions,
    check_job_arguments,
    options_by_position,
)
from pysoa_like.client._call_state import CallState, kept_then

# (ClientBase, the Client's base class, stays importable from here, as it was before the fleet methods moved.)
from pysoa_like.client._client_base import ClientBase as ClientBase
from pysoa_like.client._deadline import SHORTEST_WAIT_SECONDS, expiry_within
from pysoa_like.client._future import FutureSOAResponse
from pysoa_like.client._future_calls import FutureCalls
from pysoa_like.client._parallel import raise_errors
from pysoa_like.client._resilience import call_guarded
from pysoa_like.client._service_link import ServiceLink
from pysoa_like.client.errors import DeprecatedActionWarning, PySOAClientError
from pysoa_like.client.expander import perform_expansions
from pysoa_like.client.settings import ClientSettings
from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import (
    ActionRequest,
    ActionResponse,
    Context,
    Control,
    JobRequest,
    JobResponse,
    job_message,
    job_request_to_dict,
    job_response_from_dict,
)
from pysoa_like.core.deadlines import bounded_expiry
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.core.retry import RetryPolicy, retry_policy_of
from pysoa_like.core.switches import get_switch
from pysoa_like.version import __version_info__

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

_logger = logging.getLogger("pysoa_like.client")

_CLIENT_VERSION: tuple[int, ...] = tuple(__version_info__)

# The response context key a server lists the deprecated actions of a job under (action -> message).
_DEPRECATED_ACTIONS = "deprecated_actions"


def deprecation_warnings(service_name: str, response: JobResponse) -> JobResponse:
    """``response``, on its way to its caller (after the warnings of its deprecated actions)."""
    context = response.context
    if context and _DEPRECATED_ACTIONS in context:
        _warn_deprecated(service_name, context)
    return response


def _warn_deprecated(service_name: str, context: Mapping[str, Any]) -> None:
    """Warn about each deprecated action a delivered reply's job ran (an exception under ``-W error``)."""
    deprecated = context[_DEPRECATED_ACTIONS]
    if isinstance(deprecated, dict):
        for action, message in deprecated.items():
            warnings.warn(DeprecatedActionWarning(service_name, str(action), str(message)), stacklevel=5)


# --------------------------------------------------------------------------------------------------------------------
# Reply routing by request id: which waiting call a received reply belongs to.
#
# A :class:`ReplyRouter` holds the routing state of one reply channel: over Redis a reply queue, which
# belongs to one client transport and thread; the client keeps one router per service and thread. Its
# caller sends requests, pulls replies off the channel and asks the router what each reply is:
#
# * the reply the caller is waiting for (:data:`DELIVER`);
# * the reply of another request still outstanding on the channel, kept until its own caller takes it
#   (:data:`KEEP`);
# * a reply nobody waits for, late after a timeout or a duplicate, to be dropped (:data:`DROP`).
#
# Requests are either *claimed*, collected by the call that sent them, or *open*, collected by whoever
# asks for every open reply (``get_all_responses``). A reply is only ever handed to the call that sent
# its request, or to a collector of open replies if it was sent open, and at most once.
# --------------------------------------------------------------------------------------------------------------------


#: The reply is the one asked for; hand it over.
DELIVER: Final = "deliver"
#: The reply belongs to another outstanding request; it is kept for it.
KEEP: Final = "keep"
#: Nobody waits for the reply (late or duplicate); drop it.
DROP: Final = "drop"


def _among(request_id: Any, ids: set[Any]) -> bool:
    try:
        return request_id in ids
    except TypeError:  # an unhashable id, from a misbehaving server, is no request's
        return False


class ReplyRouter:
    """The routing state of one reply channel.

    Attributes:
        outstanding: Request ids sent on this channel whose reply has not been pulled yet.
        open: The ids among them (or among :attr:`kept`) sent open.
        kept: Replies pulled while waiting for another one, by request id, in arrival order.
    """

    __slots__ = ("kept", "open", "outstanding")

    def __init__(self) -> None:
        self.outstanding: set[Any] = set()
        self.open: set[Any] = set()
        self.kept: dict[Any, Any] = {}

    def sent(self, request_id: Any, claimed: bool) -> None:
        """Register a request whose reply will come (never call it for a request that gets none).

        Args:
            request_id: Its id.
            claimed: ``True`` when its caller collects the reply itself; ``False`` for an open request.
        """
        self.outstanding.add(request_id)
        if not claimed:
            self.open.add(request_id)

    def start_waiting(self, request_id: Any) -> Any:
        """Begin to wait for ``request_id``'s reply: the reply if it is already kept (then it is taken), else ``None``.

        The request is outstanding again, so that a wait repeated after a timeout still catches a late reply.
        """
        reply = self.kept.pop(request_id, None)
        if reply is not None:
            self.open.discard(request_id)
        else:
            self.outstanding.add(request_id)
        return reply

    def route(self, request_id: Any, wanted: Any) -> str:
        """What to do with a reply to ``request_id`` pulled off the channel while waiting for ``wanted``.

        Returns:
            :data:`DELIVER` (the request is then done), :data:`KEEP` (the caller stores the reply with
            :meth:`keep`) or :data:`DROP`.
        """
        if request_id == wanted:
            self.outstanding.discard(request_id)
            self.open.discard(request_id)
            return DELIVER
        return KEEP if _among(request_id, self.outstanding) else DROP

    def route_open(self, request_id: Any) -> str:
        """What to do with a reply pulled while collecting open ones: :data:`DELIVER` if open, else as :meth:`route`."""
        if _among(request_id, self.open):
            self.done(request_id)
            return DELIVER
        return KEEP if _among(request_id, self.outstanding) else DROP

    def keep(self, request_id: Any, reply: Any) -> None:
        """Store a reply :meth:`route` said to keep; it is no longer outstanding."""
        self.outstanding.discard(request_id)
        self.kept[request_id] = reply

    def done(self, request_id: Any) -> None:
        """The request's reply was handed over, or its caller gave up on it: stop waiting for it."""
        self.outstanding.discard(request_id)
        self.open.discard(request_id)

    def forget(self, request_id: Any) -> None:
        """Stop waiting for ``request_id`` and drop any reply kept for it."""
        self.done(request_id)
        self.kept.pop(request_id, None)

    def take_open_kept(self) -> list[tuple[Any, Any]]:
        """Every kept reply of an open request, in arrival order (removing them)."""
        ready = [request_id for request_id in self.kept if request_id in self.open]
        for request_id in ready:
            self.open.discard(request_id)
        return [(request_id, self.kept.pop(request_id)) for request_id in ready]

    def forget_open(self) -> list[Any]:
        """Stop waiting for every open request (their kept replies are dropped); returns their ids."""
        forgotten = list(self.open)
        for request_id in forgotten:
            self.outstanding.discard(request_id)
            self.kept.pop(request_id, None)
        self.open.clear()
        return forgotten


class _ThreadState(ReplyRouter):
    """One thread's reply routing, (with a recorder) the ``client.call`` timer of each call awaiting its reply, and
    the timeout of the receive announced to follow the send under way (see :meth:`ServiceHandler.send_request`)."""

    __slots__ = ("calls", "receive_follows")

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[Any, tuple[Any, str]] = {}
        self.receive_follows: float | None = None


class _PerThread(threading.local):
    """The handler's state in each thread, made when the thread first uses the handler."""

    def __init__(self) -> None:
        self.state = _ThreadState()


class ServiceHandler(ServiceLink):
    """Sends job requests to one service and routes its replies back to the calls waiting for them.

    A :class:`~pysoa_like.client.client.Client` creates one handler per service on first use.

    Args:
        service_name: The service this handler calls.
        settings: That service's client settings (``transport``, ``middleware``, ``metrics``, each
            class configuration holding the imported class under ``object``).
    """

    # (The constructor is ServiceLink's.) The handler's state in each thread: its reply routing.
    _per_thread = _PerThread

    def _next_request_id(self) -> int:
        with self._counter_lock:
            request_id = self.request_counter
            self.request_counter += 1
        return request_id

    # Sending

    def _send_to_transport(
        self, request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: float | None = None
    ) -> None:
        body = job_request_to_dict(job_request) if isinstance(job_request, JobRequest) else job_request
        transport = self.transport
        state = self._local.state
        receive_follows = state.receive_follows
        if receive_follows is not None:
            # Announced right before the send it is about (never left behind for another send of the thread).
            state.receive_follows = None
            transport.receive_follows(receive_follows)
        transport.send_request_message(request_id, meta, body, message_expiry_in_seconds)

    def takes_messages(self) -> bool:
        """Whether :meth:`send_request` may be given a job in its wire form: no middleware would see the
        ``JobRequest``, and ``send_request`` is this class's (a replaced one, as ``stub_action``'s, reads it)."""
        return not self.middleware and type(self).send_request is _SEND_REQUEST and "send_request" not in vars(self)

    def send_request(
        self,
        job_request: JobRequest | dict[str, Any],
        message_expiry_in_seconds: float | None = None,
        claimed: bool = False,
        receive_follows: float | None = None,
        awaits_reply: bool | None = None,
    ) -> int:
        """Send a job request through the middleware and register its id for reply routing on this thread.

        Args:
            job_request: The job to send; or, when :meth:`takes_messages`, its wire form (see
                :func:`~pysoa_like.common.types.job_message`).
            message_expiry_in_seconds: How long the request may wait for a server; ``None`` for the
                transport's default.
            claimed: ``True`` when the caller collects the reply itself (:meth:`get_response`);
                ``False`` (PySOA's only kind) leaves it to :meth:`get_all_responses`.
            receive_follows: The timeout of a receive of the reply that the caller makes right after this send
                (``0`` for the transport's default), announced to the transport just before the send
                (``ClientTransport.receive_follows``); ``None``: none follows.
            awaits_reply: Whether a reply will come, when the caller knows it already (a call method's options
                say); ``None``: read from the job's control (``suppress_response``), before the send and again
                after it, as a request middleware may have changed it in place.

        Returns:
            The request id.

        Raises:
            PySOATransportError: The transport could not send the message.
            InvalidField: The job could not be serialized.
            ServiceVersionError: The settings' ``minimum_version`` is not met by any live instance.
        """
        if self.version_gate is not None:
            self.version_gate.check()
        request_id = self._next_request_id()
        meta: dict[str, Any] = {"client_version": list(_CLIENT_VERSION)}
        from_control = awaits_reply is None
        if awaits_reply is None:
            awaits_reply = not suppress_response_requested(_control_of(job_request))
        state = self._local.state
        # Registered for routing before it goes (so the call's path does not come back here after the transport),
        # and forgotten if it does not. A suppressed request gets no reply, so it is never waited for.
        if awaits_reply:
            state.sent(request_id, claimed)
        state.receive_follows = receive_follows
        timed: tuple[Any, str] | None = None
        try:
            if self._measured:
                timed = self._send_measured(request_id, meta, job_request, message_expiry_in_seconds)
                if awaits_reply:
                    state.calls[request_id] = timed
            else:
                self._send_stack(request_id, meta, job_request, message_expiry_in_seconds)
        except BaseException:
            if awaits_reply:
                state.forget(request_id)
            raise
        finally:
            state.receive_follows = None  # (middleware may have answered without sending)
        if from_control:
            awaits_reply = self._follow_control_after_send(state, request_id, job_request, claimed, awaits_reply, timed)
        if timed is not None and not awaits_reply:
            timed[0].stop()
        return request_id

    @staticmethod
    def _follow_control_after_send(
        state: _ThreadState,
        request_id: int,
        job_request: JobRequest | dict[str, Any],
        claimed: bool,
        registered: bool,
        timed: tuple[Any, str] | None,
    ) -> bool:
        """Whether a reply comes, read again from the job's control once it is sent, and the request's routing
        made to agree: a request middleware may have changed ``suppress_response`` in place (PySOA reads the
        flag after the send), so a request that became suppressed is no longer waited for, and one that no
        longer is, is."""
        awaits_reply = not suppress_response_requested(_control_of(job_request))
        if awaits_reply and not registered:
            state.sent(request_id, claimed)
            if timed is not None:
                state.calls[request_id] = timed
        elif registered and not awaits_reply:
            state.forget(request_id)
            state.calls.pop(request_id, None)
        return awaits_reply

    # Receiving

    def _receive_from_transport(
        self, receive_timeout_in_seconds: float | None = None
    ) -> tuple[Any, JobResponse | None]:
        request_id, _meta, body = self.transport.receive_response_message(receive_timeout_in_seconds)
        if body is None:
            return None, None
        return request_id, job_response_from_dict(body)

    def _drop(self, request_id: Any) -> None:
        log_bounded(
            _logger,
            logging.INFO,
            self._log_throttle,
            "dropped reply",
            "Dropped a reply from service %s for request %s that no call is waiting for (late or duplicate)",
            self.service_name,
            short_repr(request_id),
        )

    def get_response(self, request_id: Any, receive_timeout_in_seconds: float | None = None) -> JobResponse:
        """Wait for the reply to one request sent from this thread.

        Replies to other outstanding requests that arrive first are kept for their own callers.

        Args:
            request_id: The id returned when the request was sent.
            receive_timeout_in_seconds: The most seconds to wait in total; ``None`` or ``0`` for the
                transport's default per receive (PySOA's meaning of 0).

        Returns:
            The job response.

        Raises:
            MessageReceiveTimeout: The reply did not arrive in time, or the transport has nothing
                more for this thread. The request is then forgotten: a late reply is dropped unless
                someone waits for this id again.
            PySOATransportError: The transport failed while receiving.
        """
        state = self._local.state
        kept = state.start_waiting(request_id)
        if kept is not None:
            return deprecation_warnings(self.service_name, kept)
        if not receive_timeout_in_seconds:
            receive_timeout_in_seconds = None  # 0 means the default, as in PySOA
        deadline = None if receive_timeout_in_seconds is None else time.monotonic() + receive_timeout_in_seconds
        wait = receive_timeout_in_seconds
        try:
            while True:
                if deadline is not None:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        raise MessageReceiveTimeout(
                            f"No response from service {self.service_name} for request {request_id} within "
                            f"{receive_timeout_in_seconds} seconds"
                        )
                received_id, response = self._receive_one(wait)
                if response is None:
                    raise MessageReceiveTimeout(
                        f"No response from service {self.service_name} for request {request_id}: the transport "
                        "has no more replies for this thread"
                    )
                route = state.route(received_id, request_id)
                if route is DELIVER:
                    return deprecation_warnings(self.service_name, response)
                if route is KEEP:
                    state.keep(received_id, response)
                else:
                    self._drop(received_id)
        except BaseException as exc:
            state.done(request_id)
            if state.calls:
                self._call_ended(state, request_id, None, exc)
            raise
        finally:
            if self._measured:
                self.metrics.publish_all()

    def get_all_responses(
        self, receive_timeout_in_seconds: float | None = None
    ) -> Generator[tuple[Any, JobResponse], None, None]:
        """Yield ``(request_id, JobResponse)`` for every open request this thread sent (``claimed=False``).

        Replies of claimed requests (blocking calls, futures) are kept for their callers, never yielded
        here. The generator ends when no open request is left, or when the transport has nothing more
        for this thread.

        Args:
            receive_timeout_in_seconds: The most seconds to wait for each reply; ``None`` for the
                transport's default.

        Yields:
            ``(request_id, JobResponse)`` in arrival order.

        Raises:
            MessageReceiveTimeout: A reply did not arrive in time; the remaining open requests are forgotten.
            PySOATransportError: The transport failed while receiving.
        """
        state = self._local.state
        try:
            while state.open:
                for request_id, response in state.take_open_kept():
                    yield request_id, deprecation_warnings(self.service_name, response)
                if not state.open:
                    break
                received_id, response = self._receive_one(receive_timeout_in_seconds)
                if response is None:
                    state.forget_open()
                    break
                route = state.route_open(received_id)
                if route is DELIVER:
                    yield received_id, deprecation_warnings(self.service_name, response)
                elif route is KEEP:
                    state.keep(received_id, response)
                else:
                    self._drop(received_id)
        except MessageReceiveTimeout as exc:
            if state.calls:
                for request_id in list(state.open):
                    self._call_ended(state, request_id, None, exc)
            state.forget_open()
            raise
        finally:
            if self._measured:
                self.metrics.publish_all()

    def forget(self, request_id: Any) -> None:
        """Stop waiting for a request sent from this thread; a reply that still comes is dropped."""
        state = self._local.state
        state.forget(request_id)
        entry = state.calls.pop(request_id, None)
        if entry is not None:
            entry[0].stop()


def _control_of(job_request: JobRequest | dict[str, Any]) -> Any:
    """The control header of a job, in either of its forms."""
    return job_request["control"] if isinstance(job_request, dict) else job_request.control


# The job a client sends: its headers and its form (the handler of its service says which).

# The MAC address (as 12 hex digits) and the last timestamp used, as in the standard library's uuid1().
_node_hex: str | None = None
_last_timestamp = 0
# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
# Module-level so tests can pin the clock and the clock sequence.
_time_ns = time.time_ns
_getrandbits = random.getrandbits


def new_correlation_id() -> str:
    """A new version-1 UUID as 32 hex digits: exactly what PySOA sends (``uuid.uuid1().hex``).

    The value is what ``uuid.uuid1(node=uuid.getnode())`` gives for the same clock reading and random
    clock sequence (the MAC address is looked up once), written straight to hex: building the
    ``UUID`` object (and, without a node, asking the OS for a time-safe uuid) cost several times more.
    Like the standard library, timestamps are kept strictly increasing within the process.
    """
    global _node_hex, _last_timestamp
    if _node_hex is None:
        _node_hex = format(uuid.getnode(), "012x")
    timestamp = _time_ns() // 100 + _UUID_EPOCH_OFFSET
    if timestamp <= _last_timestamp:
        timestamp = _last_timestamp + 1
    _last_timestamp = timestamp
    # time_low, time_mid, then time_hi with version 1; the 14-bit clock sequence with the RFC 4122 variant.
    time_fields = (
        ((timestamp & 0xFFFFFFFF) << 32) | ((timestamp >> 16) & 0xFFFF0000) | 0x1000 | ((timestamp >> 48) & 0x0FFF)
    )
    return f"{time_fields:016x}{_getrandbits(14) | 0x8000:04x}{_node_hex}"


def _merge_switches(merged: dict[int, None], switches: Iterable[Any] | None) -> None:
    if switches:
        for switch in switches:
            merged[get_switch(switch)] = None


def make_context_header(
    base_context: Mapping[str, Any],
    switches: Iterable[Any] | None = None,
    correlation_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Context:
    """Build a request's context header without modifying any argument.

    The result is the client's base context, then the correlation id (the explicit one, else the base
    context's, else a new ``uuid1().hex``), then the switches (the union of the base context's, the
    ``switches`` argument and ``context["switches"]``, as a list of ints without duplicates), then
    every other key of ``context``.

    Args:
        base_context: The client's base context.
        switches: Switches for this request.
        correlation_id: The correlation id for this request.
        context: Extra context keys for this request.

    Returns:
        A new dict.
    """
    header: dict[str, Any] = dict(base_context)
    if correlation_id is not None:
        header["correlation_id"] = correlation_id
    elif not header.get("correlation_id"):
        header["correlation_id"] = new_correlation_id()
    base_switches = base_context.get("switches")
    context_switches = None
    if context:
        context_switches = context.get("switches")
        for key, value in context.items():
            if key != "switches":
                header[key] = value
    if base_switches or switches or context_switches:
        merged: dict[int, None] = {}  # an ordered set, so the wire order is stable
        _merge_switches(merged, base_switches)
        _merge_switches(merged, switches)
        _merge_switches(merged, context_switches)
        header["switches"] = list(merged)
    else:
        header["switches"] = []
    return header


def make_control_header(
    continue_on_error: bool = False,
    suppress_response: bool = False,
    control_extra: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> Control:
    """Build a request's control header.

    Args:
        continue_on_error: Whether the server runs the remaining actions after one fails.
        suppress_response: Whether the server sends no reply.
        control_extra: Free-form keys for middleware; they override the two flags above.
        timeout: The call's timeout or message expiry. When given (and ``control_extra`` has no
            ``timeout``) it is sent as ``timeout``, rounded up to whole seconds as PySOA servers
            expect an int.

    Returns:
        A new dict.
    """
    control: dict[str, Any] = {"continue_on_error": continue_on_error, "suppress_response": bool(suppress_response)}
    if control_extra:
        control.update(control_extra)
    if timeout and "timeout" not in control:
        control["timeout"] = timeout if type(timeout) is int else math.ceil(timeout)
    return control


def job_of(
    base_context: Mapping[str, Any],
    service_context: Mapping[str, Any] | None,
    actions: Any,
    switches: Iterable[Any] | None = None,
    correlation_id: str | None = None,
    continue_on_error: bool = False,
    context: Mapping[str, Any] | None = None,
    control_extra: Mapping[str, Any] | None = None,
    message_expiry_in_seconds: float | None = None,
    suppress_response: bool = False,
    *,
    as_message: bool = False,
) -> JobRequest | dict[str, Any]:
    """The job one call sends (both clients build it here, from arguments
    :func:`~pysoa_like.client._call_keywords.check_job_arguments` and ``check_seconds`` accepted).

    Args:
        base_context: The client's base context.
        service_context: Context keys every request to the service carries (its ``api_token``), or ``None``.
        actions: The job's actions.
        switches, correlation_id, continue_on_error, context, control_extra, message_expiry_in_seconds,
            suppress_response: The keywords of ``Client.send_request``.
        as_message: Build the job's wire form at once (:func:`~pysoa_like.common.types.job_message`) rather than
            a ``JobRequest``: for a handler that no middleware sees the job of. The headers are then copied in
            wire form only when they hold the caller's values (a base, service or call context,
            ``control_extra``, a ``continue_on_error`` that is not a bool): what this module puts in them
            itself (flags, a whole-second timeout, the correlation id, the switches as ints) already is.
    """
    callers_values = bool(
        base_context or service_context or context or control_extra or type(continue_on_error) is not bool
    )
    if service_context is not None:
        base_context = {**base_context, **service_context}
    control = make_control_header(continue_on_error, suppress_response, control_extra, message_expiry_in_seconds)
    context_header = make_context_header(base_context, switches, correlation_id, context)
    if as_message:
        return job_message(control, context_header, actions, copy_headers=callers_values)
    return JobRequest(control=control, context=context_header, actions=actions)


# The stock send_request (see ServiceHandler.takes_messages).
_SEND_REQUEST = ServiceHandler.send_request


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
            :func:`check_job_arguments` and :func:`check_expansions`).
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
        if expansions is not None:
            check_expansions(expansions)
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
        SettingsError: (``Settings.ImproperlyConfigured``) ``config`` is not a mapping, or a service's settings or the
            expansion config are invalid.

    Options of the call methods (defaults in parentheses), by keyword, or by position in PySOA's order for each
    method (see *Options by position* in the client docs); the ones PySOA did not have are keyword-only:

    * ``expansions`` (None): ``{type: ["expansion", ...]}`` to expand in the responses (any other shape raises
      ``TypeError``).
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
        deadline = self.deadline if self._deadline is not None or self.job_deadline_margin is not None else None
        if deadline is not None:
            message_expiry_in_seconds = expiry_within(message_expiry_in_seconds, deadline, service_name)
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
        self,
        service_name: str,
        action: str,
        body: dict[str, Any] | None = None,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> ActionResponse:
        """Call one action and wait for its response.

        Args:
            service_name: The service to call.
            action: The action to call.
            body: The action's request body (default ``{}``).
            *positional: Options by position, in PySOA 1.4.9's order: ``expansions``, ``raise_job_errors``,
                ``raise_action_errors``, ``timeout``, ``switches``, ``correlation_id``, ``context``,
                ``control_extra``.
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
            TypeError: More options by position than PySOA's ``call_action`` took, or one given twice.
        """
        if positional:
            options = options_by_position("Client.call_action", positional, options)
        if self._futures_replaced():
            return self.call_action_future(service_name, action, body, **options).result()
        actions = [ActionRequest(action=action, body=body or {})]
        return action_result(self._call(service_name, actions, options_of(options)))

    def call_actions(
        self,
        service_name: str,
        actions: ActionRequestArgumentIterable,
        *positional: Any,
        **options: Unpack[CallKeywords],
    ) -> JobResponse:
        """Call several actions in one job and wait for the :class:`JobResponse`.

        Args:
            service_name: The service to call.
            actions: The actions, run in order by one server.
            *positional: Options by position, in PySOA 1.4.9's order: ``expansions``, ``raise_job_errors``,
                ``raise_action_errors``, ``timeout``, ``switches``, ``correlation_id``, ``continue_on_error``,
                ``context``, ``control_extra``.
            **options: The keyword arguments of :meth:`call_action`.

        Raises:
            CallJobError, CallActionError, MessageReceiveTimeout, TypeError: As for :meth:`call_action`.
        """
        if positional:
            options = options_by_position("Client.call_actions", positional, options)
        if self._futures_replaced():
            return self.call_actions_future(service_name, actions, **options).result()
        return self._call(service_name, actions, options_of(options))  # type: ignore[no-any-return]


# The future methods as defined here: the blocking calls skip building a future unless they were replaced.
_CALL_ACTIONS_FUTURE = Client.call_actions_future
_CALL_ACTION_FUTURE = Client.call_action_future
