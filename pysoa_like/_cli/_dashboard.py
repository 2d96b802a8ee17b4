"""``pysoa-like dashboard``: serve the operators' web page for the services on one Redis (the ``web`` extra)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from pysoa_like._cli._common import CommandError, Output
from pysoa_like._cli._target import Target, add_target_arguments, mask_url
from pysoa_like._cli._web import check_web_command, loopback_names, serve_until_stopped

__all__ = ["add_dashboard_command", "run_dashboard"]

_EXAMPLES = """\
examples:
  pysoa-like dashboard --redis-url redis://127.0.0.1:6379/0 --port 8050
  pysoa-like dashboard --settings my_app.settings --host 0.0.0.0 --port 8050 --resolution 10

The page reads the service registry on that Redis (and the request queues): it shows live workers,
queue depths, calls and errors per second, recent errors and each service's actions. It sends the
services no request. It has no login: listen on a private address, or put it behind one.
"""


def add_dashboard_command(commands: Any) -> None:
    """Add ``dashboard`` to the ``pysoa-like`` subcommands."""
    parser = commands.add_parser(
        "dashboard",
        help="Serve a live web page of the services, their workers, calls and errors",
        description="Serve the operators' dashboard: live services and workers, request-queue depths, calls "
        "and errors per second, recent errors, and each service's actions with their schemas.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="The address to listen on (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=8050, help="The port (default 8050; 0: a free one)")
    parser.add_argument(
        "--interval", type=float, default=2.0, metavar="SECONDS", help="Seconds between reads of Redis (default 2)"
    )
    parser.add_argument(
        "--resolution", type=float, default=5.0, metavar="SECONDS", help="Seconds per chart point (default 5)"
    )
    parser.add_argument(
        "--history", type=float, default=15.0, metavar="MINUTES", help="Minutes shown in the charts (default 15)"
    )
    parser.add_argument("--title", default="pysoa_like dashboard", help="The page title")
    parser.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="A host name the page may be reached by (repeatable; default: the loopback names when --host is "
        "a loopback address, else any)",
    )
    parser.set_defaults(run=run_dashboard)


def _fleet_settings(target: Target) -> dict[str, Any]:
    transports = target.redis_transports()
    if not transports:
        raise CommandError(f"{target.describe()} names no Redis transport: the dashboard reads the registry on Redis")
    if len(transports) > 1:
        raise CommandError(
            f"the services in {target.describe()} use several Redis; name the one holding the registry with --redis-url"
        )
    return dict(transports[0])


def run_dashboard(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like dashboard``: serve the page until interrupted."""
    check_web_command("dashboard", args.port)
    if not all(math.isfinite(value) for value in (args.interval, args.resolution, args.history)):
        raise CommandError("--interval, --resolution and --history must be finite numbers")
    if args.interval <= 0 or args.resolution <= 0 or args.history * 60 < args.resolution:
        raise CommandError("--interval and --resolution must be positive, and --history at least one resolution")
    from pysoa_like._asgi import check_allowed_hosts
    from pysoa_like.dashboard import create_app
    from pysoa_like.fleet.redis import FleetRedis

    if args.allowed_host:
        try:
            check_allowed_hosts(args.allowed_host, "--allowed-host")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    target = Target.from_args(args)
    try:
        fleet = FleetRedis.from_settings(_fleet_settings(target))
    except ValueError as exc:
        raise CommandError(mask_url(str(exc))) from exc
    app = create_app(
        fleet,
        interval=args.interval,
        resolution=args.resolution,
        window=args.history * 60,
        title=args.title,
        allowed_hosts=args.allowed_host or loopback_names(args.host),
    )
    return serve_until_stopped(
        app, args.host, args.port, output, lambda url: f"Dashboard of {target.describe()} on {url} (Ctrl-C stops it)"
    )
