"""Which Redis host of the ring a key lives on (PROTOCOL.md section 2).

Reply keys (any key containing ``!``) are hashed, so the server pushing a reply and the client waiting for it
pick the same host without talking to each other. Request keys go round-robin, starting at a random host.
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Iterator

from pysoa_like.core.constants import REPLY_QUEUE_MARKER

__all__ = ["HostRing", "choose_host_index", "make_request_host_cycle", "reply_key_host_index"]

# Only the low 12 bits of the CRC-32 take part in the hash.
_HASH_MASK = 0xFFF
_HASH_SPACE = 4096.0


def reply_key_host_index(key: str, host_count: int) -> int:
    """The ring index of the host that holds a reply key, exactly as PySOA computes it.

    The float division matters: it differs from the integer form ``low12 * n // 4096`` from ``n = 186`` on.

    Args:
        key: The FULL Redis key, ``pysoa:`` prefix included.
        host_count: The number of hosts in the ring (at least 1).

    Returns:
        An index in ``range(host_count)``.

    Raises:
        ValueError: If ``host_count`` is less than 1.
    """
    if host_count < 1:
        raise ValueError(f"A Redis ring needs at least one host, got {host_count}")
    low_bits = zlib.crc32(key.encode("utf-8")) & _HASH_MASK
    return int(low_bits / (_HASH_SPACE / host_count))


def make_request_host_cycle(host_count: int, rng: random.Random | None = None) -> Iterator[int]:
    """An endless round-robin over a random permutation of the ring's indexes, for request queues.

    Draw one per backend (per process and backend settings) and share it, as PySOA does.

    Args:
        host_count: The number of hosts in the ring (at least 1).
        rng: The random source for the permutation (the module's global one by default).

    Returns:
        An iterator that never ends; ``next()`` on it is safe from several threads.

    Raises:
        ValueError: If ``host_count`` is less than 1.
    """
    if host_count < 1:
        raise ValueError(f"A Redis ring needs at least one host, got {host_count}")
    order = list(range(host_count))
    (rng or random).shuffle(order)
    return itertools.cycle(order)


def choose_host_index(key: str, host_count: int, request_cycle: Iterator[int]) -> int:
    """The ring index to use for a key, on send and receive alike.

    Args:
        key: The FULL Redis key.
        host_count: The number of hosts in the ring.
        request_cycle: The backend's round-robin (see :func:`make_request_host_cycle`).

    Returns:
        The hashed index for keys containing ``!`` anywhere, else the next index of the round-robin.
    """
    if host_count == 1:
        return 0
    if REPLY_QUEUE_MARKER in key:
        return reply_key_host_index(key, host_count)
    return next(request_cycle)


class HostRing:
    """Which host of a ring of ``host_count`` serves a key: hashed for reply keys, round-robin for the others.

    Each user of a ring (each transport) walks its own round-robin: one cycle shared by several server
    transports of a process (PySOA's way) can lock them into step, each polling only some masters forever,
    so that requests on the other masters are never served.

    Args:
        host_count: The number of hosts (at least 1).
        rng: The random source of the round-robin's starting permutation.

    Raises:
        ValueError: If ``host_count`` is less than 1.
    """

    __slots__ = ("_cycle", "host_count")

    def __init__(self, host_count: int, rng: random.Random | None = None) -> None:
        self.host_count = host_count
        self._cycle = make_request_host_cycle(host_count, rng)

    def index_for(self, key: str) -> int:
        """The host index for a FULL Redis key (see :func:`choose_host_index`); safe from several threads."""
        return choose_host_index(key, self.host_count, self._cycle)
