"""A master of the cluster killed under load: calls fail transiently or succeed, none hangs, service resumes."""

from __future__ import annotations

import time
from collections.abc import Callable

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import TransientPySOATransportError
from pysoa_like.core.keys import request_queue_key
from pysoa_like.test.redis import RedisCluster
from tests.functional.conftest import Runner
from tests.integration.cluster._load import CallLoad, summarize
from tests.integration.cluster.conftest import LoopClient

# A call may take its timeout, plus the read margin of its last wait, plus scheduling on a busy machine.
_CALL_TIMEOUT = 2.0
_LONGEST_CALL = _CALL_TIMEOUT + 2.5


def test_a_killed_master_is_replaced_without_restarting_anything(
    cluster: RedisCluster, start_workers: Callable[..., Runner], make_client: Callable[..., Client | LoopClient]
) -> None:
    """SIGKILL of the master holding the service's request queue, while three callers call in a loop.

    Calls fail with transient transport errors or succeed, none hangs past its timeout, and once the cluster
    promoted the replica the same clients and workers serve calls again within 10 s (with either driver).
    """
    # Given workers and callers of a service whose request queue lives on the master about to die
    start_workers("failover", fork=2)
    victim = cluster.key_owner(request_queue_key("failover"))
    load = CallLoad(lambda: make_client("failover"), "failover", threads=3, timeout=_CALL_TIMEOUT)
    load.start()
    try:
        load.wait_for_success_after(time.monotonic(), 10)
        # When its master is killed
        killed_at = time.monotonic()
        victim.kill()
        promoted = cluster.wait_for_promotion(victim, timeout=30)
        promoted_at = time.monotonic()
        # Then calls succeed again soon after the promotion, on the same clients and workers
        recovered_at = load.wait_for_success_after(promoted_at, 10)
        time.sleep(1.5)
    finally:
        load.stop()
    outcomes = load.snapshot()
    figures = summarize(outcomes, killed_at)
    figures.update(
        promotion_after_kill_s=round(promoted_at - killed_at, 2),
        recovered_after_promotion_s=round(recovered_at - promoted_at, 2),
        failed_after_recovery=sum(1 for o in outcomes if o.started > recovered_at + 0.5 and o.error is not None),
        new_master=promoted.port,
    )
    print(f"failover figures: {figures}")
    errors = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert all(isinstance(error, TransientPySOATransportError) for error in errors), errors[:3]
    assert max(outcome.seconds for outcome in outcomes) < _LONGEST_CALL
    assert recovered_at - promoted_at < 10
    assert figures["failed_after_recovery"] == 0
    # The old master comes back as a replica (the cluster is whole again for the next tests).
    victim.start()
    cluster.wait_healthy(60)
    assert victim.role() == "slave"
