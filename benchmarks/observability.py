"""The cost per call of tracing and Prometheus metrics, on and off in the same run.

``python -m benchmarks.observability [--calls N] [--rounds R] [--redis [--asyncio [--in-flight K]]]``

Each mode instruments both sides of a ``square`` call the same way:

* ``off``: the default settings (no middleware, the no-op recorder);
* ``prometheus``: ``PrometheusMetricsRecorder`` as the ``metrics`` of the server and the client;
* ``tracing``: the tracing middleware on both sides, into the OpenTelemetry SDK (a
  ``SimpleSpanProcessor`` and an exporter that drops the spans: the SDK's own cost, no export I/O);
* ``tracing-api``: the same middleware with no SDK configured (the API's non-recording spans).

By default the call goes over the in-process (local) transport, so the figures are the CPU cost of
both sides without I/O. ``--redis`` runs the server as a forked process over a throwaway Redis and
times round trips. ``--asyncio`` (with ``--redis``) calls through an ``AsyncClient`` a concurrent server
(``concurrency`` 8, coroutine hooks of the tracing middleware), ``--in-flight K`` calls at a time. Modes
are interleaved round by round; the median per-call time of each mode and its difference to ``off`` are
printed in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from benchmarks._stats import median
from benchmarks.local import LocalSquareServer
from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client

__all__ = ["MODES", "main"]

MODES = ("off", "prometheus", "tracing", "tracing-api")
_RECORDER = {"path": "pysoa_like.prometheus:PrometheusMetricsRecorder", "kwargs": {"service_name": "bench"}}
_SERVICE = LocalSquareServer.service_name


def _provider(mode: str) -> Any:
    """An SDK tracer provider dropping every span (``tracing``), or a non-recording one (``tracing-api``)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    if mode == "tracing-api":
        return trace.NoOpTracerProvider()

    class _Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_Drop()))
    return provider


def _server_settings(mode: str, transport: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {"transport": transport}
    if mode == "prometheus":
        settings["metrics"] = _RECORDER
    elif mode.startswith("tracing"):
        kwargs = {"service_name": _SERVICE, "tracer_provider": _provider(mode)}
        settings["middleware"] = [{"path": "pysoa_like.otel:TracingServerMiddleware", "kwargs": kwargs}]
    return settings


def _client_settings(mode: str, transport: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {"transport": transport}
    if mode == "prometheus":
        settings["metrics"] = _RECORDER
    elif mode.startswith("tracing"):
        kwargs = {"service_name": _SERVICE, "tracer_provider": _provider(mode)}
        settings["middleware"] = [{"path": "pysoa_like.otel:TracingClientMiddleware", "kwargs": kwargs}]
    return settings


def _local_client(mode: str) -> Client:
    server = _server_settings(mode, {"path": "pysoa_like.common.transport.local:LocalServerTransport"})
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": LocalSquareServer, "server_settings": server},
    }
    return Client({_SERVICE: _client_settings(mode, transport)})


def _redis_kwargs(url: str) -> dict[str, Any]:
    return {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [url]}}


# The concurrent server's places under --asyncio.
_CONCURRENCY = 8


def _serve(mode: str, url: str, concurrent: bool) -> None:
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": dict(_redis_kwargs(url), receive_timeout_in_seconds=1),
    }
    settings = _server_settings(mode, transport)
    if concurrent:
        settings["concurrency"] = _CONCURRENCY
    settings["request_log_success_level"] = "DEBUG"
    settings["logging"] = {"version": 1, "root": {"level": "WARNING"}, "disable_existing_loggers": False}
    server = _ModeServer(settings)
    signal.signal(signal.SIGTERM, lambda *args: setattr(server, "shutting_down", True))
    server.run()


class _ModeServer(LocalSquareServer):
    """The benchmark service under its own name per mode (one queue per mode)."""


