"""The dashboard's reading of Redis (DashboardState) against real Redis: services found by their queues too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pysoa_like.dashboard import DashboardState
from pysoa_like.fleet.keys import (
    REGISTRY_SERVICES_KEY,
    registry_actions_key,
    registry_errors_key,
    registry_instances_key,
    registry_records_key,
)
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.registry.records import InstanceInfo
from pysoa_like.registry.store import RegistryStore
from pysoa_like.test.redis import RedisRing, RedisServerProcess


def _polled_cleanly(fleet: FleetRedis) -> tuple[DashboardState, dict[str, Any]]:
    """A dashboard state polled once, and its overview, checked to be what the page can get: valid JSON (no NaN
    or Infinity) and no problem."""
    state = DashboardState(fleet, resolution=1.0, window=60.0, queue_scan=0.0)
    state.poll()
    overview = state.overview()
    json.dumps(overview, allow_nan=False)
    assert overview["problem"] is None
    return state, overview


def test_services_that_do_not_register_are_found_by_their_waiting_requests(
    fleet_server: RedisServerProcess, fleet: FleetRedis
) -> None:
    """Requests waiting for a service that never registered (PySOA 1.4.9) make it a row, with its queue depth."""
    RegistryStore(fleet).register(InstanceInfo(service="orders", instance_id="h:1:a", ttl_seconds=5), 5)
    with fleet_server.client() as client:
        client.rpush("pysoa:service.legacy", b"1", b"2", b"3")
        client.rpush("pysoa:service.orders.0123abcd!89ef", b"a reply")  # a reply queue names no service
    state = DashboardState(fleet, resolution=1.0, window=60.0, queue_scan=0.0)
    state.poll()
    services = {service["name"]: service for service in state.overview()["services"]}
    assert sorted(services) == ["legacy", "orders"]
    legacy = services["legacy"]
    assert (legacy["queue_depth"], legacy["registered"], legacy["instances"]) == (3, False, [])
    assert services["orders"]["registered"] is True and len(services["orders"]["instances"]) == 1


def test_a_stopped_master_of_the_ring_leaves_the_queue_depths_unknown_not_the_page_empty() -> None:
    """With one master of a ring stopped, the services read on the others are shown (a registered one and one found
    by its waiting requests), their queue depths unknown (null: the stopped master may hold some), and no problem."""
    with RedisRing(2) as ring:
        # Given a registered service and a queued one whose registry keys are on the master holding the catalog
        fleet = FleetRedis("redis.standard", {"hosts": ring.urls})
        live = fleet.index_for(REGISTRY_SERVICES_KEY)
        candidates = (f"service{n}" for n in range(20))
        registered, legacy = [n for n in candidates if fleet.index_for(registry_instances_key(n)) == live][:2]
        RegistryStore(fleet).register(InstanceInfo(service=registered, instance_id="h:1:a", ttl_seconds=30), 30)
        with ring[live].client() as client:
            client.rpush(f"pysoa:service.{legacy}", b"1")
        # When the other master stops
        ring[1 - live].stop()
        # Then both services are on the page, their depths unknown
        _state, overview = _polled_cleanly(fleet)
        services = {service["name"]: service["queue_depth"] for service in overview["services"]}
        assert services == {legacy: None, registered: None}
        fleet.close()


def test_request_queues_are_scanned_only_now_and_then(fleet_server: RedisServerProcess, fleet: FleetRedis) -> None:
    """A queue that appears is seen at the next scan, queue_scan seconds after the last one, not at every poll."""
    now = [1000.0]
    state = DashboardState(fleet, resolution=1.0, window=60.0, clock=lambda: now[0], queue_scan=30.0)
    state.poll()
    with fleet_server.client() as client:
        client.rpush("pysoa:service.legacy", b"1")
    now[0] += 29.0
    state.poll()
    assert state.overview()["services"] == []
    now[0] += 1.0
    state.poll()
    assert [service["name"] for service in state.overview()["services"]] == ["legacy"]


def test_records_no_json_answer_can_carry_are_read_safely(fleet_server: RedisServerProcess, fleet: FleetRedis) -> None:
    """A NaN error time is no time (the record is skipped), an infinite start time reads as none, and a record
    nested past the parser's depth is skipped: the overview stays valid JSON and the next poll still works."""
    RegistryStore(fleet).register(InstanceInfo(service="orders", instance_id="h:1:a", ttl_seconds=5), 5)
    with fleet_server.client() as client:
        client.lpush(registry_errors_key("orders"), '{"service": "orders", "code": "X", "time": NaN}')
        client.lpush(registry_errors_key("orders"), "[" * 100_000 + "]" * 100_000)
        client.lpush(registry_errors_key("orders"), '{"service": "orders", "code": "Y", "time": 1e999}')
        client.lpush(registry_errors_key("orders"), '{"service": "orders", "code": "OK", "time": 5}')
        client.hset(registry_actions_key("orders"), "1.0", '{"actions": {"a": {"max": Infinity}}}')
    state, overview = _polled_cleanly(fleet)
    assert [error["code"] for error in overview["recent_errors"]] == ["OK"]
    assert state.actions("orders")["versions"] == {"1.0": {"actions": {"a": {"max": None}}}}


