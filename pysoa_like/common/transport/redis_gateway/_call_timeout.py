"""What a call that timed out tells its caller: whether any worker took the request at all.

Checked only once a receive has timed out (one ``LLEN`` of the service's request list, on each master of a ring,
given at most :data:`QUEUE_CHECK_SECONDS` in all), so calls that are answered pay nothing for it. A list still
holding requests means no worker took them within the timeout: most often no server of that service runs on this
Redis (or its workers cannot keep up). An empty list means a worker took the request and did not reply in time.

Every master is asked before any answer is read, so a slow master does not eat the time of the next one; a look
that would start with less than :data:`MINIMUM_LOOK_SECONDS` left is not started (the message is then the plain
one). The looks go on connections kept for them (``BaseRedisClient.look_lane``), one per thread and master, opened
by the thread's first look (over a slow network, the connection and its handshake may then take the whole budget).
A look that gets no answer in time closes nothing: its reply is read and dropped before the next look's, so the
next look does not connect anew; the connections of the transport's commands and the slot's client (Sentinel's
master) are left alone. The one exception is a look Redis Cluster redirects with ``ASK`` (its slot is migrating):
it runs on the thread's connection to the node named, which a look given up there closes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import redis

from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.transport.redis_gateway.backend.base import CannotGetConnectionError
from pysoa_like.common.transport.redis_gateway.constants import QUEUE_NAME_PREFIX
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway._lanes import Lane

__all__ = ["MINIMUM_LOOK_SECONDS", "QUEUE_CHECK_SECONDS", "call_timeout", "timeout_error"]

#: How long the look at the queue may take: it only explains a timeout that already happened, so a Redis that
#: does not answer at once (frozen, overloaded) gets the plain message instead of holding the caller longer.
QUEUE_CHECK_SECONDS = 0.25
#: The least time left for which a look at one more master is started (connecting to it may have to come first):
#: with less, its answer could hardly come in time, and giving it up would only cost a connection.
MINIMUM_LOOK_SECONDS = 0.01


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
    deadline = time.monotonic() + QUEUE_CHECK_SECONDS
    try:
        waiting = _queue_length(core, QUEUE_NAME_PREFIX + queue_name, deadline)
    except (redis.RedisError, MessageSendError, CannotGetConnectionError, TypeError, ValueError):
        waiting = None
    return timeout_error(service_name, queue_name, timeout, waiting)


def _queue_length(core: RedisTransportCore, key: str, deadline: float) -> int | None:
    """The length of the request list ``key`` summed over the masters that may hold it (every master of a ring, the
    request having gone to one of them round-robin; the look takes no turn of the round-robin), read by
    ``deadline``; None when there was no time left to ask one of them.

    Raises:
        redis.RedisError: A master refused the command, failed, or did not answer in time (a look given up leaves
            its connection open, its reply to be dropped before the next look's).
    """
    asked: list[Lane] = []
    for index in core.queue_indexes(key):
        lane = _asked(core, index, key, deadline)
        if lane is None:
            return None
        asked.append(lane)
    return sum(_answer(core, lane, key, deadline) for lane in asked)


def _asked(core: RedisTransportCore, index: int, key: str, deadline: float) -> Lane | None:
    """The look lane to ring slot ``index``'s master, ``LLEN key`` written on it; None (nothing written, no
    connection opened) when less than ``MINIMUM_LOOK_SECONDS`` is left before or after its connection is had."""
    if deadline - time.monotonic() < MINIMUM_LOOK_SECONDS:
        return None
    lane = core._look_lane(index)
    lane.open_by(deadline)
    if deadline - time.monotonic() < MINIMUM_LOOK_SECONDS:
        return None
    lane.ask(("LLEN", key), deadline)
    return lane


def _answer(core: RedisTransportCore, lane: Lane, key: str, deadline: float) -> int:
    """The ``LLEN`` reply ``lane`` gets; under Redis Cluster, a ``MOVED`` or ``ASK`` answer (the queue's slot moved
    while the call waited) is learned from, as any command's, and the look followed once."""
    try:
        return int(lane.answer())
    except redis.ResponseError as exc:
        redirect = core._redirected(exc, lane)
        if redirect is None:
            raise
        if redirect.ask:
            reply = core._lane_at_address(redirect, "send").execute_asking(("LLEN", key), deadline)
            if isinstance(reply, Exception):
                raise reply from None
            return int(reply)
        [index] = core.queue_indexes(key)  # (Redis Cluster: the queue's slot, now mapped to its new master)
        moved = _asked(core, index, key, deadline)
        if moved is None:
            raise
        return int(moved.answer())


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
        error = MessageReceiveTimeout(
            f"No reply from service {service_name}: no worker took the request within {seconds} s: is a "
            f"`{service_name}` server running on this Redis? ({requests} in its queue {key}; if its workers are "
            "running, they are all busy)"
        )
    else:
        error = MessageReceiveTimeout(
            f"No reply from service {service_name} within {seconds} s: a worker took the request but did not reply "
            "in time (the service's queue is empty)"
        )
    error.queue_length = waiting
    return error
