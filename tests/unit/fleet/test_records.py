"""Registry records: the stored JSON and its tolerant reading."""

from __future__ import annotations

import json

from pysoa_like.registry.records import InstanceInfo, RecentError, ServiceInfo


def _instance(**overrides: object) -> InstanceInfo:
    values: dict[str, object] = {
        "service": "orders",
        "instance_id": "host:1:abcd",
        "version": "1.2.0",
        "host": "host",
        "pid": 1,
        "fork_id": 2,
        "started_at": 100.5,
        "actions": ("introspect", "status"),
        "events": (("user.created", "pool"),),
        "periodic_tasks": ("cleanup",),
        "deprecated_actions": {"old": "use new"},
        "in_flight": 1,
        "jobs_handled": 7,
        "jobs_failed": 2,
        "dependencies": {"billing": {"available": True}},
        "ttl_seconds": 15.0,
    }
    values.update(overrides)
    return InstanceInfo(**values)  # type: ignore[arg-type]


def test_record_round_trips_through_json() -> None:
    """What a worker writes reads back equal, with the expiry taken from the registry's score."""
    original = _instance()
    assert InstanceInfo.from_json(original.to_json(), 0.0) == original
    read = InstanceInfo.from_json(original.to_json(), 1000.0)
    assert read is not None and read.expires_at == 1000.0 and read.refreshed_at == 985.0


def test_unknown_keys_are_ignored_and_missing_ones_defaulted() -> None:
    """A record from a newer or older worker still reads: extra keys dropped, missing ones given defaults."""
    text = json.dumps({"service": "orders", "instance_id": "i", "future_key": [1], "pid": "not a number"})
    read = InstanceInfo.from_json(text, 5.0)
    assert read == InstanceInfo(service="orders", instance_id="i", expires_at=5.0)


def test_records_that_are_not_records_are_skipped() -> None:
    """Junk, a JSON list, or a record without service or instance id reads as None."""
    assert InstanceInfo.from_json(b"\xff", 0) is None
    assert InstanceInfo.from_json("[1]", 0) is None
    assert InstanceInfo.from_json('{"service": "x"}', 0) is None


def test_service_aggregates_its_instances() -> None:
    """A service's versions (oldest first, unique), in-flight jobs, concurrency and events come from its instances."""
    service = ServiceInfo(
        "orders",
        (
            _instance(instance_id="a", version="1.10.0", in_flight=1),
            _instance(instance_id="b", version="1.9.0", in_flight=0),
            _instance(instance_id="c", version="1.10.0", in_flight=1, events=(("x", "broadcast"),)),
        ),
        queue_depth=4,
    )
    assert service.versions == ("1.9.0", "1.10.0")
    assert service.in_flight == 2
    assert service.concurrency == 3
    assert service.events == (("user.created", "pool"), ("x", "broadcast"))
    summary = service.to_dict()
    assert summary["queue_depth"] == 4 and [i["instance_id"] for i in summary["instances"]] == ["a", "b", "c"]


def test_recent_error_round_trips_through_json() -> None:
    """An error record reads back equal; its dict form has every attribute."""
    error = RecentError("orders", "h:1:ab", 12.5, "req-1", "corr-1", "create", "INVALID", "Missing", "body.x", True)
    assert RecentError.from_json(error.to_json()) == error
    assert error.to_dict()["field"] == "body.x"


def test_recent_error_records_that_are_not_records_are_skipped() -> None:
    """Text that is not JSON, or lacks a service, a code or a time, reads as None; optional keys default."""
    assert RecentError.from_json("nope") is None
    assert RecentError.from_json(json.dumps({"service": "orders", "code": "X"})) is None
    assert RecentError.from_json(json.dumps({"code": "X", "time": 1})) is None
    read = RecentError.from_json(json.dumps({"service": "orders", "code": "X", "time": 1, "future_key": 1}))
    assert read == RecentError("orders", "", 1.0, None, None, None, "X", "", None, False)
