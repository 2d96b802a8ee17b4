"""The metrics recorder on ``prometheus_client``: the library's metric names as Prometheus metrics.

``prometheus_client`` is imported on first use, not with this module: in multiprocess mode it must
only be imported once ``PROMETHEUS_MULTIPROC_DIR`` is set (see :mod:`pysoa_like.prometheus._exposition`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from pysoa_like.common.logging import PySOALogContextFilter

__all__ = ["DEFAULT_BUCKETS", "METRICS", "PrometheusMetricsRecorder"]

#: Latency buckets in seconds (sub-millisecond calls up to one minute).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

# (kind, library name) -> (Prometheus type, Prometheus name, help, label names beyond "service").
# "service" is the recorder's service (or the metric's own "service" tag, on the client side).
METRICS: Mapping[tuple[str, str], tuple[str, str, str, tuple[str, ...]]] = {
    ("timer", "server.job"): (
        "histogram",
        "pysoa_server_job_duration_seconds",
        "Seconds a server took per job (receive to reply)",
        (),
    ),
    ("timer", "server.action"): (
        "histogram",
        "pysoa_server_action_duration_seconds",
        "Seconds a server took per action",
        ("action",),
    ),
    ("counter", "server.action.error"): (
        "counter",
        "pysoa_server_action_errors_total",
        "Errors returned by actions, by code",
        ("action", "code"),
    ),
    ("counter", "server.error.harakiri"): (
        "counter",
        "pysoa_server_harakiri_total",
        "Jobs or workers interrupted by harakiri",
        ("level",),
    ),
    ("gauge", "server.worker.busy"): (
        "gauge",
        "pysoa_server_jobs_in_flight",
        "Jobs being handled now (summed over live workers)",
        (),
    ),
    ("gauge", "server.worker.running"): ("gauge", "pysoa_server_workers", "Worker processes running now", ()),
    ("gauge", "server.worker.slots"): (
        "gauge",
        "pysoa_server_job_slots",
        "Jobs the live workers can run at once (each worker's concurrency, summed)",
        (),
    ),
    ("gauge", "server.worker.ready"): (
        "gauge",
        "pysoa_server_workers_ready",
        "Worker processes whose transport works now (0 during a Redis outage)",
        (),
    ),
    ("counter", "server.worker.startup"): ("counter", "pysoa_server_worker_starts_total", "Worker starts", ()),
    ("counter", "server.worker.shutdown"): ("counter", "pysoa_server_worker_stops_total", "Worker stops", ()),
    ("timer", "server.idle_time"): (
        "counter",
        "pysoa_server_worker_idle_seconds_total",
        "Seconds workers spent waiting for requests",
        (),
    ),
    ("timer", "client.call"): (
        "histogram",
        "pysoa_client_call_duration_seconds",
        "Seconds from sending a job to its reply",
        ("action",),
    ),
    ("counter", "client.call.error"): (
        "counter",
        "pysoa_client_call_errors_total",
        "Failed client calls, by error code",
        ("action", "code"),
    ),
}
# Metrics derived from the ones above.
_BUSY_SECONDS = ("pysoa_server_worker_busy_seconds_total", "Seconds workers spent handling jobs")
_CLIENT_IN_FLIGHT = ("pysoa_client_calls_in_flight", "Calls sent and not answered yet")
_SERVER_ERRORS = ("pysoa_server_errors_total", "Server errors outside actions, by kind (server.error.<kind>)")
# Tag names of the library's metrics -> label names.
_TAG_LABELS = {"harakiri_level": "level"}
_INVALID_NAME_CHARACTERS = re.compile(r"[^a-zA-Z0-9_]")

# (registry, name) -> metric: the registry itself is the key (an id could be reused by a later registry).
_families: dict[tuple[Any, str], Any] = {}
_families_lock = threading.Lock()


def _family(
    registry: Any, kind: str, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
) -> Any:
    """The Prometheus metric ``name`` (made once per registry and process, then shared by every recorder)."""
    key = (registry, name)
    family = _families.get(key)
    if family is not None:
        return family
    with _families_lock:
        family = _families.get(key)
        if family is None:
            import prometheus_client

            arguments: dict[str, Any] = {"labelnames": tuple(labels), "registry": registry}
            if kind == "histogram":
                family = prometheus_client.Histogram(name, documentation, buckets=tuple(buckets), **arguments)
            elif kind == "gauge":
                family = prometheus_client.Gauge(name, documentation, multiprocess_mode="livesum", **arguments)
            else:
                family = prometheus_client.Counter(name, documentation, **arguments)
            _families[key] = family
    return family


class _Instrument:
    """One labelled series, with the recorder protocol's methods (counter, gauge, histogram and timer)."""

    __slots__ = ("_in_flight", "_observe", "_on_set", "_started")

    def __init__(
        self,
        observe: Callable[[float], Any],
        on_set: Callable[[float], Any] | None = None,
        in_flight: Any = None,
    ) -> None:
        self._observe = observe
        self._on_set = on_set
        self._in_flight = in_flight
        self._started: float | None = None

    def increment(self, amount: int = 1) -> None:
        self._observe(amount)

    def set(self, value: float) -> None:
        (self._on_set or self._observe)(value)

    def start(self) -> None:
        self._started = time.perf_counter()
        if self._in_flight is not None:
            self._in_flight.inc()

    def stop(self) -> None:
        started = self._started
        if started is not None:
            self._started = None
            self._observe(time.perf_counter() - started)
            if self._in_flight is not None:
                self._in_flight.dec()

    def __enter__(self) -> _Instrument:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _ignore(value: float) -> None:
    return None


