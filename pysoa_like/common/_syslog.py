"""``SyslogHandler``: syslog records that fit the path, truncated or fragmented (re-exported by ``common.logging``).

A UDP datagram larger than the path MTU is fragmented by IP or dropped, and syslog servers drop
what they cannot reassemble; the standard handler sends it anyway. This one learns the path MTU to
the syslog host once per host (from the kernel's route, sending nothing) and keeps each datagram
within it. Every datagram is complete on its own: the ``<priority>``, the log tag (``ident``), the
record's preamble (everything the format puts before the message: time, level, ids) and the
trailing NUL are repeated on each fragment, so a syslog server files fragments like any record.
"""

from __future__ import annotations

import logging
import logging.handlers
import socket
import sys
import threading
from typing import Any, ClassVar

__all__ = ["SyslogHandler", "discover_path_mtu"]

# The smallest datagram every IPv4 host must accept (RFC 791): the answer when the MTU is unknown.
WORST_CASE_MTU = 576
# IP plus UDP headers, which the MTU includes: 20 + 8 for IPv4, 40 + 8 for IPv6.
_HEADERS = {socket.AF_INET: 28, socket.AF_INET6: 48}
# Linux's socket options reading a connected socket's path MTU (Python does not name them).
_MTU_OPTIONS = {socket.AF_INET: (socket.IPPROTO_IP, 14), socket.AF_INET6: (socket.IPPROTO_IPV6, 24)}
# What a stream or UNIX socket record may hold: a record this big is a bug, not a log line.
_STREAM_MAXIMUM_LENGTH = 1024 * 1024
_CONTINUED = b"... (cont'd)"
_LONGEST_MARKER = b"(cont'd #99999) ..."


def discover_path_mtu(host: str, port: int) -> tuple[int, int]:
    """``(path MTU, IP+UDP header bytes)`` towards ``host``, read from the kernel's route without sending.

    Returns ``(576, 28)`` (the size every IPv4 host accepts) when the platform cannot tell.
    """
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        if not sys.platform.startswith("linux") or family not in _MTU_OPTIONS:
            return WORST_CASE_MTU, _HEADERS[socket.AF_INET]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(address)  # a UDP connect only picks the route
            level, option = _MTU_OPTIONS[family]
            return probe.getsockopt(level, option), _HEADERS[family]
    except (OSError, IndexError):
        return WORST_CASE_MTU, _HEADERS[socket.AF_INET]


def _cut(data: bytes, limit: int) -> tuple[bytes, bytes]:
    """``data`` split at most ``limit`` bytes in, never inside a UTF-8 character."""
    if len(data) <= limit:
        return data, b""
    end = max(limit, 0)
    while end > 0 and data[end] & 0xC0 == 0x80:  # a continuation byte: the character started earlier
        end -= 1
    return data[:end], data[end:]


