"""``pysoa-like gateway``: serve the services' actions over HTTP (the ``web`` extra)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from pysoa_like._cli._common import CommandError, Output
from pysoa_like._cli._target import Target, add_target_arguments, load_module, mask_url
from pysoa_like._cli._web import check_web_command, loopback_names, serve_until_stopped

__all__ = ["add_gateway_command", "run_gateway"]

_EXAMPLES = """\
examples:
  pysoa-like gateway --settings my_app.settings --port 8080
  pysoa-like gateway --redis-url redis://127.0.0.1:6379/0 --expose calculator --expose report:sum_of_squares

Each exposed action is POST /SERVICE/ACTION with a JSON body; /docs describes them (from /openapi.json).
The settings module may hold GATEWAY_SETTINGS (a dict: expose, timeout, cors_origins, ...); the options
given here override its keys. --expose SERVICE exposes every action of SERVICE (but introspect and status),
--expose SERVICE:A,B only those.
"""


def add_gateway_command(commands: Any) -> None:
    """Add ``gateway`` to the ``pysoa-like`` subcommands."""
    parser = commands.add_parser(
        "gateway",
        help="Serve the services' actions over HTTP, with an OpenAPI document and a docs page",
        description="Serve an HTTP gateway: POST /SERVICE/ACTION calls the action with the JSON body; "
        "/openapi.json and /docs describe the exposed actions.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument(
        "-e",
        "--expose",
        action="append",
        metavar="SERVICE[:ACTION,...]",
        help="A service (all its actions) or some of its actions to expose (repeatable; replaces GATEWAY_SETTINGS' "
        "expose)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="The address to listen on (default 127.0.0.1)")
    parser.add_argument("-p", "--port", type=int, default=8080, help="The port (default 8080; 0: a free one)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="Default deadline of a call (default 10)")
    parser.add_argument("--max-timeout", type=float, metavar="SECONDS", help="Largest X-Timeout accepted (default 60)")
    parser.add_argument("--max-body-bytes", type=int, metavar="BYTES", help="Largest request body (default 1 MiB)")
    parser.add_argument(
        "--max-concurrent-calls",
        type=int,
        metavar="N",
        help="Calls in flight at once; more wait for a place within their deadline (default 64)",
    )
    parser.add_argument(
        "--max-waiting-calls",
        type=int,
        metavar="N",
        help="Calls waiting for a place at once; one more is refused with 503 at once (default 256; 0: none waits)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="An origin whose pages may call the gateway (repeatable)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="A host name the gateway may be reached by (repeatable; default: the loopback names when --host is a "
        "loopback address, else any)",
    )
    parser.add_argument("--title", help="The API's title in the OpenAPI document and the docs page")
    parser.add_argument("--no-docs", action="store_true", help="Do not serve the docs page (/openapi.json still is)")
    parser.set_defaults(run=run_gateway)


def _parse_expose(values: list[str]) -> dict[str, Any]:
    expose: dict[str, Any] = {}
    for value in values:
        service, _, actions = value.partition(":")
        if not service:
            raise CommandError(f"--expose takes SERVICE or SERVICE:ACTION,ACTION, got {value!r}")
        if not actions:
            expose[service] = "*"
            continue
        names = [name.strip() for name in actions.split(",") if name.strip()]
        current = expose.get(service)
        expose[service] = current if current == "*" else sorted({*(current or ()), *names})
    return expose


def _gateway_settings(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if target.settings_name:
        found = getattr(load_module(target.settings_name), "GATEWAY_SETTINGS", None)
        if found is not None and not isinstance(found, Mapping):
            raise CommandError(f"GATEWAY_SETTINGS in {target.settings_name} must be a dict")
        settings.update(found or {})
    if args.expose:
        settings["expose"] = _parse_expose(args.expose)
    overrides = {
        "timeout": args.timeout,
        "max_timeout": args.max_timeout,
        "max_body_bytes": args.max_body_bytes,
        "max_concurrent_calls": args.max_concurrent_calls,
        "max_waiting_calls": args.max_waiting_calls,
        "cors_origins": args.cors_origin,
        "allowed_hosts": args.allowed_host,
        "title": args.title,
    }
    settings.update({key: value for key, value in overrides.items() if value is not None})
    if args.no_docs:
        settings["docs"] = False
    if "expose" not in settings:
        raise CommandError("say what to expose: --expose SERVICE[:ACTION,...] or GATEWAY_SETTINGS['expose']")
    settings.setdefault("allowed_hosts", loopback_names(args.host))
    return settings


def run_gateway(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like gateway``: serve until interrupted."""
    check_web_command("gateway", args.port)
    from pysoa_like.common.errors import PySOAError
    from pysoa_like.gateway import GatewaySettings, create_app

    target = Target.from_args(args)
    try:
        settings = GatewaySettings.from_mapping(_gateway_settings(args, target))
    except ValueError as exc:
        raise CommandError(f"bad gateway settings: {exc}") from exc
    client_settings = {service: target.settings_for(service) for service in settings.expose}
    try:
        app = create_app(client_settings, settings)
    except (ValueError, PySOAError) as exc:
        raise CommandError(mask_url(str(exc))) from exc

    return serve_until_stopped(
        app,
        args.host,
        args.port,
        output,
        lambda url: f"Gateway to {target.describe()} on {url} (docs: {url}docs; Ctrl-C stops it)",
    )
