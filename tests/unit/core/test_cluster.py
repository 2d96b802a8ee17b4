"""Redis Cluster rules of the sans-I/O core: key slots, redirections and the slot map read from topology replies."""

from __future__ import annotations

import pytest

from pysoa_like.core.cluster import (
    CLUSTER_SLOTS,
    MINIMUM_REFRESH_INTERVAL_SECONDS,
    SLOTS_COMMAND,
    TOPOLOGY_COMMANDS,
    ClusterTopology,
    Redirect,
    SlotMap,
    SlotRing,
    cluster_down,
    hash_tag,
    key_slot,
    no_master_message,
    not_a_cluster,
    parse_redirect,
    slot_map_from_reply,
    topology_candidates,
    topology_commands,
    topology_error,
    unknown_command,
)

SHARDS_COMMAND = TOPOLOGY_COMMANDS[0]


@pytest.mark.parametrize(
    ("key", "slot"),
    [
        # Values Redis' own CLUSTER KEYSLOT gives.
        ("123456789", 12739),
        ("foo", 12182),
        ("pysoa:service.echo", 9523),
        ("{user1000}.following", 3443),
        ("user1000", 3443),
        ("foo{}{bar}", 8363),
        ("foo{{bar}}zap", 4015),
        ("", 0),
    ],
)
def test_key_slot_is_redis_cluster_keyslot(key: str, slot: int) -> None:
    """key_slot gives what CLUSTER KEYSLOT answers, hash tags included (bytes keys alike)."""
    assert key_slot(key) == slot
    assert key_slot(key.encode()) == slot


def test_hash_tag_is_the_first_non_empty_braces() -> None:
    """Only the first {...} with something inside is hashed; PySOA's queue keys have none."""
    assert hash_tag("pysoa:registry:{svc}:records") == "svc"
    assert hash_tag("a{}b{c}") == "a{}b{c}"
    assert hash_tag("pysoa:service.echo.0123!ab") == "pysoa:service.echo.0123!ab"


def test_slot_ring_gives_each_key_its_slot() -> None:
    """The ring of a Cluster backend maps every key, request or reply, to its own slot (no round-robin)."""
    ring = SlotRing()
    assert ring.host_count == CLUSTER_SLOTS
    request = "pysoa:service.echo"
    reply = "pysoa:service.echo.abc!7f"
    assert [ring.index_for(request) for _ in range(3)] == [key_slot(request)] * 3
    assert ring.index_for(reply) == key_slot(reply)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MOVED 3999 127.0.0.1:6381", Redirect(False, 3999, ("127.0.0.1", 6381))),
        ("ASK 3999 10.0.0.5:7000", Redirect(True, 3999, ("10.0.0.5", 7000))),
        ("MOVED 12 [::1]:7001", Redirect(False, 12, ("::1", 7001))),
        ("MOVED 12 redis-0.example:7001", Redirect(False, 12, ("redis-0.example", 7001))),
        ("MOVED 12 :7001", Redirect(False, 12, ("node-host", 7001))),
    ],
)
def test_parse_redirect(text: str, expected: Redirect) -> None:
    """MOVED and ASK name the slot and the node; a node that does not know its host leaves it to the asker's."""
    assert parse_redirect(text, "node-host") == expected


@pytest.mark.parametrize(
    "text", ["ERR unknown command", "MOVED", "MOVED abc 1.2.3.4:5", "MOVED 20000 h:1", "ASK 1 host", "MOVEDX 1 h:2"]
)
def test_other_errors_are_no_redirect(text: str) -> None:
    """Anything that is not a well-formed MOVED/ASK is not followed."""
    assert parse_redirect(text) is None


def test_error_kinds() -> None:
    """CLUSTERDOWN and TRYAGAIN are transient; a standalone Redis and an old one are recognised."""
    assert cluster_down("CLUSTERDOWN The cluster is down")
    assert cluster_down("TRYAGAIN Multiple keys request during rehashing of slot")
    assert not cluster_down("ERR wrong number of arguments")
    assert not_a_cluster("ERR This instance has cluster support disabled")
    assert unknown_command("ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.")
    assert unknown_command("ERR Unknown subcommand or wrong number of arguments for 'SHARDS'. Try CLUSTER HELP.")