class SyslogHandler(logging.handlers.SysLogHandler):
    """A syslog handler whose datagrams fit the path to the syslog host, truncating or fragmenting long records.

    Over UDP, ``maximum_length`` is the path MTU to the host (learned once per host) less the
    IP and UDP headers; over TCP or a UNIX socket it is 1 MiB and long records are truncated. Each
    datagram is ``<priority>`` + ``ident`` + text + NUL (when ``append_nul``). A record too long is
    cut (``OVERFLOW_BEHAVIOR_TRUNCATE``) or sent as fragments (``OVERFLOW_BEHAVIOR_FRAGMENT``, the
    default over UDP), each repeating the record's preamble, the later ones marked ``(cont'd #n)``
    and all but the last ending ``... (cont'd)``. Cuts never split a UTF-8 character.

    Args:
        address: ``(host, port)`` or a UNIX socket path, as for :class:`logging.handlers.SysLogHandler`.
        facility: The syslog facility.
        socket_type: ``socket.SOCK_DGRAM`` (default) or ``socket.SOCK_STREAM``.
        overflow: ``OVERFLOW_BEHAVIOR_FRAGMENT`` (default) or ``OVERFLOW_BEHAVIOR_TRUNCATE``.
        maximum_length: The largest datagram in bytes, instead of the discovered one.

    Raises:
        ValueError: ``overflow`` is unknown, or ``maximum_length`` is under 128.
    """

    OVERFLOW_BEHAVIOR_FRAGMENT = 0
    OVERFLOW_BEHAVIOR_TRUNCATE = 1

    # Host -> maximum datagram length, shared by every handler of the process.
    _MINIMUM_MTU_CACHE: ClassVar[dict[str, int]] = {}
    _cache_lock = threading.Lock()

    def __init__(
        self,
        address: tuple[str, int] | str = ("localhost", logging.handlers.SYSLOG_UDP_PORT),
        facility: int = logging.handlers.SysLogHandler.LOG_USER,
        socket_type: socket.SocketKind | None = None,
        overflow: int = OVERFLOW_BEHAVIOR_FRAGMENT,
        maximum_length: int | None = None,
    ) -> None:
        super().__init__(address, facility, socket_type if socket_type is not None else socket.SOCK_DGRAM)
        if overflow not in (self.OVERFLOW_BEHAVIOR_FRAGMENT, self.OVERFLOW_BEHAVIOR_TRUNCATE):
            raise ValueError(
                f"overflow must be OVERFLOW_BEHAVIOR_FRAGMENT or OVERFLOW_BEHAVIOR_TRUNCATE, not {overflow}"
            )
        if maximum_length is not None and maximum_length < 128:
            raise ValueError("maximum_length must be at least 128 bytes")
        self.overflow = overflow
        udp = not self.unixsocket and self.socktype == socket.SOCK_DGRAM
        if not udp:
            self.overflow = self.OVERFLOW_BEHAVIOR_TRUNCATE
        if maximum_length is None:
            maximum_length = self._udp_maximum_length(address) if udp else _STREAM_MAXIMUM_LENGTH
        self.maximum_length = maximum_length

    @classmethod
    def _udp_maximum_length(cls, address: Any) -> int:
        host, port = address
        with cls._cache_lock:
            if host not in cls._MINIMUM_MTU_CACHE:
                mtu, headers = discover_path_mtu(host, port)
                cls._MINIMUM_MTU_CACHE[host] = mtu - headers
            return cls._MINIMUM_MTU_CACHE[host]

    def split_message(self, priority: bytes, preamble: bytes, message: bytes) -> list[bytes]:
        """The datagrams to send for one record.

        Args:
            priority: The ``<N>`` prefix.
            preamble: The formatted text before the record's message (repeated on every fragment).
            message: The rest of the formatted record.

        Returns:
            One datagram, or several when fragmenting.
        """
        prefix = priority + self._ident_bytes()
        suffix = b"\000" if self.append_nul else b""
        room = self.maximum_length - len(prefix) - len(suffix)
        if len(preamble) + len(message) <= room:
            return [prefix + preamble + message + suffix]
        if self.overflow == self.OVERFLOW_BEHAVIOR_TRUNCATE:
            return [prefix + _cut(preamble + message, room)[0] + suffix]
        if len(preamble) > room // 2:  # a preamble that leaves no room for text is not repeated
            preamble, message = b"", preamble + message
        if room - len(preamble) - len(_LONGEST_MARKER) - len(_CONTINUED) < 16:
            return [prefix + _cut(preamble + message, room)[0] + suffix]  # no room to fragment: truncate
        parts: list[bytes] = []
        rest = message
        while rest:
            marker = f"(cont'd #{len(parts) + 1}) ...".encode() if parts else b""
            space = room - len(preamble) - len(marker)
            chunk, rest = _cut(rest, space)
            if rest:
                chunk, tail = _cut(chunk, space - len(_CONTINUED))
                rest = tail + rest
            parts.append(prefix + preamble + marker + chunk + (_CONTINUED if rest else b"") + suffix)
        return parts

    def _ident_bytes(self) -> bytes:
        ident: Any = self.ident
        return ident.encode("utf-8") if isinstance(ident, str) else bytes(ident or b"")

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record and send it as one or more datagrams (errors go to ``handleError``)."""
        try:
            text = self.format(record)
            message = record.getMessage()
            start = text.find(message[:40]) if message else -1
            preamble, body = (text[:start], text[start:]) if start > 0 else ("", text)
            priority = f"<{self.encodePriority(self.facility, self.mapPriority(record.levelname))}>".encode()
            for datagram in self.split_message(priority, preamble.encode("utf-8"), body.encode("utf-8")):
                self._send(datagram)
        except Exception:
            self.handleError(record)

    def _send(self, datagram: bytes) -> None:
        # typeshed does not declare SysLogHandler's socket attributes, although the stdlib sets them.
        sock: socket.socket = self.socket  # type: ignore[attr-defined]
        if self.unixsocket:
            try:
                sock.send(datagram)
            except OSError:
                sock.close()
                self._connect_unixsocket(self.address)  # type: ignore[attr-defined]
                self.socket.send(datagram)  # type: ignore[attr-defined]
        elif self.socktype == socket.SOCK_DGRAM:
            sock.sendto(datagram, self.address)
        else:
            sock.sendall(datagram)
