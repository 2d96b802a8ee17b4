"""Redis Cluster: key slots, the slot map read from ``CLUSTER SHARDS`` / ``CLUSTER SLOTS``, and redirections.

Pure and shared by every driver. A driver asks one node for the topology (:data:`TOPOLOGY_COMMANDS`, the first
that the node knows), turns the reply into a :class:`SlotMap` (:func:`slot_map_from_reply`), sends each command
to the master of its key's slot (:func:`key_slot`, or :class:`SlotRing` for the transport's keys) and, when a
node answers ``MOVED`` or ``ASK`` (:func:`parse_redirect`), follows it: ``MOVED`` says the slot now lives
elsewhere (:meth:`SlotMap.move`, and a refresh of the whole map is worth it: a failover moves every slot of a
node at once), ``ASK`` sends that one command to another node, prefixed by ``ASKING``, while the slot migrates.

Every key the transport uses keeps PySOA's name (``pysoa:service.<name>``, ``pysoa:service.<name>.<id>!<thread>``):
none has a hash tag, so each queue is one slot of its own, and every script touches exactly one key.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "CLUSTER_SLOTS",
    "MAXIMUM_REDIRECTS",
    "MINIMUM_REFRESH_INTERVAL_SECONDS",
    "SLOTS_COMMAND",
    "STANDARD_BACKEND_HINT",
    "TOPOLOGY_COMMANDS",
    "ClusterTopology",
    "NodeAddress",
    "Redirect",
    "SlotMap",
    "SlotRing",
    "cluster_down",
    "hash_tag",
    "key_slot",
    "no_master_message",
    "not_a_cluster",
    "parse_redirect",
    "slot_map_from_reply",
    "topology_candidates",
    "topology_commands",
    "topology_error",
    "unknown_command",
]

#: The number of hash slots of a Redis Cluster.
CLUSTER_SLOTS = 16384

#: The topology is read again at most this often (a failover makes every call to the lost master fail until the
#: cluster promotes a replica; each failure asks for a refresh).
MINIMUM_REFRESH_INTERVAL_SECONDS = 0.1

#: How many ``MOVED``/``ASK`` answers one command follows before its error is the caller's (a slot moves once or
#: twice during a resharding or failover; more means the nodes disagree, and the caller's retry policy takes over).
MAXIMUM_REDIRECTS = 5

#: A node's address, as the cluster announces it (or as a startup node was given).
NodeAddress = tuple[str, int]

#: The commands that describe the topology, best first: ``CLUSTER SHARDS`` (Redis 7.0+, with each node's health)
#: and ``CLUSTER SLOTS`` (every version).
TOPOLOGY_COMMANDS: tuple[tuple[str, str], ...] = (("CLUSTER", "SHARDS"), ("CLUSTER", "SLOTS"))
#: The topology command every Redis Cluster knows.
SLOTS_COMMAND = TOPOLOGY_COMMANDS[1]

# Slot lookups of the transport's keys are cached per ring; past this many keys the cache starts again.
_SLOT_CACHE_LIMIT = 4096


def hash_tag(key: str) -> str:
    """The part of ``key`` that Redis Cluster hashes: the first ``{...}`` with something inside, else the key."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def key_slot(key: str | bytes) -> int:
    """The Redis Cluster slot of ``key`` (0 to 16383): CRC-16/XMODEM of its hash tag, modulo 16384.

    Args:
        key: The full key (a ``str`` is encoded as UTF-8, as Redis receives it).
    """
    if isinstance(key, bytes):
        key = key.decode("utf-8", "surrogateescape")
    # binascii.crc_hqx is CRC-CCITT with the given start value: with 0 it is XMODEM, Redis Cluster's checksum.
    return binascii.crc_hqx(hash_tag(key).encode("utf-8", "surrogateescape"), 0) % CLUSTER_SLOTS


class SlotRing:
    """Which slot holds a key, for the transport: the slot itself is the "ring index" of a Cluster backend.

    The counterpart of ``pysoa_like.core.keys.HostRing`` for Redis Cluster. Request keys are not spread
    round-robin here: a key lives in exactly one slot. Slots of keys seen are cached (a transport uses a few).
    """

    __slots__ = ("_cache", "host_count")

    def __init__(self) -> None:
        #: The number of ring indexes (slots).
        self.host_count = CLUSTER_SLOTS
        self._cache: dict[str, int] = {}

    def index_for(self, key: str) -> int:
        """The slot of a FULL Redis key; safe from several threads."""
        slot = self._cache.get(key)
        if slot is None:
            if len(self._cache) >= _SLOT_CACHE_LIMIT:
                self._cache = {}
            slot = self._cache[key] = key_slot(key)
        return slot


