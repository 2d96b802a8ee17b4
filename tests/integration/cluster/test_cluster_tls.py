"""A Redis Cluster served over TLS only (clients, cluster bus, replication), reached with rediss:// and an ACL user."""

from __future__ import annotations

from pysoa_like.common.transport.errors import MessageReceiveTimeout
from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.common.transport.redis_gateway.server import RedisServerTransport
from pysoa_like.test.redis import RedisCluster
from tests.integration.cluster.conftest import PASSWORD, USER, services_on_distinct_masters
from tests.integration.redis_transport._helpers import job_request, job_response, tls_capable_redis


def test_calls_over_a_tls_cluster_with_an_acl_user() -> None:
    """One rediss:// startup URL with a user and password reaches every master, each over TLS."""
    user = ["--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]
    RedisTransportCore.clear_backend_cache()
    with RedisCluster(masters=3, replicas=0, tls=True, extra_args=user, binary=tls_capable_redis()) as cluster:
        node = cluster.nodes[1]
        settings = {
            "backend_type": "redis.cluster",
            "backend_layer_kwargs": {
                "hosts": [f"rediss://{USER}:{PASSWORD}@{node.host}:{node.port}/0"],
                "connection_kwargs": {"ssl_ca_certs": cluster.tls_files.ca_cert},
            },
        }
        for name in services_on_distinct_masters(cluster, 3, prefix="tls"):
            client = RedisClientTransport(name, **settings)
            server = RedisServerTransport(name, receive_timeout_in_seconds=1, **settings)
            client.send_request_message(7, {}, job_request())
            try:
                request_id, meta, _ = server.receive_request_message()
            except MessageReceiveTimeout as exc:
                raise AssertionError(f"the request to {name} never arrived") from exc
            assert meta is not None
            server.send_response_message(request_id, meta, job_response(service=name))
            assert client.receive_response_message(5).body["actions"][0]["body"] == {"service": name}
    RedisTransportCore.clear_backend_cache()
