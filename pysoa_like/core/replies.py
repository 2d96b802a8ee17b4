"""Replies in a client transport: which ones a thread accepts (:class:`PendingReplies`: a reply is accepted once,
for a request id awaited, with the nonce its request carried), and how a busy reply list is popped.

Pure state, no I/O: the drivers feed it what they send and receive. Which waiting call an accepted reply goes to
is the client's business (``ReplyRouter`` in ``pysoa_like.client._service_handler``, its only user).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BATCH_PAUSE_SECONDS",
    "BATCH_WAITING",
    "REPLY_NONCE_META_KEY",
    "PendingReplies",
    "ReplyVerdict",
    "batch_pause",
    "new_reply_nonce",
    "new_reply_queue_suffix",
]


# --------------------------------------------------------------------------------------------------------------------
# Which replies a client thread accepts: its own, each once, and only with the proof its request carried.
#
# A client thread waits on its own reply list. Anything can land there: the reply to a request whose caller gave
# up, a reply a server sent twice, a reply to some other request with the same reply list (pushed by anyone who can
# write to Redis), or a reply a server was tricked into sending there (a request naming this thread's reply list
# and a request id it waits for). :class:`PendingReplies` remembers, per request id, a random nonce sent in the
# request's meta (``reply_nonce``, :data:`REPLY_NONCE_META_KEY`); every server echoes the request's meta in its
# reply (PySOA 1.4.9 included), so a reply proves which request it answers. The verdict on each reply:
#
# * :attr:`ReplyVerdict.ACCEPTED`: its request id is awaited and its nonce matches (or, when allowed, it has none);
#   the id is then no longer awaited, so a duplicate is refused;
# * :attr:`ReplyVerdict.UNKNOWN`: nobody waits for its request id (late after the request was forgotten, a
#   duplicate, or a stranger's);
# * :attr:`ReplyVerdict.FORGED`: the id is awaited but the nonce is missing or wrong; the real reply may still
#   come, so the id stays awaited.
#
# Pure state, no I/O: the drivers feed it what they send and receive.
# --------------------------------------------------------------------------------------------------------------------


#: The request meta key holding the request's nonce (echoed in the reply's meta).
REPLY_NONCE_META_KEY = "reply_nonce"
# Every this many ids awaited, the expired ones are forgotten (a full pass: amortized, it costs next to nothing).
_PRUNE_EVERY = 256
# The most ids awaited at once per thread; the oldest go first beyond it.
_MAXIMUM_PENDING = 100_000


def new_reply_nonce() -> str:
    """A fresh nonce for one request: 64 random bits from the operating system, as 16 hex digits."""
    return os.urandom(8).hex()


def new_reply_queue_suffix() -> str:
    """The part after ``!`` of a thread's reply queue name: 64 random bits as 16 hex digits.

    PySOA put the thread's id there, so knowing one thread's reply list told where its neighbours' were.
    """
    return os.urandom(8).hex()


class ReplyVerdict(enum.Enum):
    """What to do with a received reply (see the module docstring)."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"
    FORGED = "forged"


class PendingReplies(dict[Any, tuple[str, float]]):
    """The replies one client thread waits for: a dict of request id -> (nonce, time after which it stops waiting).

    A dict itself, so that ``len()`` and an emptiness test (asked on every send and receive) cost no call; change
    it only through its methods.

    Args:
        require_nonce: Refuse replies whose meta has no nonce (every PySOA 1.4.9 and pysoa_like server echoes
            it); False also accepts them, for servers that rebuild the reply's meta.
    """

    __slots__ = ("_added", "require_nonce")

    def __init__(self, require_nonce: bool = True) -> None:
        super().__init__()
        self.require_nonce = require_nonce
        self._added = 0

    def expect(self, request_id: Any, nonce: str, forget_after: float, now: float) -> None:
        """Wait for the reply to ``request_id``, which must echo ``nonce``.

        Args:
            request_id: The request's id.
            nonce: The nonce sent in the request's meta.
            forget_after: When (same clock as ``now``) to stop waiting even if no reply came: after the reply
                could no longer arrive (the request and any reply have expired).
            now: The current time.
        """
        pending = self
        self._added += 1
        if self._added % _PRUNE_EVERY == 0 or len(pending) >= _MAXIMUM_PENDING:
            self.prune(now)
            while len(pending) >= _MAXIMUM_PENDING:
                del pending[next(iter(pending))]  # the oldest
        pending[request_id] = (nonce, forget_after)

    def forget(self, request_id: Any) -> None:
        """Stop waiting for ``request_id`` (its send failed)."""
        self.pop(request_id, None)

    def prune(self, now: float) -> None:
        """Stop waiting for every request whose reply can no longer come (:meth:`expect` calls it now and then)."""
        pending = self
        for request_id in [key for key, (_nonce, forget_after) in pending.items() if forget_after < now]:
            del pending[request_id]

    def verdict(self, request_id: Any, meta: Any) -> ReplyVerdict:
        """Judge one received reply by its request id and meta; an accepted one is no longer awaited."""
        try:
            entry = self.get(request_id)
        except TypeError:  # an unhashable id: nobody's
            return ReplyVerdict.UNKNOWN
        if entry is None:
            return ReplyVerdict.UNKNOWN
        echoed = meta.get(REPLY_NONCE_META_KEY) if isinstance(meta, Mapping) else None
        if echoed != entry[0] and (echoed is not None or self.require_nonce):
            return ReplyVerdict.FORGED
        del self[request_id]
        return ReplyVerdict.ACCEPTED


# --------------------------------------------------------------------------------------------------------------------
# Batching the pops of a busy reply list.
#
# With many calls waiting on one reply list, a pop made the moment the previous one returned finds one or two
# replies; waiting a millisecond first lets the replies pile up, so one pop (BLPOP, then LPOP with a count) takes
# dozens: fewer round trips, wake-ups and Redis commands per reply. A serial call (one reply awaited) never waits.

#: From this many replies awaited on one reply list, a driver pauses before its next pop.
BATCH_WAITING = 32
#: How long that pause is.
BATCH_PAUSE_SECONDS = 0.001


def batch_pause(awaited: int) -> float:
    """Seconds a driver waits before popping one reply list on which ``awaited`` replies are awaited (0: none)."""
    return BATCH_PAUSE_SECONDS if awaited >= BATCH_WAITING else 0.0
