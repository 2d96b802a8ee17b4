"""Where a Redis connection goes and how it starts: the connection settings, the handshake and its replies.

The Redis transports take redis-py's ``connection_kwargs`` and hosts as URLs or ``(host, port)`` pairs. Both
drivers (blocking sockets and asyncio streams) open their own connections, so both read those settings here,
once, into an :class:`Endpoint`: the address (TCP or unix socket), the TLS settings (:class:`TlsSettings`, turned
into an ``ssl.SSLContext`` by the driver), the ACL user and password, the database, the RESP version, the
timeouts. :meth:`Endpoint.handshake` lists the commands a new connection sends first, and
:func:`handshake_refusal` says what Redis' replies to them mean.

Keys that only tune redis-py itself (its retries, pools, decoding) mean nothing to a connection the transport
opens and are ignored; any other key is refused, naming it, so that a setting is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import attr

from pysoa_like.core.constants import DEFAULT_REDIS_PORT
from pysoa_like.core.redis_protocol import RespError

__all__ = [
    "IGNORED_KEYS",
    "USED_KEYS",
    "Endpoint",
    "HandshakeRefusal",
    "TlsSettings",
    "endpoint_of",
    "handshake_refusal",
]

#: redis-py keys that tune redis-py itself (its retries, pools, decoding, health checks), ignored here.
IGNORED_KEYS = frozenset(
    (
        "retry",
        "retry_on_timeout",
        "retry_on_error",
        "health_check_interval",
        "decode_responses",
        "encoding",
        "encoding_errors",
        # redis-py 3's names for the two above (PySOA 1.4.9's settings files may hold them)
        "charset",
        "errors",
        "max_connections",
        "single_connection_client",
        "lib_name",
        "lib_version",
    )
)
#: The keys an :class:`Endpoint` is read from.
USED_KEYS = frozenset(
    (
        "db",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "socket_keepalive_options",
        "client_name",
        "protocol",
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
# ``ssl_cert_reqs`` given as text (redis-py also takes ``ssl.VerifyMode`` values, passed on unchanged).
_CERT_REQUIREMENTS = ("none", "optional", "required")
#: Seconds to connect and authenticate when ``socket_connect_timeout`` is not set.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
# The error codes of a refused authentication (Redis 6+; older servers answer "ERR invalid password").
_AUTHENTICATION_CODES = ("WRONGPASS", "NOAUTH", "NOPERM")


@attr.s(frozen=True, slots=True)
class TlsSettings:
    """How a connection is encrypted and the server (and the client) verified: redis-py's ``ssl_*`` keys.

    The host name is checked unless ``ssl_check_hostname`` is false or certificates are not verified
    (``ssl_cert_reqs="none"``): the secure default, and redis-py's since its release 6.

    Args:
        cert_reqs: ``"none"``, ``"optional"`` or ``"required"`` (or an ``ssl.VerifyMode`` value).
        ca_certs: The CA certificates file.
        ca_path: A directory of CA certificates.
        ca_data: CA certificates as PEM text (or DER bytes).
        certfile: The client certificate (for servers that authenticate clients).
        keyfile: Its private key.
        key_password: The private key's password.
        check_hostname: Whether the certificate must name the host connected to.
        min_version: The oldest TLS version accepted (an ``ssl.TLSVersion``), or None for Python's default.
        ciphers: An OpenSSL cipher list, or None.
    """

    cert_reqs: Any = attr.ib(default="required")
    ca_certs: str | None = attr.ib(default=None)
    ca_path: str | None = attr.ib(default=None)
    ca_data: str | bytes | None = attr.ib(default=None)
    certfile: str | None = attr.ib(default=None)
    keyfile: str | None = attr.ib(default=None)
    key_password: str | None = attr.ib(default=None, repr=False)
    check_hostname: bool = attr.ib(default=True)
    min_version: Any = attr.ib(default=None)
    ciphers: str | None = attr.ib(default=None)

    @property
    def verifies(self) -> bool:
        """Whether the server's certificate is checked at all (``cert_reqs`` is not ``"none"``)."""
        return not (self.cert_reqs == "none" or (not isinstance(self.cert_reqs, str) and int(self.cert_reqs) == 0))


