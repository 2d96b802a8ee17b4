"""A slot migrated under load (resharding): ASK and MOVED are followed; calls succeed or fail transiently."""

from __future__ import annotations

import time
from collections.abc import Callable

from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import TransientPySOATransportError
from pysoa_like.test.redis import RedisCluster
from tests.functional.conftest import Runner
from tests.integration.cluster._load import CallLoad, summarize
from tests.integration.cluster.conftest import LoopClient, client_count, slot_of_service

_CALL_TIMEOUT = 2.0
_ASK = "client.transport.redis_gateway.redirect.ask"
_MOVED = "client.transport.redis_gateway.redirect.moved"


def test_the_request_queue_slot_moves_to_another_master_under_load(
    cluster: RedisCluster, start_workers: Callable[..., Runner], make_client: Callable[..., Client | LoopClient]
) -> None:
    """The slot of a service's request queue migrates, key by key, while callers call and workers serve.

    During the migration requests reach the new master by ASK, workers' pops follow ASK there, and once the
    slot is given to it every node answers MOVED: the same clients and workers go on without a restart.
    """
    # Given workers and callers of a service
    start_workers("resharded", fork=2)
    slot = slot_of_service("resharded")
    load = CallLoad(lambda: make_client("resharded", counting=True), "resharded", threads=3, timeout=_CALL_TIMEOUT)
    load.start()
    try:
        load.wait_for_success_after(time.monotonic(), 10)
        source = cluster.slot_owner(slot)
        target = next(node for node in cluster.masters() if node is not source)
        # When the slot migrates: marked, its keys moved over about a second, then given to the target
        began_at = time.monotonic()
        cluster.begin_migration(slot, target)
        moved = 0
        while time.monotonic() < began_at + 1.0:
            moved += cluster.move_keys(slot, source, target)
            time.sleep(0.05)
        cluster.finish_migration(slot, source, target)
        finished_at = time.monotonic()
        # Then calls go on, and the slot's keys now live on the target only
        recovered_at = load.wait_for_success_after(finished_at, 10)
        time.sleep(1.0)
    finally:
        load.stop()
    outcomes = load.snapshot()
    during = [o for o in outcomes if o.started >= began_at]
    figures = summarize(during, began_at)
    figures.update(
        keys_moved=moved,
        migration_s=round(finished_at - began_at, 2),
        first_success_after_finish_s=round(recovered_at - finished_at, 2),
        failed_after_finish=sum(1 for o in outcomes if o.started > finished_at + 0.5 and o.error is not None),
        client_ask=sum(client_count(c, "resharded", _ASK) for c in load.clients),
        client_moved=sum(client_count(c, "resharded", _MOVED) for c in load.clients),
    )
    print(f"resharding figures: {figures}")
    errors = [outcome.error for outcome in during if outcome.error is not None]
    assert all(isinstance(error, TransientPySOATransportError) for error in errors), errors[:3]
    assert max(outcome.seconds for outcome in outcomes) < _CALL_TIMEOUT + 2.5
    assert figures["failed_after_finish"] == 0
    # The callers were redirected: ASK while the slot migrated, MOVED once it had.
    assert figures["client_ask"] and figures["client_moved"]
    assert cluster.slot_owner(slot) is target
    assert not source.execute("CLUSTER", "COUNTKEYSINSLOT", slot)
