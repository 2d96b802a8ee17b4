"""OpenTelemetry tracing across services (``pip install 'pysoa_like[otel]'``).

* :class:`TracingClientMiddleware` (client ``middleware``): a CLIENT span per call, its W3C trace
  context (``traceparent``, ``tracestate``, ``baggage``) written into the job's ``context``;
* :class:`TracingServerMiddleware` (server ``middleware``): a SERVER span per job, child of the
  caller's span, and an INTERNAL span per action;
* :func:`instrument_client_settings` and :func:`instrument_server_settings` add them to settings.

The trace context travels in the request ``context``, which every server (PySOA 1.4.9's too) copies
into the nested calls its actions make, so a trace crosses services and passes through services
that do not trace. Spans follow OpenTelemetry's RPC conventions (``rpc.system`` ``pysoa``); see the
docs' *Observability* page. Nothing is traced where the middleware is not configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pysoa_like.common.fields.classconfig import configures
from pysoa_like.common.settings import copy_containers
from pysoa_like.otel._middleware import TracingClientMiddleware, TracingServerMiddleware
from pysoa_like.otel._spans import RPC_SYSTEM

__all__ = [
    "CLIENT_MIDDLEWARE",
    "RPC_SYSTEM",
    "SERVER_MIDDLEWARE",
    "TracingClientMiddleware",
    "TracingServerMiddleware",
    "instrument_client_settings",
    "instrument_server_settings",
]

#: The path of :class:`TracingClientMiddleware` for settings.
CLIENT_MIDDLEWARE = "pysoa_like.otel:TracingClientMiddleware"
#: The path of :class:`TracingServerMiddleware` for settings.
SERVER_MIDDLEWARE = "pysoa_like.otel:TracingServerMiddleware"


def _traced(middleware: Any, path: str, kwargs: Mapping[str, Any]) -> list[Any]:
    """``middleware`` with the tracing middleware first (outermost), unless it is already there."""
    entries = list(middleware or ())
    if any(configures(entry, path) for entry in entries):
        return entries
    return [{"path": path, "kwargs": dict(kwargs)}, *entries]


def instrument_client_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``Client`` configuration (service name -> settings) with tracing for every service.

    Each service's ``middleware`` gets :class:`TracingClientMiddleware` (with its ``service_name``)
    as the outermost entry, unless it already has it. The input is not changed (its dicts and lists are
    copied; other values, such as a tracer provider, are shared).
    """
    result: dict[str, Any] = {}
    for service, settings in config.items():
        traced = copy_containers(dict(settings))
        traced["middleware"] = _traced(traced.get("middleware"), CLIENT_MIDDLEWARE, {"service_name": service})
        result[service] = traced
    return result


def instrument_server_settings(settings: Mapping[str, Any], service_name: str | None = None) -> dict[str, Any]:
    """A copy of server settings with tracing: the server middleware, and the client middleware in ``client_routing``.

    Args:
        settings: The server settings dict.
        service_name: The service's name for its spans (by default the one the runner sets).

    Returns:
        The settings with :class:`TracingServerMiddleware` as the outermost ``middleware`` entry and
        every ``client_routing`` service traced as by :func:`instrument_client_settings`.
    """
    traced: dict[str, Any] = copy_containers(dict(settings))
    kwargs = {"service_name": service_name} if service_name else {}
    traced["middleware"] = _traced(traced.get("middleware"), SERVER_MIDDLEWARE, kwargs)
    if traced.get("client_routing"):
        traced["client_routing"] = instrument_client_settings(traced["client_routing"])
    return traced