class Redirect(NamedTuple):
    """A ``MOVED`` or ``ASK`` answer: the node to send the command to instead."""

    #: True for ``ASK`` (this one command goes to ``address`` after ``ASKING``: the slot is migrating), False for
    #: ``MOVED`` (the slot lives at ``address`` now).
    ask: bool
    #: The slot of the command's key.
    slot: int
    #: ``(host, port)`` of the node to ask.
    address: NodeAddress


def parse_redirect(text: str, replying_host: str = "") -> Redirect | None:
    """The redirection an error reply stands for, or None when it is no ``MOVED``/``ASK`` reply.

    Args:
        text: The error reply's text, e.g. ``"MOVED 3999 127.0.0.1:6381"`` (error code first).
        replying_host: The host of the node that answered, used when the reply names no host (a node that
            does not know its own address answers ``MOVED 3999 :6381``).
    """
    if not (text.startswith("MOVED ") or text.startswith("ASK ")):
        return None
    parts = text.split(" ")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, separator, port = parts[2].rpartition(":")
    if not separator or not port.isdigit():
        return None
    slot = int(parts[1])
    if slot >= CLUSTER_SLOTS:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Redirect(parts[0] == "ASK", slot, (host or replying_host, int(port)))


def cluster_down(text: str) -> bool:
    """Whether an error reply says that the cluster cannot serve the slot now (``CLUSTERDOWN``, ``TRYAGAIN``).

    Both are transient: the cluster lost its quorum or a slot's master (until a failover), or a multi-key
    command met a slot in migration. The topology is worth reading again.
    """
    return text.startswith("CLUSTERDOWN") or text.startswith("TRYAGAIN")


def not_a_cluster(text: str) -> bool:
    """Whether an error reply to a topology command says that the node does not run in cluster mode."""
    return "cluster support disabled" in text


def no_master_message(slot: int, uncovered: int) -> str:
    """What a command for ``slot`` fails with when the slot map gives it no master (``uncovered`` slots have none)."""
    return (
        f"No master of the Redis Cluster serves slot {slot} ({uncovered} of {CLUSTER_SLOTS} slots have none: the "
        "cluster is not fully set up, or lost a master that had no replica)"
    )


#: Appended to a ``MOVED``/``ASK`` error met by a backend that does not follow redirections.
STANDARD_BACKEND_HINT = " (this Redis is a node of a Redis Cluster: use backend_type 'redis.cluster' to reach it)"


def unknown_command(text: str) -> bool:
    """Whether an error reply says that the node does not know the command (``CLUSTER SHARDS`` before Redis 7)."""
    lowered = text.lower()
    return "unknown subcommand" in lowered or "unknown command" in lowered