def test_topology_errors_say_what_to_do() -> None:
    """A node lacking CLUSTER SHARDS means: ask CLUSTER SLOTS; a standalone Redis is refused by name."""
    assert topology_error(SHARDS_COMMAND, "ERR unknown subcommand 'SHARDS'. Try CLUSTER HELP.") == "older"
    assert topology_error(SLOTS_COMMAND, "ERR unknown subcommand 'SLOTS'") == "ERR unknown subcommand 'SLOTS'"
    assert topology_error(SHARDS_COMMAND, "NOPERM no rights") == "NOPERM no rights"
    with pytest.raises(ValueError, match=r"does not run in cluster mode \(use backend_type 'redis\.standard'"):
        topology_error(SLOTS_COMMAND, "ERR This instance has cluster support disabled")
    assert topology_commands(False) == TOPOLOGY_COMMANDS
    assert topology_commands(True) == (SLOTS_COMMAND,)


def test_topology_is_asked_of_known_nodes_first_then_startup_nodes() -> None:
    """Known nodes (masters and replicas, in the given shuffle's order) come before the startup nodes not known."""
    current = SlotMap.from_ranges(
        [(0, 8000, ("h", 1)), (8001, CLUSTER_SLOTS - 1, ("h", 2))], {("h", 1): [("h", 3)], ("h", 2): []}
    )
    assert topology_candidates(current, [("h", 2), ("s", 9)], lambda nodes: nodes.reverse()) == [
        ("h", 3),
        ("h", 2),
        ("h", 1),
        ("s", 9),
    ]
    assert topology_candidates(None, [("s", 9), ("s", 9)], lambda nodes: None) == [("s", 9)]


def test_the_topology_is_read_when_asked_for_at_most_every_interval() -> None:
    """No map: read now. After a read, only an error, a MOVED or a slot without master asks for another, and
    never sooner than the minimum interval after the previous read began."""
    topology = ClusterTopology()
    assert topology.stale(0.0)
    topology.reading(0.0)
    topology.read(SlotMap.from_ranges([(0, 100, ("a", 1))]))
    assert not topology.stale(10.0)
    assert topology.master_of(5) == ("a", 1)
    # A MOVED answer moves the slot at once, and asks for a read once the interval has passed.
    topology.note_redirect(Redirect(False, 5, ("b", 2)))
    assert topology.master_of(5) == ("b", 2)
    assert topology.stale(MINIMUM_REFRESH_INTERVAL_SECONDS)
    topology.reading(10.0)
    assert not topology.stale(10.0 + MINIMUM_REFRESH_INTERVAL_SECONDS / 2)
    topology.read(SlotMap.from_ranges([(0, 100, ("a", 1))]))
    # ASK changes nothing; an error or a slot without master asks for a read.
    topology.note_redirect(Redirect(True, 5, ("b", 2)))
    assert not topology.stale(20.0)
    assert topology.master_of(500) is None
    assert topology.stale(20.0)
    topology.read(SlotMap.from_ranges([(0, 100, ("a", 1))]))
    topology.invalidate()
    assert topology.stale(20.0)


def test_a_slot_without_master_is_explained() -> None:
    """The error for a slot no master serves names the slot and how many slots have none."""
    message = no_master_message(42, 5461)
    assert "slot 42" in message and "5461 of 16384" in message


def _slots_reply() -> list[object]:
    # CLUSTER SLOTS as redis-py or the core's parser returns it (RESP2, bytes).
    return [
        [0, 5460, [b"127.0.0.1", 7000, b"id-a"], [b"127.0.0.1", 7003, b"id-d"]],
        [5461, 10922, [b"", 7001, b"id-b"], [b"127.0.0.1", 7004, b"id-e"]],
        [10923, 16000, [b"127.0.0.1", 7002, b"id-c", [b"hostname", b"c"]]],
        [16001, 16383, [b"127.0.0.1", 7000, b"id-a"], [b"127.0.0.1", 7003, b"id-d"]],
    ]


