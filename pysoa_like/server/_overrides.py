"""Settings the ``serve`` command's flags override, passed to the workers through the environment.

The environment reaches every worker (forked, respawned, or restarted by the file watcher) and
works the same for PySOA-style entry points (``Server.main``, ``simple_main``), so a flag of
``pysoa-like serve`` becomes an environment variable that :func:`~pysoa_like.server._main.server_main`
reads when it configures logging and builds the server:

* ``PYSOA_LIKE_LOG_FORMAT=json``: every formatter of the ``logging`` setting becomes
  :class:`~pysoa_like.common.json_logging.JSONFormatter` (``--log-format json``).
* ``PYSOA_LIKE_METRICS=prometheus``: a server whose settings choose no ``metrics`` recorder gets
  :class:`~pysoa_like.prometheus.PrometheusMetricsRecorder` (``--metrics-port``/``--metrics-textfile``).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.fields.classconfig import configures

__all__ = ["LOG_FORMATS", "LOG_FORMAT_ENV", "METRICS_ENV", "PROMETHEUS_RECORDER", "apply_log_format", "apply_metrics"]

LOG_FORMAT_ENV = "PYSOA_LIKE_LOG_FORMAT"
#: The accepted values of ``--log-format`` (``text`` leaves the logging setting as it is).
LOG_FORMATS = ("text", "json")
_JSON_FORMATTER = {"()": "pysoa_like.common.json_logging.JSONFormatter"}
METRICS_ENV = "PYSOA_LIKE_METRICS"
PROMETHEUS_RECORDER = "pysoa_like.prometheus:PrometheusMetricsRecorder"


def apply_metrics(
    settings: Mapping[str, Any], service_name: str | None, logger: logging.Logger | None = None
) -> Mapping[str, Any]:
    """The raw server settings with the Prometheus recorder when ``$PYSOA_LIKE_METRICS`` asks for it.

    A ``metrics`` recorder the settings already choose is kept (with a warning unless it is the
    Prometheus one): the endpoint then shows only the queue depth and the respawns.
    """
    if os.environ.get(METRICS_ENV) != "prometheus":
        return settings
    configured = settings.get("metrics")
    if configured:
        if not configures(configured, PROMETHEUS_RECORDER):
            chosen = (configured.get("path") or configured.get("object")) if isinstance(configured, Mapping) else None
            (logger or logging.getLogger("pysoa_like.server")).warning(
                "The settings choose the metrics recorder %r: the metrics endpoint shows its series only if it is %s",
                chosen,
                PROMETHEUS_RECORDER,
            )
        return settings
    return {**settings, "metrics": {"path": PROMETHEUS_RECORDER, "kwargs": {"service_name": service_name}}}


def apply_log_format(logging_config: Mapping[str, Any], log_format: str | None = None) -> dict[str, Any]:
    """The ``logging`` dictConfig with the log format of ``--log-format`` (``$PYSOA_LIKE_LOG_FORMAT``) applied.

    For ``json``, every formatter becomes the JSON formatter and every handler without a formatter
    gets it; for ``text`` (or nothing) the configuration is returned unchanged.

    Raises:
        ValueError: The format is not one of :data:`LOG_FORMATS`.
    """
    log_format = (log_format if log_format is not None else os.environ.get(LOG_FORMAT_ENV, "")) or "text"
    if log_format not in LOG_FORMATS:
        raise ValueError(f"Unknown log format {log_format!r} in {LOG_FORMAT_ENV}: use one of {', '.join(LOG_FORMATS)}")
    config = copy.deepcopy(dict(logging_config))
    if log_format == "text":
        return config
    formatters = {name: dict(_JSON_FORMATTER) for name in config.get("formatters") or {}}
    formatters.setdefault("pysoa_like_json", dict(_JSON_FORMATTER))
    config["formatters"] = formatters
    for handler in (config.get("handlers") or {}).values():
        if isinstance(handler, dict) and not handler.get("formatter"):
            handler["formatter"] = "pysoa_like_json"
    return config
