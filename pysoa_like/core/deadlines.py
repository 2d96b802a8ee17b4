"""Deadlines: how long a call may still take, worked out from values (no clock is read here).

A call's deadline is an absolute Unix time. It travels with the request as the envelope's
``__expiry__`` (PROTOCOL.md section 6), which PySOA 1.4.9 sends and checks the same way, so a server
knows how long its caller waits (``deadline_of`` of :mod:`pysoa_like.core.message` reads it). A client made
for a job (``request.client``) is bounded by that job's deadline minus a margin: each of its calls gets at
most the time left, and none is sent once the time is up. The caller of these functions reads the clock and
passes ``now``.

A bounded request's expiry is a :class:`DeadlineExpiry`: the seconds left when the client worked them out, and the
deadline they came from. Its envelope is stamped later (after the client middleware and the transport's own work),
so the transports stamp ``__expiry__`` with ``core.message.expiry_time``, which never lets it pass
that deadline.
"""

from __future__ import annotations

__all__ = ["DeadlineExpiry", "bounded_expiry", "bounded_wait", "time_left"]


class DeadlineExpiry(float):
    """A message expiry in seconds that carries the absolute deadline (a Unix time) it was worked out from.

    It is a ``float`` (the seconds left when it was made), so a middleware, a transport or a PySOA
    ``send_request`` override that knows nothing of it reads it as the number of seconds it always was; the
    stock transports read its :attr:`deadline` when they stamp the envelope (``core.message.expiry_time``).
    Arithmetic on it gives a plain ``float``: a middleware that computes an expiry of its own sends that one.

    Args:
        seconds: The message expiry, in seconds.
        deadline: The absolute time the message's ``__expiry__`` must not pass.
    """

    __slots__ = ("deadline",)

    deadline: float

    def __new__(cls, seconds: float, deadline: float) -> DeadlineExpiry:
        expiry = super().__new__(cls, seconds)
        expiry.deadline = float(deadline)
        return expiry

    def __reduce__(self) -> tuple[type[DeadlineExpiry], tuple[float, float]]:
        return type(self), (float(self), self.deadline)


def time_left(deadline: float | None, now: float) -> float | None:
    """Seconds until ``deadline`` (zero or negative once passed), or ``None`` without a deadline."""
    if deadline is None:
        return None
    return deadline - now


def bounded_wait(wait: float | None, left: float) -> float | None:
    """The wait a call bounded by a deadline must use instead of ``wait``, or ``None`` if ``wait`` fits.

    Args:
        wait: What the call would wait otherwise (its timeout, else its transport's default receive
            timeout); ``None`` when unknown.
        left: The seconds left until the deadline (positive).
    """
    if wait is None or wait > left:
        return left
    return None


def bounded_expiry(expiry: float | None, left: float) -> float:
    """The message expiry of a request bounded by a deadline: ``expiry``, cut to the time ``left``.

    ``None`` or ``0`` (the transport's default, 60 seconds unless configured) becomes ``left``: the server then
    sees the deadline, and drops the request once it has passed.
    """
    if not expiry or expiry > left:
        return left
    return expiry