def test_slot_map_from_cluster_slots() -> None:
    """CLUSTER SLOTS ranges give each slot's master; a master listed with no host is the asked node's host."""
    slot_map = slot_map_from_reply(SLOTS_COMMAND, _slots_reply(), "10.1.1.1")
    assert slot_map.node_for(0) == ("127.0.0.1", 7000)
    assert slot_map.node_for(5461) == ("10.1.1.1", 7001)
    assert slot_map.node_for(16383) == ("127.0.0.1", 7000)
    assert slot_map.masters == [("127.0.0.1", 7000), ("10.1.1.1", 7001), ("127.0.0.1", 7002)]
    assert slot_map.replicas[("127.0.0.1", 7000)] == (("127.0.0.1", 7003),)
    assert ("127.0.0.1", 7004) in slot_map.nodes
    assert slot_map.uncovered == 0
    assert slot_map.master_slots() == [0, 5461, 10923]


def _flat(**fields: object) -> list[object]:
    flat: list[object] = []
    for name, value in fields.items():
        flat += [name.replace("_", "-").encode(), value]
    return flat


def test_slot_map_from_cluster_shards_resp2_prefers_the_online_master() -> None:
    """CLUSTER SHARDS (flat RESP2 lists): the shard's master (online before failed) serves its ranges."""
    reply = [
        _flat(
            slots=[0, 99, 200, 16383],
            nodes=[
                _flat(id=b"a", port=7000, ip=b"127.0.0.1", endpoint=b"127.0.0.1", role=b"master", health=b"fail"),
                _flat(id=b"b", port=7003, ip=b"127.0.0.1", endpoint=b"127.0.0.1", role=b"master", health=b"online"),
            ],
        ),
        _flat(
            slots=[100, 199],
            nodes=[
                _flat(id=b"c", port=7001, ip=b"127.0.0.2", endpoint=b"?", role=b"master", health=b"online"),
                _flat(id=b"d", port=7004, ip=b"127.0.0.2", endpoint=b"", role=b"replica", health=b"online"),
            ],
        ),
        _flat(slots=[], nodes=[_flat(id=b"e", port=7009, ip=b"127.0.0.1", role=b"master", health=b"online")]),
    ]
    slot_map = slot_map_from_reply(SHARDS_COMMAND, reply, "asked")
    assert slot_map.node_for(50) == ("127.0.0.1", 7003)
    assert slot_map.node_for(150) == ("127.0.0.2", 7001)
    assert slot_map.node_for(300) == ("127.0.0.1", 7003)
    assert slot_map.replicas[("127.0.0.2", 7001)] == (("127.0.0.2", 7004),)
    assert ("127.0.0.1", 7009) not in slot_map.nodes


def test_slot_map_from_cluster_shards_resp3_and_tls_ports() -> None:
    """CLUSTER SHARDS as RESP3 maps; over TLS each node's tls-port is used."""
    node = {"id": "a", "port": 7000, "tls-port": 17000, "ip": "127.0.0.1", "role": "master", "health": "online"}
    tls_only = {"id": "b", "tls-port": 17001, "ip": "127.0.0.1", "role": "replica", "health": "online"}
    reply = [{"slots": [0, CLUSTER_SLOTS - 1], "nodes": [node, tls_only]}]
    assert slot_map_from_reply(SHARDS_COMMAND, reply, "x", tls=True).node_for(7) == ("127.0.0.1", 17000)
    plain = slot_map_from_reply(SHARDS_COMMAND, reply, "x", tls=False)
    assert plain.node_for(7) == ("127.0.0.1", 7000)
    assert plain.replicas[("127.0.0.1", 7000)] == (("127.0.0.1", 17001),)


def test_a_malformed_topology_reply_is_a_value_error() -> None:
    """A reply of the wrong shape is reported as such, naming the command."""
    with pytest.raises(ValueError, match="CLUSTER SLOTS"):
        slot_map_from_reply(SLOTS_COMMAND, [[0, 5, b"not a node"]], "h")
    with pytest.raises(ValueError, match="Invalid slot range"):
        slot_map_from_reply(SLOTS_COMMAND, [[5, 2, [b"h", 1, b"id"]]], "h")


def test_moves_and_uncovered_slots() -> None:
    """A MOVED answer moves one slot; slots without a master are counted."""
    slot_map = SlotMap.from_ranges([(0, 99, ("a", 1))])
    assert slot_map.uncovered == CLUSTER_SLOTS - 100
    assert slot_map.node_for(100) is None
    slot_map.move(5, ("b", 2))
    assert slot_map.node_for(5) == ("b", 2)
    assert slot_map.masters == [("a", 1), ("b", 2)]
    with pytest.raises(ValueError):
        SlotMap([None], {})