class _Ignored(_Instrument):
    """The instrument of a metric that is not recorded: every method does nothing (no clock read)."""

    __slots__ = ()

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


_IGNORED = _Ignored(_ignore)
# Distinct (kind, name, tags) kept per recorder; beyond it instruments are made per use (tags with ids).
_CACHE_LIMIT = 10_000


class PrometheusMetricsRecorder:
    """A metrics recorder (the ``metrics`` setting of servers and clients) writing Prometheus metrics.

    The library's own metrics become the series listed in the docs' *Observability* page
    (``pysoa_server_action_duration_seconds``, ``pysoa_client_call_duration_seconds``, ...), each
    with a ``service`` label. The library's other internal metrics (transport timers and the like)
    are skipped unless ``record_all``; metrics of any other name (your own) become a counter, gauge
    or histogram named ``pysoa_<name>`` with the tags as labels (timers in seconds).

    Under ``pysoa-like serve --metrics-port`` (or any process started with
    ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is imported) the values of every
    worker process are aggregated by ``prometheus_client``'s multiprocess mode.

    Args:
        service_name: The ``service`` label (default: the service this process serves, else ``unknown``).
        registry: Where the metrics are registered (default ``prometheus_client.REGISTRY``).
        buckets: Histogram buckets in seconds.
        record_all: Also record the library's internal metrics (each becomes a histogram or counter).
        config: Ignored (accepted for PySOA-style ``metrics`` configurations).
    """

    def __init__(
        self,
        service_name: str | None = None,
        registry: Any = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        record_all: bool = False,
        config: Any = None,
    ) -> None:
        self.service_name = service_name
        if registry is None:
            import prometheus_client

            registry = prometheus_client.REGISTRY
        self.registry = registry
        self.buckets = tuple(buckets)
        self.record_all = record_all
        self.config = config
        self._busy_since: float | None = None
        # (kind, name, tags) -> the instrument; counters, gauges and histograms are shared as they are.
        self._made: dict[tuple[Any, ...], _Instrument] = {}

    def _cached(self, kind: str, name: str, tags: dict[str, Any]) -> _Instrument:
        """The instrument for ``(kind, name, tags)``: looked up once, then reused (a fresh one for timers)."""
        try:
            key = (kind, name, *tags.items())
            made: _Instrument | None = self._made.get(key)
        except TypeError:  # an unhashable tag value
            return self._instrument(kind, name, tags)
        if made is None:
            made = self._instrument(kind, name, tags)
            if len(self._made) < _CACHE_LIMIT:
                self._made[key] = made
        if kind == "timer" and made is not _IGNORED:
            # A timer holds its own start time: a new one per use, over the cached series.
            return _Instrument(made._observe, in_flight=made._in_flight)
        return made

    def _service(self, tags: Mapping[str, Any]) -> str:
        service = tags.get("service") or self.service_name or PySOALogContextFilter.get_service_name()
        return str(service or "unknown")

    def _instrument(self, kind: str, name: str, tags: Mapping[str, Any]) -> _Instrument:
        service = self._service(tags)
        known = METRICS.get((kind, name))
        if known is not None:
            prometheus_type, metric_name, documentation, label_names = known
            family = _family(
                self.registry, prometheus_type, metric_name, documentation, ("service", *label_names), self.buckets
            )
            values = [service, *(str(tags.get(_label_tag(label), "")) for label in label_names)]
            child = family.labels(*values)
            if name == "server.worker.busy":
                return _Instrument(child.set, on_set=lambda value: self._busy(service, child, value))
            if name == "client.call":
                gauge = _family(self.registry, "gauge", *_CLIENT_IN_FLIGHT, ("service",), self.buckets)
                return _Instrument(child.observe, in_flight=gauge.labels(service))
            if prometheus_type == "histogram":
                return _Instrument(child.observe)
            if prometheus_type == "gauge":
                return _Instrument(child.set)
            return _Instrument(child.inc)
        if name.startswith("server.error.") and kind == "counter":
            family = _family(self.registry, "counter", *_SERVER_ERRORS, ("service", "kind"), self.buckets)
            return _Instrument(family.labels(service, name[len("server.error.") :]).inc)
        if name.startswith(("server.", "client.")) and not self.record_all:
            return _IGNORED
        return self._generic(kind, name, tags, service)

    def _generic(self, kind: str, name: str, tags: Mapping[str, Any], service: str) -> _Instrument:
        base = "pysoa_" + _INVALID_NAME_CHARACTERS.sub("_", name)
        label_names = ("service", *sorted(_INVALID_NAME_CHARACTERS.sub("_", k) for k in tags if k != "service"))
        if kind == "counter":
            family = _family(self.registry, "counter", base + "_total", f"{name} (counter)", label_names, self.buckets)
        elif kind == "gauge":
            family = _family(self.registry, "gauge", base, f"{name} (gauge)", label_names, self.buckets)
        else:
            suffix = "_seconds" if kind == "timer" else ""
            family = _family(self.registry, "histogram", base + suffix, f"{name} ({kind})", label_names, self.buckets)
        known_labels = family._labelnames  # the labels it was first made with
        by_label = {_INVALID_NAME_CHARACTERS.sub("_", k): v for k, v in tags.items()}
        child = family.labels(
            *(service if label == "service" else str(by_label.get(label, "")) for label in known_labels)
        )
        if kind == "counter":
            return _Instrument(child.inc)
        if kind == "gauge":
            return _Instrument(child.set)
        return _Instrument(child.observe)

    def _busy(self, service: str, child: Any, value: float) -> None:
        """``server.worker.busy`` set to the jobs in flight: the in-flight gauge, and busy seconds while any is.

        A worker is busy from the moment it has a job in flight until it has none (a concurrent worker's count goes
        up and down in between).
        """
        child.set(value)
        now = time.perf_counter()
        if value:
            if self._busy_since is None:
                self._busy_since = now
            return
        since, self._busy_since = self._busy_since, None
        if since is not None:
            busy = _family(self.registry, "counter", *_BUSY_SECONDS, ("service",), self.buckets)
            busy.labels(service).inc(now - since)

    def counter(self, name: str, **tags: Any) -> _Instrument:
        """A counter: ``increment(amount)``."""
        return self._cached("counter", name, tags)

    def gauge(self, name: str, **tags: Any) -> _Instrument:
        """A gauge: ``set(value)``."""
        return self._cached("gauge", name, tags)

    def histogram(self, name: str, **tags: Any) -> _Instrument:
        """A histogram: ``set(value)`` observes a value."""
        return self._cached("histogram", name, tags)

    def timer(self, name: str, **tags: Any) -> _Instrument:
        """A timer in seconds: ``start()``/``stop()`` or a ``with`` block."""
        tags.pop("resolution", None)
        return self._cached("timer", name, tags)

    def publish_all(self) -> None:
        """Nothing to do: Prometheus pulls the values."""


def _label_tag(label: str) -> str:
    """The tag of the library's metrics that fills ``label``."""
    for tag, mapped in _TAG_LABELS.items():
        if mapped == label:
            return tag
    return label
