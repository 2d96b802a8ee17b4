"""A throwaway Redis Sentinel process (``redis-server <conf> --sentinel``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pysoa_like.test._redis_process import RedisProcessBase

__all__ = ["RedisSentinelProcess"]

_CONF_NAME = "sentinel.conf"


class RedisSentinelProcess(RedisProcessBase):
    """A throwaway Sentinel on a free 127.0.0.1 port that monitors the given masters.

    Sentinel needs a writable configuration file (it records what it learns there); the file is
    written to the private directory, so a :meth:`restart` keeps the Sentinel's learned state.

    Args:
        monitors: ``(service name, host, port)`` of each master to monitor.
        quorum: How many Sentinels must agree a master is down before a failover.
        down_after_milliseconds: How long a master may not answer before it is considered down.
        failover_timeout_milliseconds: Sentinel's ``failover-timeout`` for each master.
        auth_pass: The masters' ``requirepass``, if any.
        binary: The ``redis-server`` to run; ``None`` means :func:`find_redis_server`'s choice.
        search_path: Passed to :func:`find_redis_server` when ``binary`` is ``None``.
        port: A fixed port; ``None`` picks a free one.
        startup_timeout: Seconds to wait for PING to answer.
        stop_timeout: Seconds to wait after SIGTERM before SIGKILL.

    Raises:
        RedisBinaryNotFoundError: If no binary is given and none can be found.
        RedisStartError: From :meth:`start`, if the Sentinel exits or does not answer PING in time.
    """

    _kind = "redis-sentinel"

    def __init__(
        self,
        monitors: Sequence[tuple[str, str, int]],
        *,
        quorum: int = 1,
        down_after_milliseconds: int = 1000,
        failover_timeout_milliseconds: int = 3000,
        auth_pass: str | None = None,
        binary: str | None = None,
        search_path: bool = True,
        port: int | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            binary=binary,
            search_path=search_path,
            port=port,
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        self.monitors = list(monitors)
        self.quorum = quorum
        self.down_after_milliseconds = down_after_milliseconds
        self.failover_timeout_milliseconds = failover_timeout_milliseconds
        self.auth_pass = auth_pass

    def _command(self, port: int, directory: Path) -> list[str]:
        conf = directory / _CONF_NAME
        # Rewrite only for a new port: on a restart the file holds what this Sentinel has learned.
        if self._port is None or not conf.exists():
            conf.write_text(self._config(port, directory))
        return [self.binary, str(conf), "--sentinel"]

    def _config(self, port: int, directory: Path) -> str:
        lines = [f"port {port}", f"bind {self.host}", "daemonize no", f'dir "{directory}"', 'logfile ""']
        for service, host, master_port in self.monitors:
            lines += [
                f"sentinel monitor {service} {host} {master_port} {self.quorum}",
                f"sentinel down-after-milliseconds {service} {self.down_after_milliseconds}",
                f"sentinel failover-timeout {service} {self.failover_timeout_milliseconds}",
                f"sentinel parallel-syncs {service} 1",
            ]
            if self.auth_pass is not None:
                lines.append(f"sentinel auth-pass {service} {self.auth_pass}")
        return "\n".join(lines) + "\n"
