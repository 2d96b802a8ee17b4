"""The fleet key layout: hash tags, Cluster slots, ring slots, escaping and event names."""

from __future__ import annotations

import pytest

from pysoa_like.fleet import keys


def test_key_slot_matches_redis_cluster() -> None:
    """Slots are Redis Cluster's: CRC16/XMODEM of the hash tag modulo 16384 (values from the Cluster spec)."""
    assert keys.key_slot("123456789") == 0x31C3
    assert keys.key_slot("foo") == 12182
    assert keys.key_slot("{user1000}.following") == keys.key_slot("{user1000}.followers") == keys.key_slot("user1000")


@pytest.mark.parametrize(
    ("key", "tag"),
    [("plain", "plain"), ("a{b}c", "b"), ("a{}c{d}", "a{}c{d}"), ("a{b}{c}", "b"), ("{", "{"), ("x}{y", "x}{y")],
)
def test_hash_tag_follows_cluster_rules(key: str, tag: str) -> None:
    """The hashed part is the first non-empty {...}, else the whole key (an empty {} does not count)."""
    assert keys.hash_tag(key) == tag


def test_keys_of_one_service_or_event_share_a_slot() -> None:
    """A service's registry keys, an event's streams and a task's keys each share one slot (one per command)."""
    assert keys.key_slot(keys.registry_instances_key("orders")) == keys.key_slot(keys.registry_records_key("orders"))
    assert keys.key_slot(keys.registry_errors_key("orders")) == keys.key_slot(keys.registry_actions_key("orders"))
    assert keys.key_slot(keys.event_stream_key("user.created")) == keys.key_slot(keys.dead_letter_key("user.created"))
    assert keys.key_slot(keys.periodic_state_key("orders", "t")) == keys.key_slot(keys.periodic_lock_key("orders", "t"))


def test_documented_key_names() -> None:
    """The keys are the ones the documentation lists."""
    assert keys.REGISTRY_SERVICES_KEY == "pysoa:registry:services"
    assert keys.registry_instances_key("orders") == "pysoa:registry:{orders}:instances"
    assert keys.registry_records_key("orders") == "pysoa:registry:{orders}:records"
    assert keys.registry_errors_key("orders") == "pysoa:registry:{orders}:errors"
    assert keys.registry_actions_key("orders") == "pysoa:registry:{orders}:actions"
    assert keys.event_stream_key("user.created") == "pysoa:events:{user.created}"
    assert keys.dead_letter_key("user.created") == "pysoa:events:{user.created}:dead"
    assert keys.periodic_state_key("orders", "cleanup") == "pysoa:periodic:{orders/cleanup}"
    assert keys.periodic_lock_key("orders", "cleanup") == "pysoa:periodic:{orders/cleanup}:lock"
    assert keys.pool_group("orders") == "pool:orders"


def test_names_that_could_break_a_tag_are_escaped() -> None:
    """Braces, percent signs and slashes in names are percent-encoded, so names never collide or split tags."""
    assert keys.escape_name("a{b}c") == "a%7Bb%7Dc"
    assert keys.escape_name("100%") == "100%25"
    assert keys.periodic_state_key("a/b", "c") != keys.periodic_state_key("a", "b/c")
    assert keys.hash_tag(keys.registry_records_key("x}y")) == "x%7Dy"


def test_ring_index_spreads_by_slot() -> None:
    """Over one master everything is on it; over several, each key goes to its slot modulo the ring size."""
    assert keys.ring_index("anything", 1) == 0
    names = [keys.event_stream_key(f"event.{n}") for n in range(50)]
    assert {keys.ring_index(name, 3) for name in names} == {0, 1, 2}
    assert all(keys.ring_index(name, 3) == keys.key_slot(name) % 3 for name in names)


@pytest.mark.parametrize("name", ["user.created", "a", "orders/paid:v2", "x-y_z", "E" * 200])
def test_valid_event_names(name: str) -> None:
    """Dotted names with letters, digits and . _ - : / are accepted."""
    assert keys.validate_event_name(name) == name


@pytest.mark.parametrize("name", ["", "has space", "{tag}", "é", "E" * 201, None, 5])
def test_invalid_event_names_are_refused_clearly(name: object) -> None:
    """Other names raise a ValueError saying what is allowed."""
    with pytest.raises(ValueError, match="Invalid event name"):
        keys.validate_event_name(name)
