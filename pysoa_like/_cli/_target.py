"""Where the commands find services: ``--redis-url`` or a ``--settings`` module.

A settings module may define ``SOA_CLIENT_SETTINGS`` (service name -> client settings, as given to
``Client``), ``SOA_SERVER_SETTINGS`` (or ``settings``: a server settings dict, as for ``serve``), or
both. A service named in ``SOA_CLIENT_SETTINGS`` or in the server settings' ``client_routing`` uses
that entry; without ``SOA_CLIENT_SETTINGS``, any other service is reached over the server's own Redis
transport. ``--redis-url`` (or the environment
variable ``PYSOA_LIKE_REDIS_URL``) reaches every service over that one Redis.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pysoa_like._cli._common import CommandError

__all__ = [
    "REDIS_URL_ENV",
    "SETTINGS_ENV",
    "Target",
    "add_target_arguments",
    "load_module",
    "mask_url",
    "redis_transport_of",
    "settings_mapping",
]

REDIS_URL_ENV = "PYSOA_LIKE_REDIS_URL"
SETTINGS_ENV = "PYSOA_LIKE_SETTINGS"

_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
_STOCK_SERVER_TRANSPORT_CLASS = "RedisServerTransport"
# The server transport's settings that a client transport takes as they are.
_SHARED_TRANSPORT_KWARGS = ("backend_type", "backend_layer_kwargs", "default_serializer_config", "protocol_version")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?P<tail>@)", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it (``redis://user:password@host``) masked."""
    return _URL_PASSWORD.sub(r"\g<head>**********\g<tail>", text)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--settings`` and ``--redis-url`` to a command's parser."""
    group = parser.add_argument_group("where the services are")
    group.add_argument(
        "-s",
        "--settings",
        metavar="MODULE",
        help=f"A settings module with SOA_CLIENT_SETTINGS or SOA_SERVER_SETTINGS (env {SETTINGS_ENV})",
    )
    group.add_argument(
        "-r",
        "--redis-url",
        metavar="URL",
        help=f"Reach every service over this Redis, e.g. redis://127.0.0.1:6379/0 (env {REDIS_URL_ENV})",
    )


def load_module(name: str) -> ModuleType:
    """Import a settings (or server) module by dotted name, with the current directory on the path.

    Raises:
        CommandError: The module cannot be imported (the cause is in the message).
    """
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise CommandError(f"cannot import settings module {name!r}: {type(exc).__name__}: {exc}") from exc


def settings_mapping(module: ModuleType, *names: str) -> Mapping[str, Any] | None:
    """The first of ``names`` that the settings module defines as a dict (``None``: none of them).

    Raises:
        CommandError: A ``SOA_...`` name holds something other than a dict (its settings were ignored).
    """
    from pysoa_like.server._main import module_settings

    try:
        return module_settings(module, *names)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _check_redis_url(url: str) -> None:
    """Refuse a Redis URL the transports cannot use, before any command builds a client of it.

    Raises:
        CommandError: The scheme is not redis://, rediss:// or unix://, or the port or database is wrong.
    """
    from pysoa_like.common.transport.redis_gateway.backend.base import normalize_host
    from pysoa_like.core.endpoint import endpoint_of

    try:
        endpoint_of(normalize_host(url, 6379), {})
    except ValueError as exc:
        raise CommandError(f"the Redis URL {mask_url(url)!r} cannot be used: {mask_url(str(exc))}") from exc