class SlotMap:
    """Which master serves each slot, and the replicas of each master.

    Args:
        owners: Per slot, the master's address or None (a slot no node serves); :data:`CLUSTER_SLOTS` entries.
        replicas: The replicas of each master.

    Raises:
        ValueError: If ``owners`` does not have one entry per slot.
    """

    __slots__ = ("_owners", "replicas")

    def __init__(self, owners: list[NodeAddress | None], replicas: Mapping[NodeAddress, Sequence[NodeAddress]]) -> None:
        if len(owners) != CLUSTER_SLOTS:
            raise ValueError(f"A slot map has {CLUSTER_SLOTS} slots, not {len(owners)}")
        self._owners = owners
        self.replicas: dict[NodeAddress, tuple[NodeAddress, ...]] = {
            master: tuple(nodes) for master, nodes in replicas.items()
        }

    @classmethod
    def from_ranges(
        cls,
        ranges: Iterable[tuple[int, int, NodeAddress]],
        replicas: Mapping[NodeAddress, Sequence[NodeAddress]] | None = None,
    ) -> SlotMap:
        """A map from ``(first slot, last slot, master)`` ranges (inclusive); slots outside them have no master.

        Raises:
            ValueError: If a range is outside 0..16383 or reversed.
        """
        owners: list[NodeAddress | None] = [None] * CLUSTER_SLOTS
        for first, last, master in ranges:
            if not 0 <= first <= last < CLUSTER_SLOTS:
                raise ValueError(f"Invalid slot range {first}-{last}")
            owners[first : last + 1] = [master] * (last - first + 1)
        return cls(owners, replicas or {})

    def node_for(self, slot: int) -> NodeAddress | None:
        """The master serving ``slot``, or None when no node serves it."""
        return self._owners[slot]

    def move(self, slot: int, address: NodeAddress) -> None:
        """Record that ``slot`` now lives at ``address`` (what a ``MOVED`` reply says)."""
        self._owners[slot] = address

    @property
    def masters(self) -> list[NodeAddress]:
        """The masters serving at least one slot, in slot order."""
        return list(dict.fromkeys(owner for owner in self._owners if owner is not None))

    @property
    def nodes(self) -> list[NodeAddress]:
        """Every node known: the masters, then their replicas."""
        masters = self.masters
        known = dict.fromkeys(masters)
        for master in masters:
            known.update(dict.fromkeys(self.replicas.get(master, ())))
        return list(known)

    @property
    def uncovered(self) -> int:
        """How many slots no node serves (0 in a healthy cluster)."""
        return self._owners.count(None)

    def master_slots(self) -> list[int]:
        """One slot of each master (its first): a ring index per master, to run a command on every master."""
        seen: dict[NodeAddress, int] = {}
        for slot, owner in enumerate(self._owners):
            if owner is not None and owner not in seen:
                seen[owner] = slot
        return list(seen.values())


