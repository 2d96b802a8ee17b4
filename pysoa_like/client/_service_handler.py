"""ServiceHandler: one client's link to one service (transport, middleware, metrics), the jobs sent to it and the
routing of its replies.

The job of a call is built here (:func:`job_of`: its control and context headers, the correlation id, and its
wire form at once when no middleware would see the ``JobRequest``, :meth:`ServiceHandler.takes_messages`), so the
call path goes down to the handler once and on to the transport.

Replies reach a client on a reply channel per thread (over Redis each client thread has its own reply
list), so the handler keeps a :class:`ReplyRouter` (defined here, its only user) per thread: the ids this
thread still waits for and the replies it pulled while waiting for another request. A reply is only
ever handed to the call that sent its request; a reply nobody waits for (late after a timeout, or
duplicated) is logged and dropped. PySOA 1.4.9 instead drained every reply and counted outstanding
requests, which lost replies between concurrent futures, after ``suppress_response`` and after
timeouts.

Metrics: with the default :class:`~pysoa_like.common.metrics.NoOpMetricsRecorder` nothing is timed or
counted (the handler is built without its instruments, decided once in ``__init__``); any other
recorder gets PySOA's client metrics plus ``client.call`` (a timer from send to reply) and
``client.call.error`` (per error code), for Prometheus and tracing: the handler's timed steps are its base class,
:class:`~pysoa_like.client._call_metrics.CallMetrics` (``action_label``, ``count_call_errors`` and ``metrics_of``
are importable from here too). What the handler is built from (its transport, middleware, recorder, policies) is its
base class :class:`~pysoa_like.client._service_link.ServiceLink`'s.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
import warnings
from collections.abc import Generator, Iterable, Mapping
from typing import Any, Final

from pysoa_like.client._call_metrics import action_label, count_call_errors, metrics_of
from pysoa_like.client._service_link import ServiceLink, middleware_of
from pysoa_like.client.errors import DeprecatedActionWarning
from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import (
    Context,
    Control,
    JobRequest,
    JobResponse,
    job_message,
    job_request_to_dict,
    job_response_from_dict,
)
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.core.switches import get_switch
from pysoa_like.version import __version_info__

__all__ = [
    "DELIVER",
    "DROP",
    "KEEP",
    "ReplyRouter",
    "ServiceHandler",
    "action_label",
    "count_call_errors",
    "deprecation_warnings",
    "job_of",
    "make_context_header",
    "make_control_header",
    "metrics_of",
    "middleware_of",
    "new_correlation_id",
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
