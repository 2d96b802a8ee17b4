"""The standard backend: a fixed ring of Redis masters given by ``hosts``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.redis_gateway.backend.base import (
    BaseRedisClient,
    HostAddress,
    SlotClient,
    make_redis_client,
    merge_connection_kwargs,
    normalize_host,
)
from pysoa_like.core.constants import DEFAULT_REDIS_PORT

__all__ = ["StandardRedisClient"]


class StandardRedisClient(BaseRedisClient):
    """A ring of standalone Redis masters, in the order of ``hosts``.

    Args:
        hosts: Each a ``redis://``/``rediss://``/``unix://`` URL, ``"host"``, ``"host:port"`` or
            ``("host", port)``; default ``[("localhost", 6379)]``. Clients and servers of a service must list
            the same hosts in the same order, because reply keys are hashed over the ring.
        connection_kwargs: redis-py keyword arguments for every connection (``password``, ``username``,
            ``ssl``, ``ssl_ca_certs``, ``socket_timeout``, ...), over the defaults
            ``socket_connect_timeout=5.0`` and ``socket_keepalive=True``.
        redis_db: The database number (``db``), a shortcut for ``connection_kwargs``.
        redis_port: The port of host names given without one (default 6379).

    Raises:
        ValueError: If a host has none of the accepted forms.
    """

    fixed_lanes = True

    def __init__(
        self,
        hosts: Sequence[Any] | None = None,
        connection_kwargs: Mapping[str, Any] | None = None,
        redis_db: int | None = None,
        redis_port: int | None = None,
    ) -> None:
        port = redis_port or DEFAULT_REDIS_PORT
        entries = self._check_hosts(hosts) or [("localhost", port)]
        self.hosts: list[HostAddress] = [normalize_host(host, port) for host in entries]
        self.connection_kwargs = merge_connection_kwargs(connection_kwargs, redis_db)
        super().__init__(len(self.hosts))
        self._clients: list[SlotClient] = [make_redis_client(host, self.connection_kwargs) for host in self.hosts]

    def client_at(
        self,
        index: int,
        metrics: MetricsRecorder | None = None,
        metrics_prefix: str = "",
        deadline: float | None = None,
    ) -> SlotClient:
        """The client of ring slot ``index`` (created at construction; it connects lazily: nothing is looked up, so
        ``deadline`` is unused)."""
        return self._clients[index]

    def close(self) -> None:
        """Close every connection of the ring (clients reconnect if used again)."""
        self.close_lanes()
        for client in self._clients:
            client.connection_pool.disconnect()