class ClusterTopology:
    """The slot map a driver holds, and when to read it again (the driver reads it, and tells the time).

    A map is read when there is none, and again once something asked for it (:meth:`invalidate` after a
    connection failure or ``CLUSTERDOWN``, a ``MOVED`` answer, a slot without master), at most every
    :data:`MINIMUM_REFRESH_INTERVAL_SECONDS`.
    """

    __slots__ = ("_next_refresh", "_refresh_due", "slot_map")

    def __init__(self) -> None:
        #: The latest map read, or None before the first.
        self.slot_map: SlotMap | None = None
        self._refresh_due = True
        self._next_refresh = 0.0

    def stale(self, now: float) -> bool:
        """Whether to read the topology before using the map (``now``: the driver's monotonic clock)."""
        return self.slot_map is None or (self._refresh_due and now >= self._next_refresh)

    def reading(self, now: float) -> None:
        """A read starts now (the next one waits for the minimum interval, whatever this one finds)."""
        self._next_refresh = now + MINIMUM_REFRESH_INTERVAL_SECONDS

    def read(self, slot_map: SlotMap) -> None:
        """A read found ``slot_map``."""
        self.slot_map = slot_map
        self._refresh_due = False

    def invalidate(self) -> None:
        """Read the map again before the next command (after an error: a failover?)."""
        self._refresh_due = True

    def master_of(self, slot: int) -> NodeAddress | None:
        """The master serving ``slot`` in the current map (a read must have found one); None asks for a read.

        Raises:
            ValueError: No map was read yet.
        """
        if self.slot_map is None:
            raise ValueError("No slot map was read yet")
        address = self.slot_map.node_for(slot)
        if address is None:
            self._refresh_due = True
        return address

    def note_redirect(self, redirect: Redirect) -> None:
        """A ``MOVED`` answer: the slot lives elsewhere now, and others may have moved with it (read them again).

        An ``ASK`` answer changes nothing: the slot is still served here until its migration ends.
        """
        if redirect.ask:
            return
        if self.slot_map is not None:
            self.slot_map.move(redirect.slot, redirect.address)
        self._refresh_due = True


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _fields(value: Any) -> dict[str, Any]:
    """A reply's map: RESP3 gives a dict, RESP2 a flat list of names and values."""
    if isinstance(value, Mapping):
        return {_text(name): item for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return {_text(value[i]): value[i + 1] for i in range(0, len(value) - 1, 2)}
    return {}


def _endpoint(host: Any, asked_host: str) -> str:
    text = _text(host) if host is not None else ""
    # "" or "?": the node does not know its own address; the one that answered does.
    return asked_host if text in ("", "?") else text


def _slots_node(node: Any, asked_host: str) -> NodeAddress:
    if not isinstance(node, (list, tuple)) or len(node) < 2:
        raise ValueError(f"a node is [host, port, id, ...], not {node!r}")
    return _endpoint(node[0], asked_host), int(node[1])


def _from_slots(reply: Any, asked_host: str) -> SlotMap:
    ranges: list[tuple[int, int, NodeAddress]] = []
    replicas: dict[NodeAddress, list[NodeAddress]] = {}
    for entry in reply or ():
        first, last, master_node, *replica_nodes = entry
        master = _slots_node(master_node, asked_host)
        ranges.append((int(first), int(last), master))
        known = replicas.setdefault(master, [])
        for node in replica_nodes:
            address = _slots_node(node, asked_host)
            if address not in known:
                known.append(address)
    return SlotMap.from_ranges(ranges, replicas)


def _shard_node_address(node: Mapping[str, Any], asked_host: str, tls: bool) -> NodeAddress | None:
    port = node.get("tls-port") if tls else node.get("port")
    if port is None:
        port = node.get("port") if tls else node.get("tls-port")
    if port is None:
        return None
    host = node.get("endpoint")
    if host is None or _text(host) in ("", "?"):
        host = node.get("ip")
    return _endpoint(host, asked_host), int(port)


def _from_shards(reply: Any, asked_host: str, tls: bool) -> SlotMap:
    ranges: list[tuple[int, int, NodeAddress]] = []
    replicas: dict[NodeAddress, list[NodeAddress]] = {}
    for entry in reply or ():
        shard = _fields(entry)
        bounds = [int(bound) for bound in shard.get("slots") or ()]
        nodes = [_fields(node) for node in shard.get("nodes") or ()]
        masters = [node for node in nodes if _text(node.get("role", "")) == "master"]
        if not bounds or not masters:
            continue
        # A failed master stays listed until its replica is promoted; an online one is preferred if both show.
        masters.sort(key=lambda node: _text(node.get("health", "")) != "online")
        master = _shard_node_address(masters[0], asked_host, tls)
        if master is None:
            continue
        for position in range(0, len(bounds) - 1, 2):
            ranges.append((bounds[position], bounds[position + 1], master))
        known = replicas.setdefault(master, [])
        for node in nodes:
            if node is masters[0]:
                continue
            address = _shard_node_address(node, asked_host, tls)
            if address is not None and address != master and address not in known:
                known.append(address)
    return SlotMap.from_ranges(ranges, replicas)


def topology_candidates(
    current: SlotMap | None, startup_nodes: Sequence[NodeAddress], shuffle: Callable[[list[NodeAddress]], None]
) -> list[NodeAddress]:
    """The nodes to ask for the topology, in order: the known ones (shuffled, so that no node gets every
    refresh), then the startup nodes not among them."""
    known = current.nodes if current is not None else []
    shuffle(known)
    return list(dict.fromkeys([*known, *startup_nodes]))


def topology_commands(slots_only: bool) -> tuple[tuple[str, str], ...]:
    """The topology commands to try on a node, best first (only ``CLUSTER SLOTS`` once a node lacked SHARDS)."""
    return (SLOTS_COMMAND,) if slots_only else TOPOLOGY_COMMANDS


def topology_error(command: Sequence[str], text: str) -> str:
    """What an error reply to a topology command means: ``"older"`` (the node lacks ``CLUSTER SHARDS``: ask
    ``CLUSTER SLOTS``, and only it from now on), else the problem to report for this node.

    Raises:
        ValueError: The node does not run in cluster mode (the message says which backend to use instead).
    """
    if not_a_cluster(text):
        raise ValueError("this Redis does not run in cluster mode (use backend_type 'redis.standard' for it)")
    if tuple(command) != SLOTS_COMMAND and unknown_command(text):
        return "older"
    return text


def slot_map_from_reply(command: Sequence[str], reply: Any, asked_host: str, tls: bool = False) -> SlotMap:
    """The slot map a node's answer to a topology command describes.

    Args:
        command: The command sent, one of :data:`TOPOLOGY_COMMANDS`.
        reply: The node's reply as parsed RESP (RESP2 lists or RESP3 maps; bytes or str).
        asked_host: The host the command was sent to, for nodes listed without an address.
        tls: Whether the connections use TLS (``CLUSTER SHARDS`` then gives each node's ``tls-port``).

    Raises:
        ValueError: If the reply does not have the command's shape.
    """
    try:
        if tuple(command) == TOPOLOGY_COMMANDS[0]:
            return _from_shards(reply, asked_host, tls)
        return _from_slots(reply, asked_host)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"Unexpected reply to {' '.join(command)}: {exc}") from exc
