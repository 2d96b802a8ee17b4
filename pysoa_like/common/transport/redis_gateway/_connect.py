"""Opening connections to an endpoint: the TLS context and TCP options of both drivers, the blocking socket.

Where and how to connect is read by the core (:func:`pysoa_like.core.endpoint.endpoint_of`), and so are the
handshake commands and what their replies mean; this module does the I/O. :class:`SocketConnection` is the
blocking driver's connection: a socket the transport opens and owns (TCP, unix or TLS), on which the handshake
is written and read with the core's RESP encoder and parser, so redis-py's connection classes and their private
parts are not involved at all.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import redis

from pysoa_like.core.endpoint import Endpoint, TlsSettings, handshake_refusal
from pysoa_like.core.redis_protocol import NEED_DATA, RespParser, RespProtocolError, pack_commands

__all__ = ["SocketConnection", "keep_alive", "tls_context"]

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


@functools.lru_cache(maxsize=64)
def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """The ``ssl.SSLContext`` of ``settings``, made once per distinct settings (a CA file is read once).

    Certificates are verified and the host name checked unless the settings say not.

    Raises:
        ssl.SSLError, OSError: A certificate or key file cannot be read.
    """
    requirement = settings.cert_reqs
    verify_mode = _CERT_REQS[requirement] if isinstance(requirement, str) else ssl.VerifyMode(requirement)
    context = ssl.create_default_context(cafile=settings.ca_certs, capath=settings.ca_path, cadata=settings.ca_data)
    # check_hostname first: it must be off before verification can be.
    context.check_hostname = settings.check_hostname and verify_mode != ssl.CERT_NONE
    context.verify_mode = verify_mode
    if settings.certfile:
        context.load_cert_chain(settings.certfile, settings.keyfile, settings.key_password)
    if settings.min_version is not None:
        context.minimum_version = ssl.TLSVersion(settings.min_version)
    if settings.ciphers:
        context.set_ciphers(settings.ciphers)
    return context


def keep_alive(sock: socket.socket | None, options: Sequence[tuple[int, int]]) -> None:
    """Turn TCP keepalive on, with its options (``socket_keepalive_options``: ``(option, value)`` pairs)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in options:
        sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer, or never connected
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _open_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    if endpoint.path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(endpoint.path)
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((endpoint.host or "localhost", endpoint.port or 6379), timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if endpoint.keepalive:
            keep_alive(sock, endpoint.keepalive_options)
        if endpoint.tls is not None:
            return tls_context(endpoint.tls).wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException:
        _close(sock)
        raise
    return sock


class SocketConnection:
    """The blocking driver's connection to one endpoint: a socket opened, authenticated and closed here (the lane
    writes on it and reads from it: ``_lanes.Lane``).

    Args:
        endpoint: Where to connect and how.

    Attributes:
        sock: The open socket, or None when not connected.
    """

    __slots__ = ("endpoint", "sock")

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.sock: socket.socket | None = None

    def __del__(self) -> None:
        # A lane dropped without close() (its thread ended): its socket goes with it, quietly.
        sock = self.sock
        if sock is not None:
            self.sock = None
            sock.close()

    def connect(self, budget: float) -> None:
        """Connect and run the handshake, all within ``budget`` seconds (and the connect timeout to connect).

        Raises:
            redis.AuthenticationError: Redis refused the credentials.
            redis.TimeoutError: Connecting or the handshake timed out.
            redis.ConnectionError: Connecting failed, or Redis refused another command of the handshake.
        """
        self.disconnect()
        endpoint = self.endpoint
        try:
            sock = _open_socket(endpoint, min(endpoint.connect_timeout, budget))
        except TimeoutError as exc:
            raise redis.TimeoutError(f"Timeout connecting to {endpoint}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"Error {exc.errno} connecting to {endpoint}. {exc.strerror or exc}.") from exc
        try:
            sock.settimeout(budget)
            self._handshake(sock)
        except BaseException:
            _close(sock)
            raise
        self.sock = sock

    def _handshake(self, sock: socket.socket) -> None:
        commands = self.endpoint.handshake()
        if not commands:
            return
        try:
            for buffer in pack_commands(commands):
                sock.sendall(buffer)
            parser = RespParser()
            replies: list[Any] = []
            while len(replies) < len(commands):
                reply = parser.next_reply()
                if reply is NEED_DATA:
                    received = sock.recv_into(parser.recv_buffer())
                    if not received:
                        raise redis.ConnectionError(f"{self.endpoint} closed the connection during the handshake")
                    parser.received(received)
                else:
                    replies.append(reply)
        except TimeoutError as exc:
            raise redis.TimeoutError(f"Timeout in the handshake with {self.endpoint}") from exc
        except (OSError, RespProtocolError) as exc:
            raise redis.ConnectionError(f"Error in the handshake with {self.endpoint}: {exc}") from exc
        refusal = handshake_refusal(commands, replies)
        if refusal is not None:
            error_class = redis.AuthenticationError if refusal.authentication else redis.ConnectionError
            raise error_class(f"{refusal} ({self.endpoint})")

    def disconnect(self) -> None:
        """Close the socket (nothing happens when it is not open)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            _close(sock)
