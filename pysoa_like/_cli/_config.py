"""``pysoa-like show-config``: the effective settings of a settings module, defaults filled in, secrets masked."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from pysoa_like._cli._common import EXIT_OK, CommandError, Output
from pysoa_like._cli._target import load_module, mask_url, settings_mapping
from pysoa_like.common.logging import censored
from pysoa_like.common.settings import SettingsError

__all__ = ["add_config_command", "effective_settings"]

_EXAMPLES = """\
examples:
  pysoa-like show-config --settings my_service.settings
  pysoa-like show-config --settings my_service.settings --server my_service.server:MyServer --json

Values under keys such as password, token or secret, and the passwords in URLs, are masked.
"""


def _plain(value: Any) -> Any:
    """Settings as JSON-friendly data: classes as ``module:name``, sets sorted, resolved ``object`` keys dropped."""
    if isinstance(value, Mapping):
        items = {str(k): v for k, v in value.items()}
        if "path" in items and "object" in items:
            del items["object"]
        return {k: _plain(v) for k, v in items.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, type):
        return f"{value.__module__}:{value.__qualname__}"
    if isinstance(value, str):
        return mask_url(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return repr(value)


def effective_settings(
    server_settings: Mapping[str, Any] | None,
    client_settings: Mapping[str, Any] | None,
    server_class: Any = None,
) -> dict[str, Any]:
    """The validated settings with their defaults, as masked plain data: ``{"server": ..., "clients": ...}``.

    Raises:
        CommandError: The settings are invalid (the message names the key).
    """
    from pysoa_like.client.settings import ClientSettings
    from pysoa_like.server.settings import ServerSettings

    result: dict[str, Any] = {}
    if server_settings is not None:
        settings_class = getattr(server_class, "settings_class", None) or ServerSettings
        try:
            validated = settings_class(server_settings)
        except SettingsError as exc:
            raise CommandError(f"the server settings are invalid: {exc}") from exc
        extra = validated.get("extra_fields_to_redact")
        result["server"] = _plain(censored(dict(validated), extra))
    if client_settings is not None:
        clients: dict[str, Any] = {}
        for name, settings in client_settings.items():
            try:
                clients[str(name)] = _plain(censored(dict(ClientSettings(settings))))
            except SettingsError as exc:
                raise CommandError(f"the client settings of {name!r} are invalid: {exc}") from exc
        result["clients"] = clients
    return result


def add_config_command(commands: Any) -> None:
    """Add ``show-config`` to the ``pysoa-like`` subcommands."""
    parser = commands.add_parser(
        "show-config",
        help="Show the effective settings (defaults filled in, secrets masked)",
        description="Validate a settings module's SOA_SERVER_SETTINGS (or settings) and SOA_CLIENT_SETTINGS and "
        "show them with every default filled in and secrets masked.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-s", "--settings", required=True, metavar="MODULE", help="The settings module")
    parser.add_argument(
        "--server", metavar="MODULE:CLASS", help="Validate with this server class's settings_class (its own keys)"
    )
    parser.add_argument("--json", action="store_true", help="One compact JSON document")
    parser.set_defaults(run=run_show_config)


def run_show_config(args: argparse.Namespace, output: Output) -> int:
    """``pysoa-like show-config``."""
    module = load_module(args.settings)
    server_settings = settings_mapping(module, "SOA_SERVER_SETTINGS", "settings")
    client_settings = settings_mapping(module, "SOA_CLIENT_SETTINGS")
    if server_settings is None and client_settings is None:
        raise CommandError(
            f"settings module {args.settings!r} defines none of SOA_SERVER_SETTINGS, settings or SOA_CLIENT_SETTINGS"
        )
    server_class = None
    if args.server:
        from pysoa_like.cli import load_server_class

        try:
            server_class = load_server_class(args.server)
        except (ImportError, AttributeError, ValueError) as exc:
            raise CommandError(f"cannot load the server class {args.server!r}: {exc}") from exc
    effective = effective_settings(server_settings, client_settings, server_class)
    output.json(effective, pretty=not args.json)
    return EXIT_OK
