"""Redis keys: the names of request and reply queues (PROTOCOL.md section 1) and which host holds each (section 2).

Reply keys (any key containing ``!``) are hashed, so the server pushing a reply and the client waiting for it
pick the same host without talking to each other. Request keys go round-robin, starting at a random host.
A reply queue name is checked by ``reply_to_problem`` (defined with the envelope rules); ``reply_address`` says
where a server answers a message it cannot serve.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

from pysoa_like.core.constants import (
    QUEUE_NAME_PREFIX,
    REPLY_QUEUE_MARKER,
    SERVICE_QUEUE_NAME_PREFIX,
)
from pysoa_like.core.message import MAXIMUM_REPLY_TO_LENGTH, reply_to_problem

__all__ = [
    "MAXIMUM_REPLY_TO_LENGTH",
    "HostRing",
    "choose_host_index",
    "make_reply_to",
    "make_request_host_cycle",
    "new_client_id",
    "new_reply_queue_suffix",
    "queue_key",
    "queue_name_of",
    "reply_address",
    "reply_key_host_index",
    "reply_to_problem",
    "request_queue_key",
    "request_queue_name",
    "validate_service_name",
]


def validate_service_name(service_name: str) -> str:
    """Check that a service name can name a request queue.

    Args:
        service_name: The name to check.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: If the name is empty, not a string, or contains ``!``, which would make every peer treat
            the request queue as a reply queue and send it to a hashed host instead of round-robin.
    """
    if not isinstance(service_name, str) or not service_name:
        raise ValueError(f"A service name must be a non-empty string, got {service_name!r}")
    if REPLY_QUEUE_MARKER in service_name:
        raise ValueError(
            f"Service name {service_name!r} contains {REPLY_QUEUE_MARKER!r}, which Redis Gateway reserves for reply "
            f"queues; choose a name without it"
        )
    return service_name


def queue_key(queue_name: str) -> str:
    """The Redis key of a queue: ``pysoa:`` + its name (a request queue's name, or a request's ``reply_to``).

    The one place the key prefix is added; the transport speaks of queues by name.
    """
    return QUEUE_NAME_PREFIX + queue_name


def queue_name_of(key: str) -> str:
    """The queue name of a key made by :func:`queue_key`."""
    return key[len(QUEUE_NAME_PREFIX) :]


def request_queue_name(service_name: str) -> str:
    """The name of a service's request queue, ``service.<name>`` (its key without the ``pysoa:`` prefix).

    Args:
        service_name: The service name, used as given (no escaping).
    """
    return SERVICE_QUEUE_NAME_PREFIX + service_name


def request_queue_key(service_name: str) -> str:
    """The Redis key of a service's request queue, ``pysoa:service.<name>``.

    Args:
        service_name: The service name, used as given (no escaping).

    Returns:
        The full Redis key.

    Raises:
        ValueError: If the service name is not valid (see :func:`validate_service_name`).
    """
    return queue_key(request_queue_name(validate_service_name(service_name)))


def new_client_id() -> str:
    """A fresh client id for reply queue names: 32 lowercase hex characters of a random UUID."""
    return uuid.uuid4().hex


def new_reply_queue_suffix() -> str:
    """The part after ``!`` of a thread's reply queue name (``thread_hex`` of ``make_reply_to``): 64 random bits
    as 16 hex digits.

    PySOA put the thread's id there, so knowing one thread's reply list told where its neighbours' were.
    """
    return os.urandom(8).hex()


def make_reply_to(service_name: str, client_id: str, thread_hex: str) -> str:
    """The ``reply_to`` value a client puts in request ``meta``: ``service.<S>.<client_id>!<thread_hex>``.

    Args:
        service_name: The called service.
        client_id: The client transport's id (see :func:`new_client_id`).
        thread_hex: The calling thread's id as hex (see ``get_hex_thread_id``).

    Returns:
        The reply queue name without the ``pysoa:`` key prefix; it always contains ``!``.

    Raises:
        ValueError: If the service name is not valid, or the client id or thread id contains ``!``.
    """
    validate_service_name(service_name)
    if REPLY_QUEUE_MARKER in client_id or REPLY_QUEUE_MARKER in thread_hex:
        raise ValueError(f"Neither the client id nor the thread id may contain {REPLY_QUEUE_MARKER!r}")
    return f"{SERVICE_QUEUE_NAME_PREFIX}{service_name}.{client_id}{REPLY_QUEUE_MARKER}{thread_hex}"


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
    """An endless round-robin over the ring's indexes in ring order from a random start, for request queues.

    PySOA walks a random permutation; a rotation of the ring order is one of them, so peers cannot tell. Every
    pysoa_like transport walking the ring in the same direction is what keeps a client calling a worker one call
    at a time in step with it on any number of masters (once the first call found the worker, each next request
    goes where the worker waits next); two random permutations of three or more masters may run in opposite
    directions, and then every call waited out a receive timeout on the wrong master.

    Args:
        host_count: The number of hosts in the ring (at least 1).
        rng: The random source of the start (the module's global one by default).

    Returns:
        An iterator that never ends; ``next()`` on it is safe from several threads.

    Raises:
        ValueError: If ``host_count`` is less than 1.
    """
    if host_count < 1:
        raise ValueError(f"A Redis ring needs at least one host, got {host_count}")
    start = (rng or random).randrange(host_count)
    return itertools.cycle([*range(start, host_count), *range(start)])


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
        rng: The random source of the round-robin's start.

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


def reply_address(message: Any) -> tuple[Any, dict[str, Any]] | None:
    """Where a server can answer a message it cannot serve: ``(request_id, meta)``, or None.

    Only the envelope's top level is trusted: ``message`` must be a map with a non-null ``request_id`` and a
    ``meta`` map whose ``reply_to`` is a valid reply queue name (:func:`reply_to_problem`). The body, the expiry
    and everything else may be wrong: that is what the answer reports.

    Args:
        message: What the payload deserialized to.
    """
    if not isinstance(message, dict):
        return None
    request_id = message.get("request_id")
    meta = message.get("meta")
    if request_id is None or not isinstance(meta, dict) or reply_to_problem(meta.get("reply_to")) is not None:
        return None
    return request_id, meta
