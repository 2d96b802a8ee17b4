"""Where the asyncio driver connects, and how: one Redis endpoint from the transport's settings.

The Redis transports take redis-py's ``connection_kwargs`` and hosts as URLs or ``(host, port)`` pairs; the
asyncio driver opens its own streams, so it reads the same settings into an :class:`Endpoint`: the address
(TCP or unix socket), TLS (an ``ssl.SSLContext`` built from the ``ssl_*`` keys, as redis-py builds it), the
ACL user and password, the database, and the timeouts. Keys that only tune redis-py (retries, pools,
decoding) mean nothing here and are ignored; any other key is refused, naming it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import attr

from pysoa_like.common.transport.redis_gateway.backend.base import HostAddress

__all__ = ["Endpoint", "endpoint_of"]

# redis-py keys that tune redis-py itself (its retries, pools, decoding, health checks): nothing to do here.
_IGNORED_KEYS = frozenset(
    (
        "retry",
        "retry_on_timeout",
        "retry_on_error",
        "health_check_interval",
        "decode_responses",
        "encoding",
        "encoding_errors",
        "max_connections",
        "single_connection_client",
        "socket_keepalive",
        "socket_keepalive_options",
        "protocol",
        "lib_name",
        "lib_version",
    )
)
_USED_KEYS = frozenset(
    (
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "client_name",
        "ssl",
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_password",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_ca_data",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
    )
)
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0


@attr.s(frozen=True, slots=True)
class Endpoint:
    """One Redis server as the asyncio driver reaches it.

    Args:
        host: The host name or address (TCP), or ``None`` for a unix socket.
        port: The TCP port.
        path: The unix socket path, or ``None``.
        tls: The TLS context, or ``None`` for plain TCP.
        username: The ACL user (``AUTH username password``), or ``None``.
        password: The password, or ``None``.
        db: The database number (``SELECT``; 0 is not selected).
        connect_timeout: Seconds to connect and authenticate.
        socket_timeout: The longest wait for a reply to a command that does not block (``None``: the caller's).
        client_name: ``CLIENT SETNAME``, or ``None``.
    """

    host: str | None = attr.ib()
    port: int | None = attr.ib()
    path: str | None = attr.ib(default=None)
    tls: ssl.SSLContext | None = attr.ib(default=None, eq=False)
    username: str | None = attr.ib(default=None)
    password: str | None = attr.ib(default=None, repr=False)
    db: int = attr.ib(default=0)
    connect_timeout: float = attr.ib(default=_DEFAULT_CONNECT_TIMEOUT_SECONDS)
    socket_timeout: float | None = attr.ib(default=None)
    client_name: str | None = attr.ib(default=None)

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"{self.host}:{self.port}"

    def handshake(self) -> list[tuple[Any, ...]]:
        """The commands a new connection sends first (authentication, database, name)."""
        commands: list[tuple[Any, ...]] = []
        if self.password is not None:
            commands.append(("AUTH", self.username, self.password) if self.username else ("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        return commands


def _tls_context(kwargs: Mapping[str, Any]) -> ssl.SSLContext:
    """An SSL context from redis-py's ``ssl_*`` keys (certificates required unless ``ssl_cert_reqs`` says not)."""
    requirement = kwargs.get("ssl_cert_reqs", "required")
    if isinstance(requirement, str):
        try:
            requirement = _CERT_REQS[requirement.lower()]
        except KeyError:
            raise ValueError(f"ssl_cert_reqs must be none, optional or required, got {requirement!r}") from None
    context = ssl.create_default_context(
        cafile=kwargs.get("ssl_ca_certs"), capath=kwargs.get("ssl_ca_path"), cadata=kwargs.get("ssl_ca_data")
    )
    context.check_hostname = bool(kwargs.get("ssl_check_hostname", False)) and requirement != ssl.CERT_NONE
    context.verify_mode = requirement
    if kwargs.get("ssl_certfile"):
        context.load_cert_chain(kwargs["ssl_certfile"], kwargs.get("ssl_keyfile"), kwargs.get("ssl_password"))
    if kwargs.get("ssl_min_version") is not None:
        context.minimum_version = kwargs["ssl_min_version"]
    if kwargs.get("ssl_ciphers"):
        context.set_ciphers(kwargs["ssl_ciphers"])
    return context


def _from_url(url: str, kwargs: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """Read a ``redis://``, ``rediss://`` or ``unix://`` URL into ``kwargs`` (the URL's values win, as in redis-py)."""
    parsed = urlparse(url)
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)
    if "db" in query:
        kwargs["db"] = int(query["db"])
    if parsed.scheme == "unix":
        return None, None, unquote(parsed.path)
    if parsed.path and parsed.path != "/":
        kwargs["db"] = int(parsed.path.lstrip("/"))
    if parsed.scheme == "rediss":
        kwargs["ssl"] = True
    return parsed.hostname or "localhost", parsed.port or 6379, None


def endpoint_of(address: HostAddress, connection_kwargs: Mapping[str, Any]) -> Endpoint:
    """The endpoint of one host of the ring (or one Sentinel), with the merged ``connection_kwargs``.

    Raises:
        ValueError: A key the asyncio driver cannot honour, or a bad TLS setting; the message names it.
    """
    unknown = sorted(set(connection_kwargs) - _USED_KEYS - _IGNORED_KEYS)
    if unknown:
        raise ValueError(
            f"connection_kwargs {', '.join(unknown)}: not supported by the asyncio Redis driver (it supports "
            f"{', '.join(sorted(_USED_KEYS))}, and ignores redis-py's own tuning keys)"
        )
    kwargs = dict(connection_kwargs)
    path = None
    if isinstance(address, str):
        host, port, path = _from_url(address, kwargs)
    else:
        host, port = address
    tls = _tls_context(kwargs) if kwargs.get("ssl") and path is None else None
    return Endpoint(
        host=host,
        port=port,
        path=path,
        tls=tls,
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        db=int(kwargs.get("db") or 0),
        connect_timeout=float(kwargs.get("socket_connect_timeout") or _DEFAULT_CONNECT_TIMEOUT_SECONDS),
        socket_timeout=kwargs.get("socket_timeout"),
        client_name=kwargs.get("client_name"),
    )
