"""``pysoa-like serve --metrics-port`` / ``--metrics-textfile``: start the metrics exposition before forking."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Any

from pysoa_like._cli._common import CommandError, positive_seconds
from pysoa_like.common._extras import install_extra

__all__ = ["add_serve_metrics_arguments", "start_serve_metrics"]

_REDIS_SERVER_TRANSPORT = "RedisServerTransport"


def add_serve_metrics_arguments(serve: argparse.ArgumentParser) -> None:
    """Add the metrics flags to the ``serve`` parser."""
    group = serve.add_argument_group("metrics (the prometheus extra)")
    group.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="Serve Prometheus metrics of all workers on /metrics"
    )
    group.add_argument(
        "--metrics-host", default="0.0.0.0", metavar="HOST", help="The address to listen on (default 0.0.0.0)"
    )
    group.add_argument(
        "--metrics-textfile", metavar="PATH", help="Write the metrics to PATH (*.prom) for a node exporter"
    )
    group.add_argument(
        "--metrics-interval",
        type=positive_seconds,
        default=15.0,
        metavar="SECONDS",
        help="Seconds between textfile writes, more than 0 (default 15)",
    )


def _transport_kwargs(args: argparse.Namespace, server_class: Any) -> Mapping[str, Any] | None:
    """The Redis server transport's kwargs from the settings module (``None``: no queue depth)."""
    if server_class.use_django or not args.settings:
        return None
    from pysoa_like.server._main import load_settings_module

    try:
        settings = load_settings_module(args.settings)
    except Exception as exc:
        raise CommandError(f"cannot load settings module {args.settings!r}: {exc}") from exc
    transport = settings.get("transport") or {}
    path = str(transport.get("path", _REDIS_SERVER_TRANSPORT))
    if not path.replace(":", ".").endswith(_REDIS_SERVER_TRANSPORT):
        return None
    return dict(transport.get("kwargs") or {})


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the server or supervisor handles it: a clean exit (``atexit`` then closes the exposition)."""
    raise SystemExit(0)


def _stop_cleanly_on_sigterm() -> None:
    """Make a SIGTERM that comes before the server (or the supervisor of ``--fork``) installs its own handler a clean
    stop, unless the process already handles it: killed outright, it would leave the textfile's temporary file and
    skip its last write. The server and the supervisor put this handler back when they stop."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _stop_on_sigterm)


def start_serve_metrics(args: argparse.Namespace, server_class: Any) -> Any:
    """Start the exposition the flags ask for, in the process that will serve (or fork the workers).

    From then on a SIGTERM is a clean stop (exit code 0, the textfile written one last time, no temporary file
    left), even before the server or the supervisor of ``--fork`` installs its own handler.

    Returns:
        The :class:`~pysoa_like.prometheus.Exposition`, or ``None`` when no metrics flag is given (or
        in the file watcher's parent, whose child serves them).

    Raises:
        CommandError: The port is out of range or cannot be listened on, or the extra is missing.
    """
    if args.metrics_port is None and not args.metrics_textfile:
        return None
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise CommandError(f"--metrics-port must be between 0 and 65535, got {args.metrics_port}")
    from pysoa_like.server.autoreload import RELOADER_RUN_MAIN_ENV

    if args.reload is not None and os.environ.get(RELOADER_RUN_MAIN_ENV) != "true":
        return None
    if importlib.util.find_spec("prometheus_client") is None:
        raise CommandError(
            f"--metrics-port and --metrics-textfile need the prometheus extra: {install_extra('prometheus')}"
        )
    from pysoa_like.prometheus import start_exposition

    _stop_cleanly_on_sigterm()
    try:
        exposition = start_exposition(
            str(server_class.service_name),
            _transport_kwargs(args, server_class),
            port=args.metrics_port,
            host=args.metrics_host,
            textfile=args.metrics_textfile,
            interval=args.metrics_interval,
        )
    except OSError as exc:
        raise CommandError(
            f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc.strerror or exc}"
        ) from exc
    if exposition.port is not None:
        print(f"Serving metrics on http://{args.metrics_host}:{exposition.port}/metrics", file=sys.stderr, flush=True)
    return exposition
