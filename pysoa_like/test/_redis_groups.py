"""Several throwaway Redis processes run as one unit: a ring of masters, a Sentinel group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import redis
import redis.sentinel

from pysoa_like.test._redis_binary import find_redis_server
from pysoa_like.test._redis_errors import RedisProcessError, RedisSentinelError
from pysoa_like.test._redis_process import LOOPBACK_HOST, RedisProcessBase, no_retry
from pysoa_like.test._redis_sentinel import RedisSentinelProcess
from pysoa_like.test._redis_server import RedisServerProcess

__all__ = ["RedisRing", "RedisSentinelGroup"]

_POLL_INTERVAL = 0.05
_GroupT = TypeVar("_GroupT", bound="_ProcessGroup")
_ProcessT = TypeVar("_ProcessT", bound=RedisProcessBase)


class _ProcessGroup:
    """Starts and stops a list of processes together; a failed start stops what already started."""

    def __init__(self) -> None:
        self._processes: list[RedisProcessBase] = []

    def _start_processes(self) -> None:
        raise NotImplementedError

    def start(self: _GroupT) -> _GroupT:
        """Start every process and wait until the group is usable; stops them all on failure.

        Returns:
            ``self``.

        Raises:
            RedisStartError: If a process does not start.
            RedisSentinelError: If a Sentinel group does not converge in time.
        """
        try:
            self._start_processes()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process, last started first, and forget them. Safe to call more than once."""
        processes, self._processes = self._processes, []
        for process in reversed(processes):
            process.stop()

    def __enter__(self: _GroupT) -> _GroupT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class RedisRing(_ProcessGroup):
    """``n`` independent throwaway Redis masters, for tests of a multi-master (hash ring) setup.

    Args:
        n: How many masters to start.
        **server_kwargs: Passed to every :class:`RedisServerProcess` (``password``, ``tls``, ...).

    Raises:
        ValueError: If ``n`` is less than 1.
        RedisBinaryNotFoundError: If no ``redis-server`` binary can be found.
        RedisStartError: From :meth:`start`, if a master does not start.
    """

    def __init__(self, n: int = 2, **server_kwargs: Any) -> None:
        if n < 1:
            raise ValueError(f"a ring needs at least one master, not {n}")
        super().__init__()
        self.n = n
        self._server_kwargs = server_kwargs
        self.servers: list[RedisServerProcess] = []

    def _start_processes(self) -> None:
        self.servers = []
        for _ in range(self.n):
            server = RedisServerProcess(**self._server_kwargs)
            self._processes.append(server)
            server.start()
            self.servers.append(server)

    @property
    def hosts(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` in ring order, the form PySOA's ``hosts`` setting takes."""
        return [server.address for server in self.servers]

    @property
    def urls(self) -> list[str]:
        """The masters' URLs, in ring order."""
        return [server.url for server in self.servers]

    def flush(self) -> None:
        """FLUSHALL on every master."""
        for server in self.servers:
            server.flush()

    def __len__(self) -> int:
        return len(self.servers)

    def __iter__(self) -> Iterator[RedisServerProcess]:
        return iter(self.servers)

    def __getitem__(self, index: int) -> RedisServerProcess:
        return self.servers[index]


def _wait_for(
    what: str, check: Callable[[], bool], timeout: float, error: type[RedisProcessError] = RedisSentinelError
) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as exc:
            last_error = exc
        time.sleep(_POLL_INTERVAL)
    suffix = f" (last error: {last_error!r})" if last_error is not None else ""
    raise error(f"timed out after {timeout} s waiting for {what}{suffix}")


class RedisSentinelGroup(_ProcessGroup):
    """Throwaway Sentinel-managed Redis: per service a master and replicas, plus Sentinels.

    :meth:`start` returns once every replica is in sync and every Sentinel knows every replica and
    every other Sentinel, so both a forced :meth:`failover` and a real one (after killing a master
    with :meth:`RedisProcessBase.kill`) work at once. The short ``down_after_milliseconds`` and
    ``failover_timeout_milliseconds`` defaults let a failover finish in a few seconds.

    Example::

        with RedisSentinelGroup(masters=["mymaster"]) as group:
            settings = {"backend_layer_kwargs": {"hosts": group.sentinel_hosts, "sentinel_services": group.services}}
            group.failover("mymaster")

    Args:
        masters: The Sentinel service names, one master each.
        replicas: Replicas per master (at least 1 for a failover).
        sentinels: How many Sentinels monitor all the masters.
        quorum: Sentinels needed to agree a master is down; defaults to a majority.
        down_after_milliseconds: Sentinel's ``down-after-milliseconds``.
        failover_timeout_milliseconds: Sentinel's ``failover-timeout``.
        binary: The ``redis-server`` to run; ``None`` means :func:`find_redis_server`'s choice.
        search_path: Passed to :func:`find_redis_server` when ``binary`` is ``None``.
        startup_timeout: Seconds for each process to answer PING, and for the group to converge.

    Raises:
        ValueError: If there are no masters, a negative replica count or no Sentinels.
        RedisBinaryNotFoundError: If no ``redis-server`` binary can be found.
        RedisStartError: From :meth:`start`, if a process does not start.
        RedisSentinelError: From :meth:`start`, if replication or Sentinel discovery does not converge.
    """

    def __init__(
        self,
        masters: Sequence[str] = ("mymaster",),
        replicas: int = 1,
        sentinels: int = 3,
        *,
        quorum: int | None = None,
        down_after_milliseconds: int = 1000,
        failover_timeout_milliseconds: int = 3000,
        binary: str | None = None,
        search_path: bool = True,
        startup_timeout: float = 15.0,
    ) -> None:
        if not masters or replicas < 0 or sentinels < 1:
            raise ValueError("a Sentinel group needs at least one master, replicas >= 0 and sentinels >= 1")
        super().__init__()
        self.services = list(masters)
        self.replicas = replicas
        self.sentinel_count = sentinels
        self.quorum = quorum if quorum is not None else sentinels // 2 + 1
        self.down_after_milliseconds = down_after_milliseconds
        self.failover_timeout_milliseconds = failover_timeout_milliseconds
        self.binary = binary if binary is not None else find_redis_server(search_path=search_path)
        self.startup_timeout = startup_timeout
        self.servers: dict[str, list[RedisServerProcess]] = {}
        self.sentinels: list[RedisSentinelProcess] = []

    @property
    def sentinel_hosts(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` of the Sentinels, the form PySOA's Sentinel ``hosts`` setting takes."""
        return [sentinel.address for sentinel in self.sentinels]

    def sentinel(self, **connection_kwargs: Any) -> redis.sentinel.Sentinel:
        """Return a redis-py ``Sentinel`` over this group's Sentinels, with timeouts set.

        Args:
            **connection_kwargs: Extra kwargs for the connections to the masters and replicas.
        """
        # redis-py leaves Sentinel.__init__ unannotated.
        return redis.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            self.sentinel_hosts,
            sentinel_kwargs={"socket_connect_timeout": 2.0, "socket_timeout": 5.0},
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            **connection_kwargs,
        )

    def servers_for(self, service: str) -> list[RedisServerProcess]:
        """Return the data servers (master and replicas, in start order) of one service."""
        return list(self.servers[service])

    def master_address(self, service: str) -> tuple[str, int]:
        """Ask the Sentinels (the first that answers) for a service's master.

        Raises:
            RedisSentinelError: If no Sentinel knows the master.
        """
        for sentinel in self.sentinels:
            try:
                with sentinel.client(decode_responses=True, retry=no_retry()) as client:
                    address = client.sentinel_get_master_addr_by_name(service)
            except (redis.RedisError, OSError):
                continue
            if address:
                return str(address[0]), int(address[1])
        raise RedisSentinelError(f"no Sentinel of this group reports a master for {service!r}")

    def master_for(self, service: str) -> RedisServerProcess:
        """Return the server process that the Sentinels currently report as the service's master.

        Raises:
            RedisSentinelError: If no Sentinel knows the master, or it is not one of this group's servers.
        """
        host, port = self.master_address(service)
        for server in self.servers[service]:
            if server.port == port and host == LOOPBACK_HOST:
                return server
        raise RedisSentinelError(f"the master {host}:{port} reported for {service!r} is not in this group")

    def failover(self, service: str, timeout: float = 15.0) -> RedisServerProcess:
        """Force a failover (SENTINEL FAILOVER) and wait until every Sentinel reports a writable new master.

        Args:
            service: The service whose master a replica replaces.
            timeout: Seconds for the whole failover.

        The old master, if still running, stays a master until the Sentinels turn it into a replica
        of the new one, which Sentinel does some seconds later.

        Returns:
            The new master's process.

        Raises:
            RedisSentinelError: If the failover is refused for longer than ``timeout`` (e.g. no replica),
                or the Sentinels do not agree on a new, writable master within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        old = self.master_address(service)

        def request_failover() -> bool:
            with self.sentinels[0].client(retry=no_retry()) as client:
                try:
                    client.sentinel_failover(service)
                except redis.ResponseError as exc:
                    # NOGOODSLAVE/INPROG are transient while a replica is still being discovered.
                    if "NOGOODSLAVE" in str(exc) or "INPROG" in str(exc):
                        return False
                    raise
            return True

        def switched() -> bool:
            addresses = set()
            for sentinel in self.sentinels:
                with sentinel.client(decode_responses=True, retry=no_retry()) as client:
                    reply = client.sentinel_get_master_addr_by_name(service)
                addresses.add((str(reply[0]), int(reply[1])) if reply else None)
            if len(addresses) != 1 or old in addresses or None in addresses:
                return False
            with self.master_for(service).client(retry=no_retry()) as client:
                return bool(client.set("pysoa-like:failover-probe", b"1", px=1000))

        _wait_for(f"Sentinel to accept a failover of {service!r}", request_failover, timeout)
        _wait_for(f"a new writable master for {service!r}", switched, max(0.0, deadline - time.monotonic()))
        return self.master_for(service)

    def _start_processes(self) -> None:
        self.servers = {}
        self.sentinels = []
        for service in self.services:
            master = self._add(self._data_server())
            replicas = [
                self._add(self._data_server("--replicaof", master.host, str(master.port))) for _ in range(self.replicas)
            ]
            self.servers[service] = [master, *replicas]
        monitors = [(service, LOOPBACK_HOST, servers[0].port) for service, servers in self.servers.items()]
        for _ in range(self.sentinel_count):
            self.sentinels.append(
                self._add(
                    RedisSentinelProcess(
                        monitors,
                        quorum=self.quorum,
                        down_after_milliseconds=self.down_after_milliseconds,
                        failover_timeout_milliseconds=self.failover_timeout_milliseconds,
                        binary=self.binary,
                        startup_timeout=self.startup_timeout,
                    )
                )
            )
        _wait_for("replicas to sync with their masters", self._replicas_in_sync, self.startup_timeout)
        _wait_for("Sentinels to discover replicas and each other", self._sentinels_converged, self.startup_timeout)

    def _data_server(self, *extra_args: str) -> RedisServerProcess:
        # Redis 7 waits 5 s by default before a diskless full sync; any server may become a master.
        return RedisServerProcess(
            binary=self.binary,
            startup_timeout=self.startup_timeout,
            extra_args=["--repl-diskless-sync-delay", "0", *extra_args],
        )

    def _add(self, process: _ProcessT) -> _ProcessT:
        self._processes.append(process)
        process.start()
        return process

    def _replicas_in_sync(self) -> bool:
        for servers in self.servers.values():
            for replica in servers[1:]:
                with replica.client(decode_responses=True, retry=no_retry()) as client:
                    if client.info("replication").get("master_link_status") != "up":
                        return False
        return True

    def _sentinels_converged(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client(decode_responses=True, retry=no_retry()) as client:
                for service in self.services:
                    state = client.sentinel_master(service)
                    if int(state.get("num-slaves", 0)) < self.replicas:
                        return False
                    if int(state.get("num-other-sentinels", 0)) < self.sentinel_count - 1:
                        return False
        return True
