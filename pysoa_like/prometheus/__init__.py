"""Prometheus metrics for services and clients (``pip install 'pysoa_like[prometheus]'``).

* :class:`PrometheusMetricsRecorder`: a metrics recorder (the ``metrics`` setting of servers and
  clients) that turns the library's metrics into Prometheus series;
* ``pysoa-like serve --metrics-port N`` / ``--metrics-textfile PATH``: the recorder in every worker,
  aggregated with ``prometheus_client``'s multiprocess mode, plus the request queue depth and worker
  respawns, served on ``/metrics`` or written for a node exporter's textfile collector
  (:func:`start_exposition`).

The series and their labels are listed in the docs' *Observability* page.
"""

from __future__ import annotations

from pysoa_like.prometheus._exposition import (
    METRICS_ENV,
    MULTIPROC_DIR_ENV,
    Exposition,
    QueueDepthCollector,
    start_exposition,
)
from pysoa_like.prometheus._recorder import DEFAULT_BUCKETS, METRICS, PrometheusMetricsRecorder

__all__ = [
    "DEFAULT_BUCKETS",
    "METRICS",
    "METRICS_ENV",
    "MULTIPROC_DIR_ENV",
    "Exposition",
    "PrometheusMetricsRecorder",
    "QueueDepthCollector",
    "start_exposition",
]
