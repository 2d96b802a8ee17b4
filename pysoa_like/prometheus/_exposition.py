"""Exposing the metrics of a ``serve`` process group: multiprocess mode, HTTP, textfile, queue depth, respawns.

``pysoa-like serve --metrics-port N`` (or ``--metrics-textfile PATH``) calls :func:`start_exposition`
in the process that runs the service, before any worker is forked. That:

1. points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory (or keeps the one already set),
   so every worker's values are files there that ``prometheus_client`` aggregates;
2. asks the workers, through ``PYSOA_LIKE_METRICS=prometheus``, to use the Prometheus recorder;
3. serves ``/metrics`` on the port and/or rewrites the textfile every ``interval`` seconds, from a
   registry holding the multiprocess collector and a collector of the service's request queue depth;
4. gives back an observer for the supervisor that marks dead workers (so ``livesum`` gauges drop
   them) and counts respawns.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["METRICS_ENV", "MULTIPROC_DIR_ENV", "Exposition", "QueueDepthCollector", "start_exposition"]

_logger = logging.getLogger("pysoa_like.prometheus")

#: Set by ``serve --metrics-port``/``--metrics-textfile``: workers use the Prometheus recorder.
METRICS_ENV = "PYSOA_LIKE_METRICS"
#: prometheus_client's multiprocess directory variable.
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

_QUEUE_PREFIX = "pysoa:service."
# A worker's values file holds at least this header (how much of it is used) once it is created.
_FILE_HEADER_BYTES = 8


class _WorkerFilesCollector:
    """``prometheus_client``'s multiprocess collector, leaving out the files that workers are still creating.

    A worker creates its file empty, then sizes it; a scrape that reads it in between failed the whole
    ``/metrics`` answer (500). Such a file holds no value yet, so leaving it out of that scrape loses nothing.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = [path for path in glob.glob(os.path.join(self._directory, "*.db")) if _created(path)]
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]


def _created(path: str) -> bool:
    """Whether a worker's values file has its header (a file removed meanwhile is left to the merge)."""
    try:
        return os.path.getsize(path) >= _FILE_HEADER_BYTES
    except FileNotFoundError:
        return True  # a dead worker's live gauges: the merge knows to skip them


