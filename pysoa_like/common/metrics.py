"""The metrics recorder contract (PySOA/pymetrics-shaped), the no-op default and a counting recorder.

A recorder hands out named instruments; the library calls them at the points PySOA did, so a
pymetrics ``MetricsRecorder`` can be plugged in unchanged through the ``metrics`` setting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "SERVER_METRIC_NAMES",
    "Counter",
    "CountingMetricsRecorder",
    "Gauge",
    "Histogram",
    "MetricsRecorder",
    "NoOpMetricsRecorder",
    "Timer",
    "records_nothing",
    "substitute_fork_id",
]

#: Every metric name the server records; PySOA's, plus ``server.job`` (timer per job),
#: ``server.action`` (timer per action, tag ``action``) and ``server.action.error`` (counter per
#: error, tags ``action`` and ``code``) and ``server.worker.slots`` (gauge: the jobs the worker can run at once,
#: its ``concurrency``; 0 once stopped). ``server.error.harakiri`` carries the tag ``harakiri_level``
#: (``job``, ``action``, ``emergency`` or ``server``).
SERVER_METRIC_NAMES: frozenset[str] = frozenset(
    {
        "server.job",
        "server.action",
        "server.action.error",
        "server.idle_time",
        "server.worker.running",
        "server.worker.slots",
        "server.worker.busy",
        "server.worker.ready",
        "server.worker.startup",
        "server.worker.shutdown",
        "server.error.job_error",
        "server.error.unhandled_error",
        "server.error.response_conversion_failure",
        "server.error.response_too_large",
        "server.error.response_not_serializable",
        "server.error.error_formatting_failure",
        "server.error.variable_formatting_failure",
        "server.error.unknown",
        "server.error.invalid_message",
        "server.error.invalid_action_response",
        "server.error.harakiri",
    }
)


class Counter(Protocol):
    """A monotonically increasing count."""

    def increment(self, amount: int = 1) -> Any: ...


class Gauge(Protocol):
    """A value that is set, not accumulated."""

    def set(self, value: float) -> Any: ...


class Histogram(Protocol):
    """A distribution of observed values."""

    def set(self, value: float) -> Any: ...


class Timer(Protocol):
    """Measures a duration; usable as a context manager."""

    def start(self) -> Any: ...

    def stop(self) -> Any: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any: ...


class MetricsRecorder(Protocol):
    """What the library needs from a metrics recorder (a subset of pymetrics' ``MetricsRecorder``)."""

    def counter(self, name: str, **tags: Any) -> Counter: ...

    def gauge(self, name: str, **tags: Any) -> Gauge: ...

    def histogram(self, name: str, **tags: Any) -> Histogram: ...

    def timer(self, name: str, **tags: Any) -> Timer: ...

    def publish_all(self) -> None: ...


class _NoOpInstrument:
    """Accepts every instrument call and does nothing."""

    __slots__ = ()

    def increment(self, amount: int = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def __enter__(self) -> _NoOpInstrument:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass


_NOOP = _NoOpInstrument()


class NoOpMetricsRecorder:
    """The default recorder: records nothing, costs next to nothing."""

    def __init__(self, config: Any = None) -> None:
        self.config = config

    def counter(self, name: str, **tags: Any) -> _NoOpInstrument:
        return _NOOP

    def gauge(self, name: str, **tags: Any) -> _NoOpInstrument:
        return _NOOP

    def histogram(self, name: str, **tags: Any) -> _NoOpInstrument:
        return _NOOP

    def timer(self, name: str, **tags: Any) -> _NoOpInstrument:
        return _NOOP

    def publish_all(self) -> None:
        pass


def records_nothing(recorder: object) -> bool:
    """Whether ``recorder`` is exactly :class:`NoOpMetricsRecorder`, so that its instruments may be skipped.

    Hot paths test this (once, or with one cheap check per call) and then leave out the instrument
    calls and ``with`` blocks entirely; subclasses and every other recorder are always called.
    """
    return type(recorder) is NoOpMetricsRecorder


class _CountingInstrument:
    """One named instrument of a :class:`CountingMetricsRecorder`."""

    __slots__ = ("kind", "name", "tags", "values")

    def __init__(self, kind: str, name: str, tags: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.tags = tags
        self.values: list[float] = []

    def increment(self, amount: int = 1) -> None:
        self.values.append(amount)

    def set(self, value: float) -> None:
        self.values.append(value)


class _CountingTimer:
    """One measurement of a :class:`CountingMetricsRecorder` timer: jobs timed at once never share a start."""

    __slots__ = ("_instrument", "_started")

    def __init__(self, instrument: _CountingInstrument) -> None:
        self._instrument = instrument
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        if self._started is not None:
            # Microseconds, as PySOA's timers.
            self._instrument.values.append(round((time.perf_counter() - self._started) * 1_000_000))
            self._started = None

    def __enter__(self) -> _CountingTimer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class CountingMetricsRecorder:
    """A recorder that keeps every value in memory, for tests and debugging.

    Counters accumulate increments, gauges and histograms keep every value set, timers keep each
    measured duration in microseconds. Instruments are keyed by name only (tags are remembered but
    do not create separate series). Each ``timer()`` call gives a timer of its own (sharing the values), so jobs
    timed at once (a concurrent worker) never mix their starts.

    Args:
        config: Ignored; accepted so the recorder fits the ``metrics`` class configuration.

    Example::

        recorder = CountingMetricsRecorder()
        recorder.counter("server.worker.startup").increment()
        assert recorder.get_count("server.worker.startup") == 1
    """

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self._instruments: dict[tuple[str, str], _CountingInstrument] = {}
        self._lock = threading.Lock()
        self.publish_count = 0

    def _get(self, kind: str, name: str, tags: dict[str, Any]) -> _CountingInstrument:
        key = (kind, name)
        instrument = self._instruments.get(key)
        if instrument is None:
            with self._lock:
                instrument = self._instruments.setdefault(key, _CountingInstrument(kind, name, tags))
        return instrument

    def counter(self, name: str, **tags: Any) -> _CountingInstrument:
        return self._get("counter", name, tags)

    def gauge(self, name: str, **tags: Any) -> _CountingInstrument:
        return self._get("gauge", name, tags)

    def histogram(self, name: str, **tags: Any) -> _CountingInstrument:
        return self._get("histogram", name, tags)

    def timer(self, name: str, **tags: Any) -> _CountingTimer:
        return _CountingTimer(self._get("timer", name, {k: v for k, v in tags.items() if k != "resolution"}))

    def publish_all(self) -> None:
        self.publish_count += 1

    def get_count(self, name: str) -> int:
        """The total of a counter's increments (0 if it was never used)."""
        instrument = self._instruments.get(("counter", name))
        return int(sum(instrument.values)) if instrument else 0

    def get_values(self, kind: str, name: str) -> list[float]:
        """Every value recorded for an instrument of ``kind`` (counter, gauge, histogram, timer)."""
        instrument = self._instruments.get((kind, name))
        return list(instrument.values) if instrument else []

    def get_tags(self, kind: str, name: str) -> dict[str, Any]:
        """The tags an instrument was first created with."""
        instrument = self._instruments.get((kind, name))
        return dict(instrument.tags) if instrument else {}

    def names(self, kind: str) -> set[str]:
        """The names of every instrument of ``kind`` used so far."""
        return {name for k, name in self._instruments if k == kind}

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._instruments.clear()
        self.publish_count = 0


_FORK_ID_MARKERS = ("{{fid}}", "[[fid]]", "%%fid%%")


def _substitute(value: Any, fork_id: str) -> Any:
    if isinstance(value, str):
        for marker in _FORK_ID_MARKERS:
            value = value.replace(marker, fork_id)
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, fork_id) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, fork_id) for v in value)
    return value


