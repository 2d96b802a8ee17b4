"""Redis key names: service request queues and per-thread reply queues (PROTOCOL.md section 1)."""

from __future__ import annotations

import uuid

from pysoa_like.core.constants import (
    QUEUE_NAME_PREFIX,
    REPLY_QUEUE_MARKER,
    SERVICE_QUEUE_NAME_PREFIX,
)

__all__ = [
    "MAXIMUM_REPLY_TO_LENGTH",
    "make_reply_to",
    "new_client_id",
    "queue_key",
    "queue_name_of",
    "reply_to_problem",
    "request_queue_key",
    "request_queue_name",
    "validate_service_name",
]

#: The longest ``reply_to`` a server answers (PySOA's are about 60 characters plus the service name).
MAXIMUM_REPLY_TO_LENGTH = 1024


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


def reply_to_problem(reply_to: object) -> str | None:
    """Why a server must not push a reply to ``reply_to``, or None when it may.

    A reply queue name is a non-empty string of at most :data:`MAXIMUM_REPLY_TO_LENGTH` characters containing
    ``!``, as every PySOA client builds it. The marker is what keeps replies out of request queues: no service
    name contains it, so a request naming its own service's queue (or another service's) as its reply queue
    cannot make servers answer each other forever.

    Args:
        reply_to: The ``reply_to`` value of a request's ``meta`` (any type, as received).

    Returns:
        A short description of the problem, or None.
    """
    if type(reply_to) is not str:
        return "the reply queue name is missing" if reply_to is None else "the reply queue name is not a string"
    if REPLY_QUEUE_MARKER not in reply_to:
        if not reply_to:
            return "the reply queue name is empty"
        return f"the reply queue name has no {REPLY_QUEUE_MARKER!r}, so it is not a reply queue"
    if len(reply_to) > MAXIMUM_REPLY_TO_LENGTH:
        return f"the reply queue name is longer than {MAXIMUM_REPLY_TO_LENGTH} characters"
    return None
