"""The metrics recorder contract (PySOA/pymetrics-shaped) and the no-op default.

A recorder hands out named instruments; the library calls them at the points PySOA did, so a
pymetrics ``MetricsRecorder`` can be plugged in unchanged through the ``metrics`` setting.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "MetricsRecorder",
    "NoOpMetricsRecorder",
    "Timer",
]


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
