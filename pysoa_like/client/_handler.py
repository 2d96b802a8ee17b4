"""ServiceHandler: one client's connection to one service, and the routing of replies by request id.

Replies reach a client on a reply queue per thread (over Redis each client thread has its own reply
list), so the handler keeps per-thread routing state: the ids this thread still waits for and the
replies it pulled while waiting for another request. A reply is only ever handed to the call that
sent its request; a reply nobody waits for (late after a timeout, or duplicated) is logged and
dropped. PySOA 1.4.9 instead drained every reply and counted outstanding requests, which lost
replies between concurrent futures, after ``suppress_response`` and after timeouts.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pysoa_like.client.errors import DeprecatedActionWarning
from pysoa_like.client.middleware import ClientMiddleware, GetResponseCallable, SendRequestCallable
from pysoa_like.common._bounded_logs import LogThrottle, log_bounded
from pysoa_like.common._header_rules import suppress_response_requested
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.metrics import MetricsRecorder, NoOpMetricsRecorder
from pysoa_like.common.transport.base import ClientTransport
from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.types import JobRequest, JobResponse, job_request_to_dict, job_response_from_dict
from pysoa_like.version import __version_info__

if TYPE_CHECKING:
    from pysoa_like.client._fleet import VersionGate

__all__ = ["ServiceHandler"]

_logger = logging.getLogger("pysoa_like.client")

_CLIENT_VERSION: tuple[int, ...] = tuple(__version_info__)


# The response context key a server lists the deprecated actions of a job under (action -> message).
_DEPRECATED_ACTIONS = "deprecated_actions"


def _delivered(service_name: str, response: JobResponse) -> JobResponse:
    """``response``, after warning about each deprecated action its job ran (once it reached its caller).

    Raised as an exception under ``-W error``, as any warning; the reply routing is complete by then.
    """
    context = response.context
    if context and _DEPRECATED_ACTIONS in context:
        deprecated = context[_DEPRECATED_ACTIONS]
        if isinstance(deprecated, dict):
            for action, message in deprecated.items():
                warnings.warn(DeprecatedActionWarning(service_name, str(action), str(message)), stacklevel=4)
    return response


def _contains(ids: set[Any], request_id: Any) -> bool:
    try:
        return request_id in ids
    except TypeError:  # an unhashable id from a misbehaving server
        return False


class _ThreadState:
    """Reply routing state of one thread."""

    __slots__ = ("calls", "outstanding", "stash", "unclaimed")

    def __init__(self) -> None:
        # Ids sent from this thread whose reply has not been pulled from the transport yet.
        self.outstanding: set[Any] = set()
        # Ids sent through the public send_request, collected by get_all_responses.
        self.unclaimed: set[Any] = set()
        # Replies pulled while waiting for another request, kept until their own call collects them.
        self.stash: dict[Any, JobResponse] = {}
        # With a metrics recorder: the client.call timer and action label of each call awaiting its reply.
        self.calls: dict[Any, tuple[Any, str]] = {}


class ServiceHandler:
    """Sends job requests to one service and routes its replies back to the calls waiting for them.

    A :class:`~pysoa_like.client.client.Client` creates one handler per service on first use.

    Args:
        service_name: The service this handler calls.
        settings: That service's client settings (``transport``, ``middleware``, ``metrics``, each
            class configuration holding the imported class under ``object``).
    """

    def __init__(self, service_name: str, settings: Mapping[str, Any]) -> None:
        self.service_name = service_name
        metrics_config = settings.get("metrics")
        self.metrics: MetricsRecorder = (
            metrics_config["object"](**(metrics_config.get("kwargs") or {}))
            if metrics_config and metrics_config.get("object")
            else NoOpMetricsRecorder()
        )
        transport_config = settings["transport"]
        with self.metrics.timer("client.transport.initialize"):
            self.transport: ClientTransport = transport_config["object"](
                service_name, self.metrics, **(transport_config.get("kwargs") or {})
            )
        with self.metrics.timer("client.middleware.initialize"):
            self.middleware: list[ClientMiddleware] = [
                m["object"](**(m.get("kwargs") or {})) for m in settings.get("middleware") or ()
            ]
        # A random start keeps ids of different clients sharing one reply channel apart, as PySOA does.
        self.request_counter = random.randint(1, 1_000_000)
        self._counter_lock = threading.Lock()
        # Replies nobody waits for are logged a few times a minute at most (their rate is up to the peers).
        self._log_throttle = LogThrottle()
        self._local = threading.local()
        minimum_version = settings.get("minimum_version")
        #: Checks the service's version in the registry before each call (``None``: no minimum).
        self.version_gate: VersionGate | None = None
        if minimum_version:
            from pysoa_like.client._fleet import VersionGate, live_versions_reader

            reader = live_versions_reader(service_name, self.transport, transport_config)
            self.version_gate = VersionGate(service_name, minimum_version, reader)
        # Built once: the wrappers are pure functions of the middleware list.
        self._send_stack: SendRequestCallable = self._make_middleware_stack(
            [m.request for m in self.middleware], self._base_send_request
        )
        self._receive_stack: GetResponseCallable = self._make_middleware_stack(
            [m.response for m in self.middleware], self._base_get_response
        )

    @staticmethod
    def _make_middleware_stack(wrappers: Sequence[Callable[[Any], Any]], base: Any) -> Any:
        """Chain ``wrappers`` around ``base`` so the first one is outermost."""
        for wrap in reversed(wrappers):
            base = wrap(base)
        return base

    def _state(self) -> _ThreadState:
        try:
            return self._local.state  # type: ignore[no-any-return]
        except AttributeError:
            state = self._local.state = _ThreadState()
            return state

    def _next_request_id(self) -> int:
        with self._counter_lock:
            request_id = self.request_counter
            self.request_counter += 1
        return request_id

    # Sending

    def _base_send_request(
        self, request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: float | None = None
    ) -> None:
        metrics = self.metrics
        if type(metrics) is NoOpMetricsRecorder:  # records_nothing(), inlined: this runs on every call
            body = job_request_to_dict(job_request) if isinstance(job_request, JobRequest) else job_request
            self.transport.send_request_message(request_id, meta, body, message_expiry_in_seconds)
            return
        with metrics.timer("client.send.excluding_middleware"):
            body = job_request_to_dict(job_request) if isinstance(job_request, JobRequest) else job_request
            self.transport.send_request_message(request_id, meta, body, message_expiry_in_seconds)

    def send_request(self, job_request: JobRequest, message_expiry_in_seconds: float | None = None) -> int:
        """Send a job request; its reply is later collected by :meth:`get_all_responses`.

        Args:
            job_request: The job to send.
            message_expiry_in_seconds: How long the request may wait for a server; ``None`` for the
                transport's default.

        Returns:
            The request id.

        Raises:
            PySOATransportError: The transport could not send the message.
            InvalidField: The job could not be serialized.
            ServiceVersionError: The settings' ``minimum_version`` is not met by any live instance.
        """
        return self.send_tracked_request(job_request, message_expiry_in_seconds, claimed=False)

    def send_tracked_request(
        self, job_request: JobRequest, message_expiry_in_seconds: float | None = None, claimed: bool = True
    ) -> int:
        """Send a job request and register its id for reply routing on this thread.

        Args:
            job_request: The job to send.
            message_expiry_in_seconds: As for :meth:`send_request`.
            claimed: ``True`` when the caller collects the reply itself with :meth:`get_response`;
                ``False`` to leave it to :meth:`get_all_responses`.

        Returns:
            The request id.
        """
        if self.version_gate is not None:
            self.version_gate.check()
        request_id = self._next_request_id()
        meta: dict[str, Any] = {"client_version": list(_CLIENT_VERSION)}
        metrics = self.metrics
        if type(metrics) is NoOpMetricsRecorder:  # records_nothing(), inlined: this runs on every call
            self._send_stack(request_id, meta, job_request, message_expiry_in_seconds)
        else:
            self._send_measured(request_id, meta, job_request, message_expiry_in_seconds)
        # A suppressed request gets no reply, so it must never be waited for.
        if not suppress_response_requested(job_request.control):
            state = self._state()
            state.outstanding.add(request_id)
            if not claimed:
                state.unclaimed.add(request_id)
        return request_id

    def _send_measured(
        self, request_id: int, meta: dict[str, Any], job_request: JobRequest, message_expiry_in_seconds: float | None
    ) -> None:
        """Send through the middleware with a recorder: time the send, and start the ``client.call`` timer.

        The call's timer stops when its reply arrives (or the call fails or is forgotten); a suppressed
        call ends when it is sent.
        """
        metrics = self.metrics
        action = _action_label(job_request)
        call_timer = metrics.timer("client.call", service=self.service_name, action=action)
        call_timer.start()
        try:
            with metrics.timer("client.send.including_middleware"):
                self._send_stack(request_id, meta, job_request, message_expiry_in_seconds)
        except BaseException as exc:
            call_timer.stop()
            metrics.counter(
                "client.call.error", service=self.service_name, action=action, code=type(exc).__name__
            ).increment()
            raise
        finally:
            metrics.publish_all()
        if suppress_response_requested(job_request.control):
            call_timer.stop()
        else:
            self._state().calls[request_id] = (call_timer, action)

    def _call_ended(self, state: _ThreadState, request_id: Any, response: JobResponse | None, error: Any) -> None:
        """Stop a call's ``client.call`` timer and count its errors by code (a no-op for calls not timed)."""
        try:
            entry = state.calls.pop(request_id, None)
        except TypeError:  # an unhashable id from a misbehaving server
            return
        if entry is None:
            return
        timer, action = entry
        timer.stop()
        codes: list[str] = []
        if response is not None:
            codes.extend(e.code for e in response.errors)
            for action_response in response.actions:
                codes.extend(e.code for e in action_response.errors)
        elif error is not None:
            codes.append(type(error).__name__)
        for code in codes:
            self.metrics.counter("client.call.error", service=self.service_name, action=action, code=code).increment()

    # Receiving

    def _base_get_response(self, receive_timeout_in_seconds: float | None = None) -> tuple[Any, JobResponse | None]:
        metrics = self.metrics
        if type(metrics) is NoOpMetricsRecorder:  # records_nothing(), inlined: this runs on every call
            request_id, _meta, body = self.transport.receive_response_message(receive_timeout_in_seconds)
        else:
            with metrics.timer("client.receive.excluding_middleware"):
                request_id, _meta, body = self.transport.receive_response_message(receive_timeout_in_seconds)
        if body is None:
            return None, None
        return request_id, job_response_from_dict(body)

    def _receive_one(self, receive_timeout_in_seconds: float | None) -> tuple[Any, JobResponse | None]:
        metrics = self.metrics
        if type(metrics) is NoOpMetricsRecorder:  # records_nothing(), inlined: this runs on every call
            return self._receive_stack(receive_timeout_in_seconds)
        with metrics.timer("client.receive.including_middleware"):
            received: tuple[Any, JobResponse | None] = self._receive_stack(receive_timeout_in_seconds)
        if received[1] is not None:
            self._call_ended(self._state(), received[0], received[1], None)
        return received

    def _route(self, state: _ThreadState, request_id: Any, response: JobResponse) -> None:
        """Keep a reply pulled while waiting for another one, or drop it if nobody waits for it."""
        if _contains(state.outstanding, request_id):
            state.outstanding.discard(request_id)
            state.stash[request_id] = response
        else:
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
        state = self._state()
        stashed = state.stash.pop(request_id, None)
        if stashed is not None:
            state.unclaimed.discard(request_id)
            return _delivered(self.service_name, stashed)
        # (Re-)registering lets a future retry after a timeout still catch a late reply.
        state.outstanding.add(request_id)
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
                if received_id == request_id:
                    state.outstanding.discard(request_id)
                    state.unclaimed.discard(request_id)
                    return _delivered(self.service_name, response)
                self._route(state, received_id, response)
        except BaseException as exc:
            state.outstanding.discard(request_id)
            state.unclaimed.discard(request_id)
            if state.calls:
                self._call_ended(state, request_id, None, exc)
            raise
        finally:
            self.metrics.publish_all()

    def get_all_responses(
        self, receive_timeout_in_seconds: float | None = None
    ) -> Generator[tuple[Any, JobResponse], None, None]:
        """Yield ``(request_id, JobResponse)`` for every request this thread sent with :meth:`send_request`.

        Replies of requests whose callers wait for them individually (blocking calls, futures) are
        kept for those callers, never yielded here. The generator ends when no such request is left,
        or when the transport has nothing more for this thread.

        Args:
            receive_timeout_in_seconds: The most seconds to wait for each reply; ``None`` for the
                transport's default.

        Yields:
            ``(request_id, JobResponse)`` in arrival order.

        Raises:
            MessageReceiveTimeout: A reply did not arrive in time; the remaining requests are forgotten.
            PySOATransportError: The transport failed while receiving.
        """
        state = self._state()
        try:
            while state.unclaimed:
                ready = [request_id for request_id in state.unclaimed if request_id in state.stash]
                for request_id in ready:
                    state.unclaimed.discard(request_id)
                    yield request_id, _delivered(self.service_name, state.stash.pop(request_id))
                if not state.unclaimed:
                    break
                received_id, response = self._receive_one(receive_timeout_in_seconds)
                if response is None:
                    self._forget_unclaimed(state)
                    break
                if _contains(state.unclaimed, received_id):
                    state.outstanding.discard(received_id)
                    state.unclaimed.discard(received_id)
                    yield received_id, _delivered(self.service_name, response)
                else:
                    self._route(state, received_id, response)
        except MessageReceiveTimeout as exc:
            if state.calls:
                for request_id in list(state.unclaimed):
                    self._call_ended(state, request_id, None, exc)
            self._forget_unclaimed(state)
            raise
        finally:
            self.metrics.publish_all()

    def forget(self, request_id: Any) -> None:
        """Stop waiting for a request sent from this thread; a reply that still comes is dropped."""
        state = self._state()
        state.outstanding.discard(request_id)
        state.unclaimed.discard(request_id)
        state.stash.pop(request_id, None)
        entry = state.calls.pop(request_id, None)
        if entry is not None:
            entry[0].stop()

    @staticmethod
    def _forget_unclaimed(state: _ThreadState) -> None:
        state.outstanding.difference_update(state.unclaimed)
        for request_id in state.unclaimed:
            state.stash.pop(request_id, None)
        state.unclaimed.clear()


def _action_label(job_request: JobRequest) -> str:
    """The ``action`` label of a call's metrics: its action names, joined with commas."""
    return ",".join(str(action.action) for action in job_request.actions)
