"""The backend contract: a ring of Redis masters, and which one serves a given key.

A backend holds one redis-py client per ring slot. Reply keys (containing ``!``) are hashed to a slot and
request keys go round-robin (PROTOCOL.md section 2, computed by the protocol core). Backends are shared by every
client transport of a process with the same ``backend_type`` and ``backend_layer_kwargs``, and by every server
transport with them (see
:mod:`pysoa_like.common.transport.redis_gateway.core`).
"""

from __future__ import annotations

import abc
import threading
import weakref
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.redis_gateway._lanes import Lane
from pysoa_like.core.cluster import NodeAddress, Redirect, SlotRing
from pysoa_like.core.constants import REPLY_QUEUE_MARKER
from pysoa_like.core.endpoint import Endpoint, endpoint_of
from pysoa_like.core.keys import HostRing

__all__ = [
    "DEFAULT_CONNECTION_KWARGS",
    "QUEUE_LOOKS",
    "URL_SCHEMES",
    "BaseRedisClient",
    "CannotGetConnectionError",
    "HostAddress",
    "SlotClient",
    "normalize_host",
]

# A host of the ring: a Redis URL, or a (host, port) pair.
HostAddress = str | tuple[str, int]

# URL forms accepted as hosts (PySOA turned every string into a host name, so it could not use them).
URL_SCHEMES: tuple[str, ...] = ("redis://", "rediss://", "unix://")


def _no_retries() -> Retry:
    # redis-py >= 6 retries failed commands 3 times with backoff by default. A retried send can push a message
    # twice, and the backoff turns an outage into seconds of waiting; the transport reports the failure at once and
    # the next call reconnects (the pool drops dead connections when handing them out).
    return Retry(NoBackoff(), 0)


# Defaults merged under the user's ``connection_kwargs`` (PySOA's two, plus no hidden redis-py retries).
DEFAULT_CONNECTION_KWARGS: Mapping[str, Any] = {"socket_connect_timeout": 5.0, "socket_keepalive": True}
# Keyword arguments that only TCP connections take; dropped for unix:// hosts unless the user set them.
_TCP_ONLY_KWARGS = ("socket_keepalive", "socket_keepalive_options")


class CannotGetConnectionError(Exception):
    """No Redis connection can be had for a ring slot (e.g. Sentinel knows no master for the service)."""


def normalize_host(host: Any, default_port: int) -> HostAddress:
    """Turn one entry of the ``hosts`` setting into a URL or a ``(host, port)`` pair.

    Args:
        host: A URL (``redis://``, ``rediss://``, ``unix://``), ``"host"``, ``"host:port"``, or a
            ``(host, port)`` tuple or list.
        default_port: The port for a bare host name.

    Returns:
        The URL unchanged, or ``(host, port)``.

    Raises:
        ValueError: If the entry has none of these forms, is a URL of another scheme, or has a port out of range.
    """
    if isinstance(host, str):
        if host.startswith(URL_SCHEMES):
            return host
        scheme, separator, _rest = host.partition("://")
        if separator:
            # Taken as a host name, "http://h" was looked up in DNS and refused for ever.
            # The host itself is not shown: a URL may hold a password.
            raise ValueError(f"unsupported URL scheme {scheme!r} in a Redis host (use redis://, rediss:// or unix://)")
        name, separator, port = host.rpartition(":")
        # Only "name:digits" with no other colon is a port; an IPv6 address such as "::1" stays a host name.
        if separator and port.isdigit() and name and ":" not in name:
            return name, _port_of(host, int(port))
        if not host:
            raise ValueError("A Redis host must not be an empty string")
        return host, default_port
    if isinstance(host, (tuple, list)) and len(host) == 2 and isinstance(host[0], str) and isinstance(host[1], int):
        return host[0], _port_of(host, host[1])
    raise ValueError(f"Invalid Redis host {host!r}: use 'host', 'host:port', ('host', port) or a redis:// URL")