@attr.s(frozen=True, slots=True)
class Endpoint:
    """One Redis server as a driver reaches it.

    Args:
        host: The host name or address (TCP), or ``None`` for a unix socket.
        port: The TCP port.
        path: The unix socket path, or ``None``.
        tls: How the connection is encrypted, or ``None`` for plain TCP.
        username: The ACL user (``AUTH username password``), or ``None``.
        password: The password, or ``None``.
        db: The database number (``SELECT``; 0 is not selected).
        connect_timeout: Seconds to connect and authenticate.
        socket_timeout: The longest wait for a reply to a command that does not block (``None``: the caller's).
        client_name: ``CLIENT SETNAME``, or ``None``.
        protocol: The RESP version (3 sends ``HELLO 3``).
        keepalive: Whether TCP keepalive is on.
        keepalive_options: TCP keepalive options, ``(option, value)`` pairs (``socket_keepalive_options``).
    """

    host: str | None = attr.ib()
    port: int | None = attr.ib()
    path: str | None = attr.ib(default=None)
    tls: TlsSettings | None = attr.ib(default=None)
    username: str | None = attr.ib(default=None)
    password: str | None = attr.ib(default=None, repr=False)
    db: int = attr.ib(default=0)
    connect_timeout: float = attr.ib(default=DEFAULT_CONNECT_TIMEOUT_SECONDS)
    socket_timeout: float | None = attr.ib(default=None)
    client_name: str | None = attr.ib(default=None)
    protocol: int = attr.ib(default=2)
    keepalive: bool = attr.ib(default=False)
    keepalive_options: tuple[tuple[int, int], ...] = attr.ib(default=())

    def __str__(self) -> str:
        return f"unix://{self.path}" if self.path else f"{self.host}:{self.port}"

    def handshake(self) -> list[tuple[Any, ...]]:
        """The commands a new connection sends first: authentication, RESP version, database, name.

        ``AUTH`` goes only with a user or a non-empty password (an empty one means none, as in redis-py: Redis
        without a password refuses any ``AUTH``).
        """
        commands: list[tuple[Any, ...]] = []
        if self.username:
            commands.append(("AUTH", self.username, self.password or ""))
        elif self.password:
            commands.append(("AUTH", self.password))
        if self.protocol == 3:
            commands.append(("HELLO", 3))
        if self.db:
            commands.append(("SELECT", self.db))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        return commands


@attr.s(frozen=True, slots=True)
class HandshakeRefusal:
    """Redis refused a command of the handshake: the connection cannot be used.

    Args:
        command: The refused command's name (``AUTH``, ``SELECT``, ...).
        text: Redis' error text.
        authentication: Whether the credentials were refused (retrying with the same ones cannot help).
    """

    command: str = attr.ib()
    text: str = attr.ib()
    authentication: bool = attr.ib()

    def __str__(self) -> str:
        return f"Redis refused the handshake ({self.command}): {self.text}"


def handshake_refusal(commands: Sequence[tuple[Any, ...]], replies: Sequence[Any]) -> HandshakeRefusal | None:
    """The first refused command of a handshake, or ``None`` when Redis accepted them all.

    Args:
        commands: The handshake (:meth:`Endpoint.handshake`).
        replies: Redis' replies to them, in order, error replies as :class:`~pysoa_like.core.redis_protocol.RespError`.
    """
    for command, reply in zip(commands, replies, strict=False):
        if type(reply) is RespError:
            name = str(command[0])
            code = reply.text.split(" ", 1)[0]
            return HandshakeRefusal(name, reply.text, name == "AUTH" or code in _AUTHENTICATION_CODES)
    return None


def _tls_settings(kwargs: Mapping[str, Any]) -> TlsSettings:
    requirement = kwargs.get("ssl_cert_reqs", "required")
    if requirement is None:
        requirement = "none"  # redis-py's meaning of None
    if isinstance(requirement, str):
        requirement = requirement.lower()
        if requirement not in _CERT_REQUIREMENTS:
            raise ValueError(f"ssl_cert_reqs must be none, optional or required, got {requirement!r}")
    check_hostname = kwargs.get("ssl_check_hostname")
    return TlsSettings(
        cert_reqs=requirement,
        ca_certs=kwargs.get("ssl_ca_certs"),
        ca_path=kwargs.get("ssl_ca_path"),
        ca_data=kwargs.get("ssl_ca_data"),
        certfile=kwargs.get("ssl_certfile"),
        keyfile=kwargs.get("ssl_keyfile"),
        key_password=kwargs.get("ssl_password"),
        check_hostname=True if check_hostname is None else bool(check_hostname),
        min_version=kwargs.get("ssl_min_version"),
        ciphers=kwargs.get("ssl_ciphers"),
    )


