"""A cluster that loses its quorum: every call fails at once with a transport error that says why; none hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pysoa_like.common.transport.errors import MessageReceiveError, MessageSendError, TransientPySOATransportError
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.keys import request_queue_key
from pysoa_like.test.redis import RedisCluster
from tests.integration.cluster.conftest import cluster_client, services_on_distinct_masters

_REQUEST = {"control": {}, "context": {}, "actions": [{"action": "echo"}]}


@pytest.fixture
def small_cluster() -> Iterator[RedisCluster]:
    """A cluster of its own (three masters, no replica, a short node timeout): this test breaks it."""
    RedisTransportCore.clear_backend_cache()
    with RedisCluster(masters=3, replicas=0, node_timeout_milliseconds=1000) as cluster:
        yield cluster
    RedisTransportCore.clear_backend_cache()


def test_calls_fail_fast_and_clearly_without_a_quorum(small_cluster: RedisCluster) -> None:
    """Two of three masters die: calls to their slots fail (connection refused), the survivor answers CLUSTERDOWN.

    No call waits longer than its own timeout (plus a margin), and every failure is a transient transport error.
    """
    cluster = small_cluster
    names = services_on_distinct_masters(cluster, 3, prefix="quorum")
    client = cluster_client(cluster, *names)
    transports = {
        name: RedisClientTransport(name, backend_type="redis.cluster", backend_layer_kwargs={"hosts": cluster.urls})
        for name in names
    }
    for name in names:
        transports[name].send_request_message(1, {}, _REQUEST)
    survivor = cluster.key_owner(request_queue_key(names[0]))
    # When the two other masters die
    for node in cluster.nodes:
        if node is not survivor:
            node.kill()
    deadline = time.monotonic() + 30
    while survivor.cluster_info().get("cluster_state") != "fail":
        assert time.monotonic() < deadline, "the survivor never noticed it lost the quorum"
        time.sleep(0.1)
    # Then sends fail at once, naming the cause
    for name in names:
        started = time.monotonic()
        with pytest.raises(MessageSendError) as failure:
            transports[name].send_request_message(2, {}, _REQUEST)
        assert time.monotonic() - started < 3
        text = str(failure.value)
        assert (
            "CLUSTERDOWN" in text if name == names[0] else ("Connection refused" in text or "connect" in text.lower())
        )
    # And whole calls fail within their timeout with a transient error
    for name in names:
        started = time.monotonic()
        with pytest.raises(TransientPySOATransportError):
            client.call_action(name, "echo", {}, timeout=1)
        assert time.monotonic() - started < 3.5
    # A receive does not wait for a reply that cannot come
    started = time.monotonic()
    with pytest.raises((MessageReceiveError, MessageSendError)):
        transports[names[0]].receive_response_message(5)
    assert time.monotonic() - started < 3