def _port_of(host: Any, port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValueError(f"the port of Redis host {host!r} must be between 1 and 65535, got {port}")
    return port


class SlotClient(redis.Redis):
    """A redis-py client of one ring slot (for commands outside the transport's own), and its :class:`Endpoint`.

    The transport's own commands go over :class:`Lane` connections, which open their sockets themselves from
    :attr:`endpoint` (read by the core from the same address and ``connection_kwargs``).
    """

    #: Where the lanes of this slot connect, and how.
    endpoint: Endpoint


def make_redis_client(address: HostAddress, connection_kwargs: Mapping[str, Any]) -> SlotClient:
    """A redis-py client for one ring slot, with the transport's defaults under the given kwargs.

    Args:
        address: A URL or a ``(host, port)`` pair.
        connection_kwargs: The merged connection keyword arguments.

    Returns:
        A client whose pool connects lazily (nothing is contacted here).

    Raises:
        ValueError: A key the transport's connections cannot honour (see
            :func:`pysoa_like.core.endpoint.endpoint_of`), or a bad value.
    """
    endpoint = endpoint_of(address, connection_kwargs)
    kwargs = dict(connection_kwargs)
    kwargs.setdefault("retry", _no_retries())
    # Messages are bytes; decoded responses would break framing and deserialization.
    kwargs["decode_responses"] = False
    if isinstance(address, str):
        # With a URL the scheme decides TLS (redis-py rejects an ``ssl`` argument there); ``ssl=True`` upgrades a
        # redis:// URL so that settings shared with (host, port) hosts keep their meaning.
        if kwargs.pop("ssl", False) and address.startswith("redis://"):
            address = "rediss://" + address[len("redis://") :]
        if address.startswith("unix://"):
            for name in _TCP_ONLY_KWARGS:
                if name not in connection_kwargs or name in DEFAULT_CONNECTION_KWARGS:
                    kwargs.pop(name, None)
        client = cast(SlotClient, SlotClient.from_url(address, **kwargs))  # from_url makes an instance of cls
    else:
        client = SlotClient(host=address[0], port=address[1], **kwargs)
    client.endpoint = endpoint
    return client


def merge_connection_kwargs(connection_kwargs: Mapping[str, Any] | None, redis_db: int | None) -> dict[str, Any]:
    """The defaults, overridden by ``connection_kwargs``, then ``redis_db`` as ``db``."""
    merged = dict(DEFAULT_CONNECTION_KWARGS)
    merged.update(connection_kwargs or {})
    if redis_db is not None:
        merged["db"] = redis_db
    return merged


#: The name of the thread's lanes kept for looks at a request queue (with the slot, or the node's address), see
#: :meth:`BaseRedisClient.look_lane`.
QUEUE_LOOKS = "queue looks"


class BaseRedisClient(abc.ABC):
    """A ring of Redis masters and the rule choosing one for a key.

    Args:
        ring_size: The number of slots (at least 1).
    """

    #: Every key containing this is a reply queue, hashed to its slot.
    RESPONSE_QUEUE_SPECIFIER = REPLY_QUEUE_MARKER

    def __init__(self, ring_size: int) -> None:
        if ring_size < 1:
            raise ValueError("A Redis backend needs at least one host or Sentinel service")
        self.ring_size = ring_size
        # Only for PySOA's get_connection: the transports choose with rings of their own.
        self._ring = HostRing(ring_size)
        # Per thread: slot index -> that thread's Lane. Every lane is also tracked weakly, for close().
        self._thread_lanes = threading.local()
        self._all_lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
        self._lanes_lock = threading.Lock()

    def get_connection(self, queue_key: str) -> redis.Redis:
        """The client of the slot serving ``queue_key`` (PySOA's API, kept for compatibility; unused here).

        Raises:
            CannotGetConnectionError: If the slot has no reachable master.
        """
        return self.client_at(self._ring.index_for(queue_key))

    @abc.abstractmethod
    def client_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> SlotClient:
        """The client of ring slot ``index``.

        Args:
            index: The slot.
            metrics: Where to report backend metrics (Sentinel master lookups), if anywhere.
            metrics_prefix: The prefix of those metric names, e.g. ``"client.transport.redis_gateway."``.
            deadline: ``time.monotonic()`` by which a master lookup must have ended for this caller (Sentinel: see
                :meth:`SentinelRedisClient.client_at`); ``None`` to wait for its end.

        Raises:
            CannotGetConnectionError: If the slot has no reachable master (or none found by ``deadline``).
        """

    def lane_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> Lane:
        """The calling thread's own connection to ring slot ``index`` (made on first use).

        A lane follows its slot's client: when :meth:`client_at` returns a new one (Sentinel after a failover),
        the old lane is closed and a new one made. ``deadline``: as for :meth:`client_at`.

        Raises:
            CannotGetConnectionError: If the slot has no reachable master (or none found by ``deadline``).
        """
        client = self.client_at(index, metrics, metrics_prefix, deadline)
        lanes: dict[Hashable, Lane] = self._thread_lanes.__dict__  # type: ignore[assignment]
        lane = lanes.get(index)
        if lane is not None and lane.client is client:
            return lane  # the usual case, without thread_lane's call
        return self.thread_lane(index, client)

    def look_lane(self, index: int, metrics: MetricsRecorder | None = None, metrics_prefix: str = "") -> Lane:
        """The calling thread's connection to ring slot ``index``'s master kept for looks at a request queue (a
        timed-out call's, see ``_call_timeout``), apart from the lane of the transport's commands.

        The thread's first look opens it (paying for a connection); a look that gets no answer in time leaves it
        open, its reply dropped when the next look comes, and touches nothing else: the thread's other commands keep
        their lane, and the slot's client (Sentinel's master) is not forgotten, since a Redis slower than a look's
        quarter second has not failed.

        Raises:
            CannotGetConnectionError: If the slot has no reachable master.
        """
        return self.thread_lane((QUEUE_LOOKS, index), self.client_at(index, metrics, metrics_prefix))

    def thread_lane(self, name: Hashable, client: SlotClient) -> Lane:
        """The calling thread's lane called ``name`` (a ring slot, a node's address), made on ``client``.

        The lane is made anew (the old one closed) when ``client`` is not the one it was made on.
        """
        lanes: dict[Hashable, Lane] = self._thread_lanes.__dict__  # type: ignore[assignment]
        lane = lanes.get(name)
        if lane is not None and lane.client is client:
            return lane
        if lane is not None:
            lane.close()
        lane = lanes[name] = Lane(client)
        with self._lanes_lock:
            self._all_lanes.add(lane)
        return lane

    def close_thread_lanes(self) -> None:
        """Close the calling thread's lanes, before the thread ends (else their sockets wait for the garbage
        collector, which warns about each)."""
        lanes: dict[Hashable, Lane] = self._thread_lanes.__dict__  # type: ignore[assignment]
        for lane in list(lanes.values()):
            lane.close()
        lanes.clear()

    #: Whether this backend follows Redis Cluster's ``MOVED`` and ``ASK`` answers (see :meth:`note_redirect`).
    follows_redirects = False
    #: Whether each slot keeps its client for good (a fixed ring of hosts), so that a thread's lane to a slot never
    #: changes and a transport may keep it rather than ask :meth:`lane_at` on every command.
    fixed_lanes = False

    def make_ring(self) -> HostRing | SlotRing:
        """A new chooser of ring slots for one transport: hashed reply keys, request keys round-robin."""
        return HostRing(self.ring_size)

    def shares_lane(self, index: int, other: int) -> bool:
        """Whether ring slots ``index`` and ``other`` are served by the same connection (the same master)."""
        return index == other

    def master_indexes(self) -> list[int]:
        """One ring slot per master, to run a command once on each (every slot of a ring)."""
        return list(range(self.ring_size))

    def queue_indexes(self, key: str) -> list[int]:
        """The ring slots where a request queue ``key`` may hold messages (every master of a ring)."""
        return list(range(self.ring_size))

    def note_redirect(self, redirect: Redirect) -> None:
        """Learn from a ``MOVED``/``ASK`` answer (only a Cluster backend does; see :attr:`follows_redirects`)."""
        return None

    def lane_for_address(self, address: NodeAddress) -> Lane:
        """The calling thread's connection to the node at ``address`` (an ``ASK`` target; Cluster only).

        Raises:
            CannotGetConnectionError: This backend does not follow redirects.
        """
        raise CannotGetConnectionError(f"A {type(self).__name__} cannot follow a redirection to {address}")

    def client_for_address(self, address: NodeAddress) -> redis.Redis:
        """The redis-py client of the node at ``address`` (an ``ASK`` target; Cluster only).

        Raises:
            CannotGetConnectionError: This backend does not follow redirects.
        """
        raise CannotGetConnectionError(f"A {type(self).__name__} cannot follow a redirection to {address}")

    def close_lanes(self) -> None:
        """Close every thread's lane connection (each reconnects if used again)."""
        with self._lanes_lock:
            lanes = list(self._all_lanes)
        for lane in lanes:
            lane.close()

    def reset_client(self, index: int) -> None:
        """Forget slot ``index``'s connection after an error, so the next call looks it up again.

        The standard backend needs nothing (redis-py reconnects by itself); Sentinel rediscovers the master.
        """
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Close every connection of the ring."""

    @staticmethod
    def _check_hosts(hosts: Sequence[Any] | None) -> Sequence[Any]:
        if hosts is not None and (isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence)):
            raise ValueError(f"hosts must be a list of hosts, got {hosts!r}")
        return hosts or ()
