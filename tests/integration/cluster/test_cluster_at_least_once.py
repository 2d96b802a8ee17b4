"""At-least-once delivery over the Redis Cluster, with real worker processes: SIGKILL mid-job.

Every key of the service's delivery shares the slot of its request queue (the hash tag ``{pysoa:service.<name>}``),
so the in-progress lists, the workers set and the failed-delivery counts live on the queue's master.
"""

from __future__ import annotations

from collections.abc import Callable

from pysoa_like.core.delivery import delivery_keys
from pysoa_like.core.keys import request_queue_key
from pysoa_like.test.redis import RedisCluster
from tests.functional.conftest import Runner, kill_mid_job, wait_for
from tests.integration.cluster.conftest import cluster_client

_AT_LEAST_ONCE = {"CLUSTER_DELIVERY": "at_least_once"}


def test_sigkill_mid_job_on_a_cluster_the_caller_gets_its_answer_from_another_worker(
    cluster: RedisCluster, start_workers: Callable[..., Runner]
) -> None:
    """SIGKILL of the worker 0.5 s into a 3 s job, workers on the cluster: the caller still gets the job's answer,
    from the other worker, and nothing is left in any in-progress list."""
    # Given two at-least-once workers of a service on the cluster
    service = "alo-cluster"
    start_workers(service, fork=2, env=_AT_LEAST_ONCE)
    keys = delivery_keys(service)
    master = cluster.key_owner(request_queue_key(service))
    assert cluster.key_owner(keys.workers) is master
    client = cluster_client(cluster, service)
    with master.client() as raw:
        wait_for(lambda: raw.zcard(keys.workers) == 2, timeout=15)
        # When the worker running a 3-second job is killed half a second into it
        # Then the caller gets the answer, from the other worker, well within its timeout
        response, holder, elapsed = kill_mid_job(client, service, raw, keys)
        # And the killed worker's in-progress list was emptied (its request put back, then answered)
        assert raw.llen(keys.in_progress(holder)) == 0
    print(f"cluster kill test: answered by pid {response.body['pid']} {elapsed:.1f} s after the call (worker {holder})")
