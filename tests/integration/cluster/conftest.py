"""One Redis Cluster (3 masters, 1 replica each) for every cluster test of the session, and workers serving on it.

Tests flush it before they start, and a test that kills or migrates leaves it healthy again (every node back,
every replica in sync), so the others need not care in which order they run. Its nodes accept an ACL user
``svc``, which the transports use (a startup URL with a user and a password).

Tests of calls take the ``driver`` fixture to run once with ``Client`` (the blocking driver) and once with
``AsyncClient`` (the asyncio driver), driven from the test's thread by :class:`LoopClient`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.common.transport.redis_gateway.asyncio_client import AsyncRedisClientTransport
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.cluster import key_slot
from pysoa_like.core.keys import request_queue_key
from pysoa_like.test.redis import RedisCluster
from tests.functional.conftest import Runner, kill_runners, spawn_runner, wait_for

_T = TypeVar("_T")

CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"
USER, PASSWORD = "svc", "svc-secret"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """The session's cluster; stopped (every node, its directory removed) at the end."""
    user = ["--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]
    # A node is given up after 3 s unreachable: quick failovers, and no false one on a busy CI machine.
    with RedisCluster(masters=3, replicas=1, node_timeout_milliseconds=3000, extra_args=user) as cluster:
        yield cluster


@pytest.fixture
def cluster(redis_cluster: RedisCluster) -> Iterator[RedisCluster]:
    """The session's cluster, healthy and flushed, with no cached backend before and after the test."""
    redis_cluster.wait_healthy(60)
    redis_cluster.flush()
    RedisTransportCore.clear_backend_cache()
    yield redis_cluster
    RedisTransportCore.clear_backend_cache()


def startup_urls(cluster: RedisCluster, count: int = 1) -> list[str]:
    """Startup URLs with the ACL user, for the first ``count`` nodes."""
    return [f"redis://{USER}:{PASSWORD}@{node.host}:{node.port}/0" for node in cluster.nodes[:count]]


def cluster_transport(cluster: RedisCluster, **kwargs: Any) -> dict[str, Any]:
    """Transport kwargs of a cluster client or server."""
    return {"backend_type": "redis.cluster", "backend_layer_kwargs": {"hosts": startup_urls(cluster)}, **kwargs}


BLOCKING, ASYNCIO = "blocking", "asyncio"


class LoopClient:
    """An AsyncClient called from blocking code: each call runs to its end on the client's own event loop.

    Its call methods take and return what ``Client``'s do; one thread at a time may use it.
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.handlers = client.handlers
        self._loop = asyncio.new_event_loop()

    def _run(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._loop.run_until_complete(getattr(self.client, name)(*args, **kwargs))

    def call_action(self, *args: Any, **kwargs: Any) -> Any:
        """``AsyncClient.call_action``."""
        return self._run("call_action", *args, **kwargs)

    def call_actions(self, *args: Any, **kwargs: Any) -> Any:
        """``AsyncClient.call_actions``."""
        return self._run("call_actions", *args, **kwargs)

    def call_actions_parallel(self, *args: Any, **kwargs: Any) -> Any:
        """``AsyncClient.call_actions_parallel`` (a list, where ``Client`` gives an iterator)."""
        return self._run("call_actions_parallel", *args, **kwargs)

    def call_jobs_parallel(self, *args: Any, **kwargs: Any) -> Any:
        """``AsyncClient.call_jobs_parallel``."""
        return self._run("call_jobs_parallel", *args, **kwargs)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run any coroutine on the client's loop."""
        return self._loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Close the client's connections, then its loop."""
        self._loop.run_until_complete(self.client.aclose())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


def client_settings(cluster: RedisCluster, counting: bool = False, **kwargs: Any) -> dict[str, Any]:
    """One service's client settings over the cluster (a CountingMetricsRecorder when ``counting``)."""
    settings: dict[str, Any] = {"transport": {"path": CLIENT_TRANSPORT, "kwargs": cluster_transport(cluster, **kwargs)}}
    if counting:
        settings["metrics"] = {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"}
    return settings


def cluster_client(cluster: RedisCluster, *services: str, counting: bool = False, **kwargs: Any) -> Client:
    """A Client of ``services`` over the cluster (with a CountingMetricsRecorder per service when ``counting``)."""
    return Client(dict.fromkeys(services, client_settings(cluster, counting, **kwargs)))


def driver_client(
    driver: str, cluster: RedisCluster, *services: str, counting: bool = False, **kwargs: Any
) -> Client | LoopClient:
    """A client of ``services`` over the cluster through ``driver``: a Client, or an AsyncClient in a LoopClient."""
    if driver == BLOCKING:
        return cluster_client(cluster, *services, counting=counting, **kwargs)
    return LoopClient(AsyncClient(dict.fromkeys(services, client_settings(cluster, counting, **kwargs))))


@pytest.fixture(params=[BLOCKING, ASYNCIO])
def driver(request: pytest.FixtureRequest) -> str:
    """Each test taking it runs with the blocking driver (Client), then the asyncio one (AsyncClient)."""
    return str(request.param)


@pytest.fixture
def make_client(driver: str, cluster: RedisCluster) -> Iterator[Callable[..., Client | LoopClient]]:
    """Build clients of the test's ``driver`` over the cluster (:func:`driver_client`); closed at the end."""
    made: list[Client | LoopClient] = []

    def make(*services: str, counting: bool = False, **kwargs: Any) -> Client | LoopClient:
        client = driver_client(driver, cluster, *services, counting=counting, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        if isinstance(client, LoopClient):
            client.close()


def send_one(driver: str, service: str, **settings: Any) -> None:
    """Push one request to ``service`` with the ``driver``'s Redis client transport (no reply awaited).

    Raises:
        MessageSendError: The push failed (both drivers raise it from the send itself).
    """
    body = {"control": {"suppress_response": True}, "context": {}, "actions": [{"action": "a"}]}
    if driver == BLOCKING:
        RedisClientTransport(service, **settings).send_request_message(1, {}, body)
        return

    async def send() -> None:
        transport = AsyncRedisClientTransport(service, **settings)
        try:
            await transport.send_request_message(1, {}, body)
        finally:
            await transport.aclose()

    asyncio.run(send())


def client_count(client: Client | LoopClient, service: str, counter: str) -> int:
    """A counter of a counting client's service (see :func:`cluster_client`)."""
    recorder = client.handlers[service].metrics
    assert isinstance(recorder, CountingMetricsRecorder)
    return recorder.get_count(counter)


def services_on_distinct_masters(cluster: RedisCluster, count: int, prefix: str = "svc") -> list[str]:
    """``count`` service names whose request queues live on ``count`` different masters."""
    owners = {}
    for number in range(200):
        name = f"{prefix}-{number}"
        owner = cluster.key_owner(request_queue_key(name))
        owners.setdefault(owner.port, name)
        if len(owners) == count:
            return list(owners.values())
    raise AssertionError(f"no {count} service names on distinct masters")


def slot_of_service(name: str) -> int:
    """The slot of a service's request queue."""
    return key_slot(request_queue_key(name))


@pytest.fixture
def start_workers(cluster: RedisCluster, tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    """Start ``pysoa-like serve`` of the cluster test service; every runner is killed at the end."""
    runners: list[Runner] = []

    def start(service: str = "clustered", fork: int = 2, env: dict[str, str] | None = None) -> Runner:
        log_path = tmp_path / f"workers-{service}-{len(runners)}.log"
        command = [
            sys.executable,
            "-m",
            "pysoa_like",
            "serve",
            "tests.integration.cluster.cluster_service:ClusterServer",
            "--settings",
            "tests.integration.cluster.cluster_service",
            "--fork",
            str(fork),
        ]
        environment = {
            "CLUSTER_STARTUP_NODES": ",".join(startup_urls(cluster, 2)),
            "CLUSTER_SERVICE_NAME": service,
            **(env or {}),
        }
        runner = spawn_runner(command, environment, log_path)
        runners.append(runner)
        client = cluster_client(cluster, service)

        def answers() -> bool:
            try:
                client.call_action(service, "echo", {}, timeout=1)
                return True
            except Exception:
                return False

        wait_for(answers, timeout=30)
        return runner

    yield start
    kill_runners(runners)