@contextlib.contextmanager
def _redis_clients(url: str, concurrent: bool = False) -> Iterator[dict[str, Client]]:
    """A forked server per mode (each on its own queue) and a client of each."""
    context = multiprocessing.get_context("fork")
    processes = []
    clients: dict[str, Client] = {}
    try:
        for mode in MODES:
            _ModeServer.service_name = f"bench_{mode.replace('-', '_')}"
            process = context.Process(target=_serve, args=(mode, url, concurrent), daemon=True)
            process.start()
            processes.append(process)
            transport = {
                "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
                "kwargs": _redis_kwargs(url),
            }
            settings = _client_settings(mode, transport)
            if mode.startswith("tracing"):
                settings["middleware"][0]["kwargs"]["service_name"] = _ModeServer.service_name
            clients[mode] = Client({_ModeServer.service_name: settings})
            clients[mode].call_action(_ModeServer.service_name, "square", {"number": 1}, timeout=30)
        yield clients
    finally:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in processes:
            process.join(10)


def _time(client: Client, calls: int) -> float:
    service = next(iter(client.settings))
    call = client.call_action
    started = time.perf_counter()
    for n in range(calls):
        call(service, "square", {"number": n})
    return (time.perf_counter() - started) / calls * 1e6


def _time_async(settings: Mapping[str, Any], calls: int, in_flight: int) -> float:
    """The time per call of an ``AsyncClient`` with the ``Client``'s settings, ``in_flight`` calls at a time."""
    service = next(iter(settings))

    async def run() -> float:
        async with AsyncClient(settings) as client:
            call = client.call_action
            await call(service, "square", {"number": 0})  # connections made before the clock starts
            started = time.perf_counter()
            for first in range(0, calls, in_flight):
                wave = range(first, min(first + in_flight, calls))
                await asyncio.gather(*(call(service, "square", {"number": n}) for n in wave))
            return (time.perf_counter() - started) / calls * 1e6

    return asyncio.run(run())


def _report(samples: dict[str, list[float]], where: str) -> None:
    base = median(samples["off"])
    print(f"Per-call time over {where} (median of {len(samples['off'])} rounds), both sides instrumented:")
    for mode in MODES:
        value = median(samples[mode])
        delta = "" if mode == "off" else f"  (+{value - base:.1f} us, x{value / base:.2f})"
        print(f"  {mode:<12} {value:8.1f} us{delta}")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="Calls per mode and round")
    parser.add_argument("--rounds", type=int, default=7, help="Rounds (modes interleaved in each)")
    parser.add_argument("--redis", action="store_true", help="Over a throwaway Redis, the server in a forked process")
    parser.add_argument(
        "--asyncio", action="store_true", help="With --redis: an AsyncClient and a concurrent server (concurrency 8)"
    )
    parser.add_argument("--in-flight", type=int, default=1, help="With --asyncio: calls awaited at a time")
    args = parser.parse_args(argv)
    if args.asyncio and not args.redis:
        parser.error("--asyncio needs --redis")
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    if args.redis:
        from pysoa_like.test.redis import RedisServerProcess

        with RedisServerProcess() as redis_server, _redis_clients(redis_server.url, args.asyncio) as clients:
            for _ in range(args.rounds):
                for mode in MODES:
                    if args.asyncio:
                        samples[mode].append(_time_async(clients[mode].config, args.calls, args.in_flight))
                    else:
                        samples[mode].append(_time(clients[mode], args.calls))
        where = f"Redis, AsyncClient ({args.in_flight} in flight) and a concurrent server" if args.asyncio else "Redis"
        _report(samples, where)
        return
    clients = {mode: _local_client(mode) for mode in MODES}
    for client in clients.values():
        _time(client, 200)
    for _ in range(args.rounds):
        for mode in MODES:
            samples[mode].append(_time(clients[mode], args.calls))
    _report(samples, "the local transport")


if __name__ == "__main__":
    main()