def _flag(text: str) -> bool:
    return text.strip().lower() not in ("", "0", "false", "f", "no", "n", "off")


# How the values of a URL's query are read (any other key of USED_KEYS is text).
_URL_VALUES: dict[str, Any] = {
    "db": int,
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "socket_keepalive": _flag,
    "ssl_check_hostname": _flag,
    "protocol": int,
    "ssl_min_version": int,
}


def _from_url(url: str, kwargs: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """Read a ``redis://``, ``rediss://`` or ``unix://`` URL into ``kwargs`` (the URL's values win, as in redis-py)."""
    parsed = urlparse(url)
    for key, values in parse_qs(parsed.query).items():
        if key not in USED_KEYS and key not in IGNORED_KEYS:
            raise ValueError(f"{key} in a Redis URL: not supported by the Redis transports")
        try:
            kwargs[key] = _URL_VALUES.get(key, str)(values[-1])
        except ValueError:
            raise ValueError(f"Invalid value for {key} in a Redis URL: {values[-1]!r}") from None
    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)
    if parsed.scheme == "unix":
        return None, None, unquote(parsed.path)
    if parsed.path and parsed.path != "/":
        database = parsed.path.lstrip("/")
        if not database.isdigit():
            raise ValueError(f"the database in a Redis URL must be a whole number, got {database!r}")
        kwargs["db"] = int(database)
    if parsed.scheme == "rediss":
        kwargs["ssl"] = True
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(
            f"the port in a Redis URL must be between 1 and 65535: {parsed.netloc.rpartition('@')[2]!r}"
        ) from None
    return parsed.hostname or "localhost", port or DEFAULT_REDIS_PORT, None


def endpoint_of(address: str | tuple[str, int], connection_kwargs: Mapping[str, Any]) -> Endpoint:
    """The endpoint of one Redis server: a URL or a ``(host, port)`` pair, and redis-py's ``connection_kwargs``.

    Raises:
        ValueError: A key no driver honours, or a bad value; the message names it.
    """
    unknown = sorted(set(connection_kwargs) - USED_KEYS - IGNORED_KEYS)
    if unknown:
        raise ValueError(
            f"connection_kwargs {', '.join(unknown)}: not supported by the Redis transports (they support "
            f"{', '.join(sorted(USED_KEYS))}, and ignore redis-py's own tuning keys)"
        )
    kwargs = dict(connection_kwargs)
    path = None
    if isinstance(address, str):
        host, port, path = _from_url(address, kwargs)
    else:
        host, port = address
    protocol = int(kwargs.get("protocol") or 2)
    if protocol not in (2, 3):
        raise ValueError(f"protocol must be 2 or 3, got {protocol}")
    socket_timeout = kwargs.get("socket_timeout")
    keepalive_options = kwargs.get("socket_keepalive_options") or {}
    if not isinstance(keepalive_options, Mapping):
        raise ValueError(
            "socket_keepalive_options must be a dict of TCP keepalive options ({socket.TCP_KEEPIDLE: 60, ...}), got "
            f"{type(keepalive_options).__name__} {keepalive_options!r}"
        )
    return Endpoint(
        host=host,
        port=port,
        path=path,
        tls=_tls_settings(kwargs) if kwargs.get("ssl") and path is None else None,
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        db=int(kwargs.get("db") or 0),
        connect_timeout=float(kwargs.get("socket_connect_timeout") or DEFAULT_CONNECT_TIMEOUT_SECONDS),
        socket_timeout=None if socket_timeout is None else float(socket_timeout),
        client_name=kwargs.get("client_name"),
        protocol=protocol,
        keepalive=bool(kwargs.get("socket_keepalive")) and path is None,
        keepalive_options=tuple(keepalive_options.items()),
    )