def _redis_client_settings(url: str) -> dict[str, Any]:
    kwargs = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [url]}}
    return {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": kwargs}}


class Target:
    """The services one command talks to.

    Args:
        redis_url: Reach every service over this Redis.
        settings: The name of a settings module.

    Raises:
        CommandError: Neither was given, or the module defines no settings.
    """

    def __init__(self, redis_url: str | None, settings: str | None) -> None:
        self.redis_url = redis_url
        self.settings_name = settings
        self.client_settings: Mapping[str, Any] | None = None
        self.server_settings: Mapping[str, Any] | None = None
        if redis_url:
            _check_redis_url(redis_url)
            return
        if not settings:
            raise CommandError(
                "say where the services are: --redis-url redis://HOST:6379/0 or --settings MODULE "
                f"(or set {REDIS_URL_ENV} or {SETTINGS_ENV})"
            )
        module = load_module(settings)
        self.client_settings = settings_mapping(module, "SOA_CLIENT_SETTINGS")
        self.server_settings = settings_mapping(module, "SOA_SERVER_SETTINGS", "settings")
        if self.client_settings is None and self.server_settings is None:
            raise CommandError(
                f"settings module {settings!r} defines none of SOA_CLIENT_SETTINGS, SOA_SERVER_SETTINGS or settings"
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Target:
        """The target named by ``--redis-url`` / ``--settings``, else by their environment variables.

        An option given on the command line wins over both environment variables.
        """
        if args.redis_url or args.settings:
            return cls(args.redis_url, args.settings)
        return cls(os.environ.get(REDIS_URL_ENV) or None, os.environ.get(SETTINGS_ENV) or None)

    def describe(self) -> str:
        """Where the services are, for messages (passwords masked)."""
        if self.redis_url:
            return f"Redis at {mask_url(self.redis_url)}"
        return f"the settings in {self.settings_name}"

    def known_services(self) -> list[str]:
        """The services the settings name (none for ``--redis-url``)."""
        names: set[str] = set()
        if self.client_settings:
            names.update(self.client_settings)
        if self.server_settings:
            names.update(self.server_settings.get("client_routing") or {})
        return sorted(names)

    def _server_transport_client_settings(self) -> dict[str, Any] | None:
        """Client settings over the server settings' own Redis transport, if it is the stock one."""
        transport = (self.server_settings or {}).get("transport") or {"path": _SERVER_TRANSPORT}
        path = str(transport.get("path", ""))
        if not path.replace(":", ".").endswith("." + _STOCK_SERVER_TRANSPORT_CLASS):
            return None
        kwargs = transport.get("kwargs") or {}
        shared = {key: kwargs[key] for key in _SHARED_TRANSPORT_KWARGS if key in kwargs}
        return {"transport": {"path": _CLIENT_TRANSPORT, "kwargs": shared}}

    def settings_for(self, service: str) -> Mapping[str, Any]:
        """The client settings of ``service``.

        Raises:
            CommandError: The settings cannot reach that service.
        """
        if self.redis_url:
            return _redis_client_settings(self.redis_url)
        if self.client_settings is not None and service in self.client_settings:
            return self.client_settings[service]  # type: ignore[no-any-return]
        routing = (self.server_settings or {}).get("client_routing") or {}
        if service in routing:
            return routing[service]  # type: ignore[no-any-return]
        if self.client_settings is None and self.server_settings is not None:
            derived = self._server_transport_client_settings()
            if derived is not None:
                return derived
        known = ", ".join(self.known_services()) or "none"
        raise CommandError(
            f"service {service!r} is not in {self.settings_name} (known services: {known}); "
            "add it to SOA_CLIENT_SETTINGS or use --redis-url"
        )

    def redis_transports(self) -> list[Mapping[str, Any]]:
        """The distinct Redis transport kwargs (``backend_type``, ``backend_layer_kwargs``) the target uses."""
        candidates: list[Mapping[str, Any]] = []
        if self.redis_url:
            candidates.append(_redis_client_settings(self.redis_url))
        else:
            candidates.extend((self.client_settings or {}).values())
            candidates.extend(((self.server_settings or {}).get("client_routing") or {}).values())
            if self.client_settings is None and self.server_settings is not None:
                derived = self._server_transport_client_settings()
                if derived is not None:
                    candidates.append(derived)
        found: list[Mapping[str, Any]] = []
        for settings in candidates:
            key = redis_transport_of(settings)
            if key is not None and key not in found:
                found.append(key)
        return found


def redis_transport_of(settings: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Redis transport kwargs (``backend_type``, ``backend_layer_kwargs``) of one service's client settings, as
    :meth:`Target.redis_transports` lists them (``None``: its transport is not the Redis one)."""
    transport = settings.get("transport") or {"path": _CLIENT_TRANSPORT}
    if not str(transport.get("path", "")).replace(":", ".").endswith(".RedisClientTransport"):
        return None
    kwargs = transport.get("kwargs") or {}
    return {
        "backend_type": kwargs.get("backend_type", "redis.standard"),
        "backend_layer_kwargs": kwargs.get("backend_layer_kwargs") or {},
    }
