"""A client's :attr:`~pysoa_like.client.client.Client.deadline`: what it leaves a call, shared by both clients.

The rules are :mod:`pysoa_like.core.deadlines`' (pure); this module reads the clock and raises the client's
error, so that :class:`~pysoa_like.client.client.Client` and :class:`~pysoa_like.client.async_client.AsyncClient`
bound their calls the same way.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pysoa_like.client.errors import DeadlineExceededError
from pysoa_like.core.deadlines import DeadlineExpiry, bounded_expiry, bounded_wait

if TYPE_CHECKING:
    from pysoa_like.client.client import CallOptions

__all__ = ["JOB_DEADLINE", "SHORTEST_WAIT_SECONDS", "expiry_within", "time_left", "within_deadline"]

#: A reply may be waiting already when a call's time is up: it is still looked for this long.
SHORTEST_WAIT_SECONDS = 0.01

#: The deadline of the job being handled (absolute Unix time, or ``None``), one per job: a context variable,
#: so that jobs running at once on one event loop (each its own task) or in a thread pool never mix them. Set
#: by the server around each job; a client made for jobs (:attr:`~pysoa_like.client.client.Client.
#: job_deadline_margin`) bounds each call by the deadline of the job it is made in.
JOB_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("pysoa_like_job_deadline", default=None)


def time_left(deadline: float, service_name: str) -> float:
    """The seconds left until ``deadline`` (a Unix time), for a call to ``service_name``.

    Raises:
        DeadlineExceededError: No time is left: nothing may be sent.
    """
    left = deadline - time.time()
    if left <= 0:
        raise DeadlineExceededError(
            f"Not calling service {service_name}: the deadline of this client (its caller's, less a margin) "
            f"passed {-left:.3f} s ago"
        )
    return left


def expiry_within(expiry: float | None, deadline: float, service_name: str) -> DeadlineExpiry:
    """The message expiry of a request to ``service_name`` bounded by ``deadline``: ``expiry`` cut to the time left.

    It carries ``deadline`` itself, so that the transport stamps the envelope's ``__expiry__`` no later than it,
    however long the request takes to get there (middleware, serialization).

    Raises:
        DeadlineExceededError: No time is left: nothing may be sent.
    """
    return DeadlineExpiry(bounded_expiry(expiry, time_left(deadline, service_name)), deadline)


def within_deadline(
    deadline: float,
    service_names: Iterable[str],
    options: CallOptions,
    default_wait: Callable[[str], float | None],
) -> CallOptions:
    """The options of a call bounded by ``deadline``: its wait cut to the time left.

    A call without a timeout keeps its transport's default wait (``default_wait(service)``) unless that is longer
    than the time left.

    Raises:
        DeadlineExceededError: No time is left: nothing may be sent.
    """
    names = list(service_names)
    left = min((time_left(deadline, name) for name in names), default=None)
    if left is None:
        return options
    wait = options.timeout
    if not wait:
        defaults = [default_wait(name) for name in names]
        wait = None if None in defaults else max(defaults)  # type: ignore[type-var]
    bounded = bounded_wait(wait, left)
    return options if bounded is None else options.with_timeout(bounded)