class QueueDepthCollector:
    """A collector giving ``pysoa_server_queue_depth{service}``: the length of the service's request queue.

    Read at each scrape (``LLEN`` on every Redis of the ring, summed); nothing is reported when Redis
    cannot be reached.

    Args:
        service_name: The service.
        transport_kwargs: The server transport's kwargs (``backend_type``, ``backend_layer_kwargs``).
    """

    def __init__(self, service_name: str, transport_kwargs: Mapping[str, Any]) -> None:
        self.service_name = service_name
        self._transport_kwargs = dict(transport_kwargs)
        self._backend: Any = None
        self._lock = threading.Lock()

    def _depth(self) -> int:
        from pysoa_like.common.transport.redis_gateway.backend import make_backend

        with self._lock:
            if self._backend is None:
                self._backend = make_backend(
                    self._transport_kwargs.get("backend_type") or "redis.standard",
                    self._transport_kwargs.get("backend_layer_kwargs"),
                )
            backend = self._backend
            key = _QUEUE_PREFIX + self.service_name
            return sum(int(backend.client_at(index).llen(key)) for index in backend.queue_indexes(key))

    @staticmethod
    def _family() -> Any:
        from prometheus_client.core import GaugeMetricFamily

        return GaugeMetricFamily(
            "pysoa_server_queue_depth", "Requests waiting in the service's request queue", labels=["service"]
        )

    def describe(self) -> list[Any]:
        """The metric this collector gives (registering it reads nothing from Redis)."""
        return [self._family()]

    def collect(self) -> Iterator[Any]:
        """The queue depth metric family (empty if Redis cannot be read)."""
        try:
            depth = self._depth()
        except Exception as exc:
            _logger.warning("Could not read the request queue depth of %s: %s", self.service_name, exc)
            return
        family = self._family()
        family.add_metric([self.service_name], depth)
        yield family

    def close(self) -> None:
        """Close the Redis connections."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None


class Exposition:
    """What :func:`start_exposition` started; :meth:`close` stops it (at exit, or when the service ends).

    Attributes:
        registry: The registry that is served and written.
        port: The port ``/metrics`` is served on, if any.
    """

    def __init__(self, registry: Any, service_name: str, owned_directory: str | None) -> None:
        self.registry = registry
        self.service_name = service_name
        self.port: int | None = None
        self._owned_directory = owned_directory
        self._server: Any = None
        self._textfile: tuple[str, threading.Event, threading.Thread] | None = None
        self._write_lock = threading.Lock()
        self._collectors: list[QueueDepthCollector] = []
        self._respawns: Any = None

    def worker_exited(self, pid: int, respawned: bool) -> None:
        """The supervisor's observer: forget the dead worker's live gauges; count a respawn."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        if respawned:
            if self._respawns is None:
                from pysoa_like.prometheus._recorder import _family

                self._respawns = _family(
                    None, "counter", "pysoa_server_worker_respawns_total", "Workers started again after they exited",
                    ("service",), (),
                )  # fmt: skip
            self._respawns.labels(self.service_name).inc()

    def write_textfile(self) -> None:
        """Write the textfile now, atomically: the metrics are read first, then written to a temporary file beside it
        (``<textfile>.<pid>.tmp``) that is renamed over it.

        The temporary file exists only while the text is written, and is removed if that fails or is interrupted
        (``SystemExit``, ``KeyboardInterrupt``); writes from several threads take turns. Nothing is written once
        :meth:`close` has run.
        """
        if self._textfile is None:
            return
        from prometheus_client import generate_latest

        # Read first (the queue depth asks Redis, which may be slow): no file exists meanwhile.
        text = generate_latest(self.registry)
        with self._write_lock:
            if self._textfile is not None:
                _replace_file(self._textfile[0], text)

    def close(self) -> None:
        """Stop serving, write the textfile one last time, and remove the private multiprocess directory."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._textfile is not None:
            _, stop, thread = self._textfile
            stop.set()
            if thread.ident is not None:  # started (a failed first write stops it before it starts)
                thread.join(5)
            with contextlib.suppress(Exception):
                self.write_textfile()
            with self._write_lock:  # a write still under way in the thread finishes first; none starts after
                self._textfile = None
        for collector in self._collectors:
            collector.close()
        if self._owned_directory is not None:
            shutil.rmtree(self._owned_directory, ignore_errors=True)
            self._owned_directory = None


def _replace_file(path: str, data: bytes) -> None:
    """Replace the file at ``path`` by one holding ``data``, atomically (a temporary file beside it, renamed).

    The temporary file is removed if the write fails or is interrupted (by any exception: ``SystemExit`` from a
    signal handler too).
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _multiprocess_directory() -> str | None:
    """Use ``$PROMETHEUS_MULTIPROC_DIR`` (made if missing), else a new private one; return it if it is ours."""
    existing = os.environ.get(MULTIPROC_DIR_ENV)
    if existing:
        os.makedirs(existing, exist_ok=True)
        return None
    directory = tempfile.mkdtemp(prefix="pysoa-like-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = directory
    return directory


def start_exposition(
    service_name: str,
    transport_kwargs: Mapping[str, Any] | None,
    port: int | None = None,
    host: str = "0.0.0.0",
    textfile: str | None = None,
    interval: float = 15.0,
) -> Exposition:
    """Prepare multiprocess mode and start serving and/or writing the metrics (see the module documentation).

    Must run before ``prometheus_client`` is imported anywhere in the process, and before forking.

    Args:
        service_name: The service (the ``service`` label of the queue depth and respawn metrics).
        transport_kwargs: The Redis server transport's kwargs, for the queue depth (``None``: no queue depth).
        port: Serve ``/metrics`` on this port (0: any free port).
        host: The address to listen on.
        textfile: Rewrite this file (for a node exporter's textfile collector; name it ``*.prom``).
        interval: Seconds between textfile writes.

    Raises:
        OSError: The port cannot be listened on.
        ValueError: ``interval`` is not a finite number of seconds above 0 (it would rewrite the file in a busy
            loop).
    """
    if not (isinstance(interval, int | float) and math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be a finite number of seconds above 0, got {interval!r}")
    owned = _multiprocess_directory()
    os.environ[METRICS_ENV] = "prometheus"
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(_WorkerFilesCollector(os.environ[MULTIPROC_DIR_ENV]))
    exposition = Exposition(registry, service_name, owned)
    try:
        if transport_kwargs is not None:
            collector = QueueDepthCollector(service_name, transport_kwargs)
            registry.register(collector)
            exposition._collectors.append(collector)
        if port is not None:
            server, _thread = start_http_server(port, addr=host, registry=registry)
            exposition._server = server
            exposition.port = int(server.server_address[1])
        if textfile is not None:
            stop = threading.Event()

            def write_periodically() -> None:
                while not stop.wait(interval):
                    try:
                        exposition.write_textfile()
                    except Exception as exc:
                        _logger.warning("Could not write the metrics textfile %s: %s", textfile, exc)

            thread = threading.Thread(target=write_periodically, name="pysoa-like-metrics-textfile", daemon=True)
            exposition._textfile = (textfile, stop, thread)
            exposition.write_textfile()
            thread.start()
    except BaseException:
        exposition.close()
        raise
    parent = os.getpid()
    # Only the process that started it closes it (forked workers inherit the atexit function).
    atexit.register(lambda: exposition.close() if os.getpid() == parent else None)
    return exposition
