"""The jobs of a parallel call to several services are pushed together: one round trip per Redis master."""

from __future__ import annotations

import time

import redis

from pysoa_like.common.transport.redis_gateway.client import RedisClientTransport
from pysoa_like.test.redis import RedisServerProcess
from tests.integration._latency_proxy import LatencyProxy
from tests.integration.redis_transport._helpers import job_request

# Each way: a round trip takes twice this.
_DELAY = 0.15


def test_several_services_batches_go_in_one_round_trip(
    redis_server: RedisServerProcess, raw_redis: redis.Redis
) -> None:
    """Three services' held requests are pushed in about one round trip of a slow network, not three."""
    with LatencyProxy(redis_server.address, _DELAY) as proxy:
        settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [proxy.address]}}
        transports = [RedisClientTransport(name, **settings) for name in ("one", "two", "three")]
        for transport in transports:
            # The first push of a connection loads the send script: not part of the measure.
            transport.send_request_message(0, {}, job_request())
        for transport in transports:
            assert transport.begin_send_batch()
            for request_id in (1, 2):
                transport.send_request_message(request_id, {}, job_request())
        started = time.monotonic()
        failures = RedisClientTransport.flush_send_batches(transports)
        elapsed = time.monotonic() - started
    assert failures == [{}, {}, {}]
    assert [raw_redis.llen(f"pysoa:service.{name}") for name in ("one", "two", "three")] == [3, 3, 3]
    # One round trip is 0.3 s; one per service would be 0.9 s.
    assert elapsed < 3 * _DELAY * 2 - 0.2, f"{elapsed:.2f} s"