def substitute_fork_id(metrics_kwargs: Mapping[str, Any], forked_process_id: int | None) -> dict[str, Any]:
    """Replace ``{{fid}}``, ``[[fid]]`` and ``%%fid%%`` in a recorder's publisher configuration.

    Only ``config.publishers`` is rewritten: in a version 1 config each whole publisher dict, in a
    version 2 config each publisher's ``kwargs`` (other values are copied unchanged). The input is
    never modified.

    Args:
        metrics_kwargs: The ``kwargs`` of the ``metrics`` class configuration.
        forked_process_id: The worker's fork id; ``None`` (not forked) substitutes ``main``.

    Returns:
        The kwargs with the markers replaced.
    """
    config = metrics_kwargs.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("publishers"), list | tuple):
        return dict(metrics_kwargs)
    fork_id = "main" if forked_process_id is None else str(forked_process_id)
    publishers: list[Any] = []
    for publisher in config["publishers"]:
        if config.get("version") == 2 and isinstance(publisher, Mapping) and "kwargs" in publisher:
            publishers.append(dict(publisher, kwargs=_substitute(dict(publisher["kwargs"]), fork_id)))
        else:
            publishers.append(_substitute(publisher, fork_id))
    return dict(metrics_kwargs, config=dict(config, publishers=publishers))
