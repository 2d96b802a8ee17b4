"""What a service handler measures: PySOA's client metrics and, per call, the ``client.call`` timer and errors.

A base class of :class:`~pysoa_like.client.client.ServiceHandler` (its methods are the handler's). None
of it runs with the default :class:`~pysoa_like.common.metrics.NoOpMetricsRecorder`: whether the recorder records
anything is decided once, when the handler is made, and the handler's send and receive steps are then built without
these timed ones. Any other recorder gets PySOA's client metrics (``client.send.*``, ``client.receive.*``) plus
``client.call`` (a timer from the send to the reply) and ``client.call.error`` (per error code), for Prometheus and
tracing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.common.fields import build_configured
from pysoa_like.common.metrics import MetricsRecorder, NoOpMetricsRecorder
from pysoa_like.common.types import JobRequest, JobResponse

if TYPE_CHECKING:
    from pysoa_like.client.client import _PerThread, _ThreadState
    from pysoa_like.client.middleware import GetResponseCallable

__all__ = ["CallMetrics", "action_label", "count_call_errors", "metrics_of"]


class CallMetrics:
    """The timed steps of a :class:`~pysoa_like.client.client.ServiceHandler` with a recording recorder."""

    # The handler's (set in ServiceHandler.__init__).
    service_name: str
    metrics: MetricsRecorder
    _local: _PerThread
    _send_stack: Callable[[int, dict[str, Any], Any, float | None], None]
    _receive_stack: GetResponseCallable

    if TYPE_CHECKING:
        # The untimed steps, the handler's own (on every call's path).

        def _send_to_transport(
            self,
            request_id: int,
            meta: dict[str, Any],
            job_request: Any,
            message_expiry_in_seconds: float | None = None,
        ) -> None: ...

        def _receive_from_transport(
            self, receive_timeout_in_seconds: float | None = None
        ) -> tuple[Any, JobResponse | None]: ...

    # Sending

    def _send_to_transport_timed(
        self, request_id: int, meta: dict[str, Any], job_request: Any, message_expiry_in_seconds: float | None = None
    ) -> None:
        with self.metrics.timer("client.send.excluding_middleware"):
            self._send_to_transport(request_id, meta, job_request, message_expiry_in_seconds)

    def _send_measured(
        self,
        request_id: int,
        meta: dict[str, Any],
        job_request: JobRequest | dict[str, Any],
        message_expiry_in_seconds: float | None,
    ) -> tuple[Any, str]:
        """Send through the middleware with a recorder: time the send, and start the ``client.call`` timer.

        Returns:
            The call's running timer and its ``action`` label: the timer stops when its reply arrives (or the
            call fails or is forgotten).
        """
        metrics = self.metrics
        action = action_label(job_request)
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
        return call_timer, action

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
        count_call_errors(self.metrics, self.service_name, action, response, error)

    # Receiving

    def _receive_from_transport_timed(
        self, receive_timeout_in_seconds: float | None = None
    ) -> tuple[Any, JobResponse | None]:
        with self.metrics.timer("client.receive.excluding_middleware"):
            return self._receive_from_transport(receive_timeout_in_seconds)

    def _receive_measured(self, receive_timeout_in_seconds: float | None = None) -> tuple[Any, JobResponse | None]:
        """Pull the next reply through the middleware, timed, ending its call's ``client.call`` timer:
        ``(request_id, JobResponse)``, or ``(None, None)``."""
        with self.metrics.timer("client.receive.including_middleware"):
            received: tuple[Any, JobResponse | None] = self._receive_stack(receive_timeout_in_seconds)
        if received[1] is not None:
            self._call_ended(self._local.state, received[0], received[1], None)
        return received


def metrics_of(settings: Mapping[str, Any]) -> MetricsRecorder:
    """The metrics recorder a service's client settings configure (the no-op one by default)."""
    metrics_config = settings.get("metrics")
    if metrics_config and metrics_config.get("object"):
        recorder: MetricsRecorder = build_configured(metrics_config)
        return recorder
    return NoOpMetricsRecorder()


def count_call_errors(
    metrics: MetricsRecorder, service_name: str, action: str, response: JobResponse | None, error: Any
) -> None:
    """Count an ended call's errors in ``client.call.error``: its reply's error codes, or its exception's class."""
    codes: list[str] = []
    if response is not None:
        codes.extend(e.code for e in response.errors)
        for action_response in response.actions:
            codes.extend(e.code for e in action_response.errors)
    elif error is not None:
        codes.append(type(error).__name__)
    for code in codes:
        metrics.counter("client.call.error", service=service_name, action=action, code=code).increment()


def action_label(job_request: JobRequest | dict[str, Any]) -> str:
    """The ``action`` label of a call's metrics: its action names, joined with commas."""
    if isinstance(job_request, dict):
        return ",".join(str(action["action"]) for action in job_request["actions"])
    return ",".join(str(action.action) for action in job_request.actions)
