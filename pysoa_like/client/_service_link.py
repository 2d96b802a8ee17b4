"""One client's link to one service: what a service handler is built from, and built once.

A base class of :class:`~pysoa_like.client.client.ServiceHandler`: from the service's client settings, the
transport, the client middleware and the send and receive steps through it (pure functions of the middleware list,
built once), the metrics recorder (whether it records anything is decided here, once: the timed steps of
:class:`~pysoa_like.client._call_metrics.CallMetrics` are only built in with one that does), the resilience policies,
the minimum-version gate and the context keys every request to the service carries (``api_token``). What the
handler does with them, the jobs it sends and the routing of their replies, is ``client.py``'s.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pysoa_like.client._async_middleware import check_plain_hooks
from pysoa_like.client._call_metrics import CallMetrics, metrics_of
from pysoa_like.client.middleware import ClientMiddleware, GetResponseCallable, SendRequestCallable
from pysoa_like.common._bounded_logs import LogThrottle
from pysoa_like.common._middleware_stack import build_middleware_stack
from pysoa_like.common.fields import build_configured
from pysoa_like.common.metrics import MetricsRecorder, records_nothing
from pysoa_like.common.transport.base import ClientTransport

if TYPE_CHECKING:
    from pysoa_like.client._fleet import VersionGate
    from pysoa_like.client._resilience import ServicePolicies
    from pysoa_like.client.client import _PerThread

__all__ = ["ServiceLink", "middleware_of"]


class ServiceLink(CallMetrics):
    """What a :class:`~pysoa_like.client.client.ServiceHandler` is built from (see its arguments)."""

    # The class of the handler's per-thread state (ServiceHandler's: its reply routing).
    _per_thread: Callable[[], _PerThread]

    def __init__(self, service_name: str, settings: Mapping[str, Any]) -> None:
        self.service_name = service_name
        self.metrics: MetricsRecorder = metrics_of(settings)
        transport_config = settings["transport"]
        with self.metrics.timer("client.transport.initialize"):
            self.transport: ClientTransport = build_configured(transport_config, service_name, self.metrics)
        self.middleware: list[ClientMiddleware] = middleware_of(settings, self.metrics)
        for middleware in self.middleware:
            check_plain_hooks(middleware)
        # A random start keeps ids of different clients sharing one reply channel apart, as PySOA does.
        self.request_counter = random.randint(1, 1_000_000)
        self._counter_lock = threading.Lock()
        # Replies nobody waits for are logged a few times a minute at most (their rate is up to the peers).
        self._log_throttle = LogThrottle()
        self._local = self._per_thread()
        api_token = settings.get("api_token")
        #: Context keys every request to this service carries under the call's own (the ``api_token`` setting).
        self.base_context: dict[str, Any] | None = {"api_token": api_token} if api_token else None
        minimum_version = settings.get("minimum_version")
        #: Checks the service's version in the registry before each call (``None``: no minimum).
        self.version_gate: VersionGate | None = None
        if minimum_version:
            from pysoa_like.client._fleet import VersionGate, live_versions_reader

            reader = live_versions_reader(service_name, self.transport, transport_config)
            self.version_gate = VersionGate(service_name, minimum_version, reader)
        from pysoa_like.client._resilience import ServicePolicies

        #: The service's breakers, bulkhead, retries and fallbacks (``None`` when its settings configure none).
        self.policies: ServicePolicies | None = ServicePolicies.from_settings(service_name, settings, self.metrics)
        # Whether metrics are recorded is decided here, once: the plain recorder's instruments are never called.
        self._measured = not records_nothing(self.metrics)
        # Built once: the wrappers are pure functions of the middleware list.
        send: SendRequestCallable = self._send_to_transport_timed if self._measured else self._send_to_transport
        receive: GetResponseCallable = (
            self._receive_from_transport_timed if self._measured else self._receive_from_transport
        )
        # (Its innermost step also takes a job in its wire form: see takes_messages.)
        self._send_stack: Callable[[int, dict[str, Any], Any, float | None], None] = build_middleware_stack(
            [m.request for m in self.middleware], send
        )
        self._receive_stack = build_middleware_stack([m.response for m in self.middleware], receive)
        # How the next reply is pulled: through the middleware, timed with a recorder.
        self._receive_one: GetResponseCallable = self._receive_measured if self._measured else self._receive_stack

    def make_policies(self) -> ServicePolicies:
        """The service's resilience policies, made now (empty) if its settings configure none: a call's own policy."""
        with self._counter_lock:
            if self.policies is None:
                from pysoa_like.client._resilience import ServicePolicies

                self.policies = ServicePolicies(self.service_name, {}, self.metrics)
            return self.policies


def middleware_of(settings: Mapping[str, Any], metrics: MetricsRecorder) -> list[ClientMiddleware]:
    """The client middleware of a service's settings, built (timed as ``client.middleware.initialize``)."""
    with metrics.timer("client.middleware.initialize"):
        return [build_configured(m) for m in settings.get("middleware") or ()]
