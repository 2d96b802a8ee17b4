"""What a call that timed out tells its caller: whether any worker took the request at all.

Checked only once a receive has timed out (one ``LLEN`` of the service's request list, on each master of a ring,
given at most :data:`QUEUE_CHECK_SECONDS` in all), so calls that are answered pay nothing for it. A list still
holding requests means no worker took them within the timeout: most often no server of that service runs on this
Redis (or its workers cannot keep up). An empty list means a worker took the request and did not reply in time.
"""

from __future__ import annotations

import time

import redis

from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.transport.redis_gateway.constants import QUEUE_NAME_PREFIX
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore

__all__ = ["QUEUE_CHECK_SECONDS", "call_timeout", "timeout_error"]

#: How long the look at the queue may take: it only explains a timeout that already happened, so a Redis that
#: does not answer at once (frozen, overloaded) gets the plain message instead of holding the caller longer.
QUEUE_CHECK_SECONDS = 0.25


def call_timeout(core: RedisTransportCore, service_name: str, queue_name: str, timeout: float) -> MessageReceiveTimeout:
    """The ``MessageReceiveTimeout`` of a call to ``service_name`` that got no reply within ``timeout`` seconds.

    Args:
        core: The client transport's core (its connections).
        service_name: The service called.
        queue_name: The service's request queue name (without the key prefix).
        timeout: How long the call waited.

    Returns:
        The exception to raise, its message saying whether the requests still wait in the service's queue.
    """
    key = QUEUE_NAME_PREFIX + queue_name
    try:
        indexes = core.queue_indexes(key)
        if len(indexes) == 1:
            waiting = int(core.run_on_key_master(key, "LLEN", key, within=QUEUE_CHECK_SECONDS))
        else:
            # A ring of masters: the request went to one of them (round-robin), so each is looked at, and the look
            # takes no turn of the round-robin.
            deadline = time.monotonic() + QUEUE_CHECK_SECONDS
            waiting = 0
            for index in indexes:
                waiting += int(core.run_at(index, "LLEN", key, within=max(deadline - time.monotonic(), 0.001)))
    except (redis.RedisError, MessageSendError, TypeError, ValueError):
        return timeout_error(service_name, queue_name, timeout, None)
    return timeout_error(service_name, queue_name, timeout, waiting)


def timeout_error(service_name: str, queue_name: str, timeout: float, waiting: int | None) -> MessageReceiveTimeout:
    """The ``MessageReceiveTimeout`` of a timed-out call, given how many requests wait in the service's queue.

    Args:
        service_name: The service called.
        queue_name: The service's request queue name (without the key prefix).
        timeout: How long the call waited.
        waiting: The length of the service's request list (``None``: it could not be read).
    """
    key = QUEUE_NAME_PREFIX + queue_name
    seconds = f"{round(timeout, 1):g}"
    if waiting is None:
        return MessageReceiveTimeout(f"No message received for service {service_name} within {seconds} s")
    if waiting:
        requests = "1 request waits" if waiting == 1 else f"{waiting} requests wait"
        return MessageReceiveTimeout(
            f"No reply from service {service_name}: no worker took the request within {seconds} s: is a "
            f"`{service_name}` server running on this Redis? ({requests} in its queue {key}; if its workers are "
            "running, they are all busy)"
        )
    return MessageReceiveTimeout(
        f"No reply from service {service_name} within {seconds} s: a worker took the request but did not reply in "
        "time (the service's queue is empty)"
    )