def test_an_unexpected_error_while_polling_is_shown_and_the_next_poll_recovers(
    fleet_server: RedisServerProcess, fleet: FleetRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only Redis failures: any error of a poll becomes the page's problem instead of ending the polling."""
    RegistryStore(fleet).register(InstanceInfo(service="orders", instance_id="h:1:a", ttl_seconds=5), 5)
    state = DashboardState(fleet, resolution=1.0, window=60.0, queue_scan=0.0)

    def broken(service: str, count: int = 0) -> list[Any]:
        raise RuntimeError("unexpected")

    with monkeypatch.context() as patch:
        patch.setattr(state.store, "recent_errors", broken)
        state.poll()
    assert state.overview()["problem"] == "reading the registry failed: RuntimeError: unexpected"
    state.poll()
    assert state.overview()["problem"] is None
    assert [service["name"] for service in state.overview()["services"]] == ["orders"]


def test_an_entry_that_never_expires_is_no_live_worker(fleet_server: RedisServerProcess, fleet: FleetRedis) -> None:
    """A registry entry whose expiry is infinite (no worker writes one) is left out like a malformed record, so
    the overview stays valid JSON; it made every later /api/overview a 500 while the entry stayed (for ever)."""
    store = RegistryStore(fleet)
    store.register(InstanceInfo(service="orders", instance_id="h:1:a", ttl_seconds=5), 5)
    with fleet_server.client() as client:
        client.zadd(registry_instances_key("orders"), {"h:1:b": "inf"})
        client.hset(registry_records_key("orders"), "h:1:b", '{"service": "orders", "instance_id": "h:1:b"}')
    overview = _polled_cleanly(fleet)[1]
    (orders,) = overview["services"]
    assert [instance["instance_id"] for instance in orders["instances"]] == ["h:1:a"]
    assert [instance.instance_id for instance in store.instances("orders")] == ["h:1:a"]


def test_a_service_whose_registry_keys_have_the_wrong_type_is_left_out(
    fleet_server: RedisServerProcess, fleet: FleetRedis
) -> None:
    """A service whose registry keys hold another kind of value (WRONGTYPE) reads as having no workers, errors or
    actions, and the others are shown with no problem; it was a problem for the whole dashboard ("Redis
    unreachable" on the page, nothing listed), for as long as the keys stayed."""
    store = RegistryStore(fleet)
    store.register(InstanceInfo(service="orders", instance_id="h:1:a", ttl_seconds=5), 5)
    store.register(InstanceInfo(service="odd", instance_id="h:2:a", ttl_seconds=5), 5)
    with fleet_server.client() as client:
        client.delete(registry_instances_key("odd"), registry_errors_key("odd"), registry_actions_key("odd"))
        client.set(registry_instances_key("odd"), "not a sorted set")
        client.set(registry_errors_key("odd"), "not a list")
        client.set(registry_actions_key("odd"), "not a hash")
    overview = _polled_cleanly(fleet)[1]
    assert [(service["name"], len(service["instances"])) for service in overview["services"]] == [
        ("odd", 0),
        ("orders", 1),
    ]
    assert (store.instances("odd"), store.recent_errors("odd"), store.actions("odd")) == ([], [], {})
