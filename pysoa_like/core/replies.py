"""Replies in a client: which ones a thread accepts, and which waiting call each one goes to.

* :class:`PendingReplies`: a reply is accepted once, for a request id awaited, with the nonce its request carried;
* :class:`ReplyRouter`: the routing of accepted replies by request id to the calls waiting on one channel.

Pure state, no I/O: the drivers and clients feed it what they send and receive.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "BATCH_PAUSE_SECONDS",
    "BATCH_WAITING",
    "DELIVER",
    "DROP",
    "KEEP",
    "REPLY_NONCE_META_KEY",
    "PendingReplies",
    "ReplyRouter",
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
# Reply routing by request id: which waiting call a received reply belongs to.
#
# A :class:`ReplyRouter` holds the routing state of one reply channel: over Redis a reply queue, which
# belongs to one client transport and thread; the client keeps one router per service and thread. Its
# caller sends requests, pulls replies off the channel and asks the router what each reply is:
#
# * the reply the caller is waiting for (:data:`DELIVER`);
# * the reply of another request still outstanding on the channel, kept until its own caller takes it
#   (:data:`KEEP`);
# * a reply nobody waits for, late after a timeout or a duplicate, to be dropped (:data:`DROP`).
#
# Requests are either *claimed*, collected by the call that sent them, or *open*, collected by whoever
# asks for every open reply (``get_all_responses``). A reply is only ever handed to the call that sent
# its request, or to a collector of open replies if it was sent open, and at most once.
# --------------------------------------------------------------------------------------------------------------------


#: The reply is the one asked for; hand it over.
DELIVER: Final = "deliver"
#: The reply belongs to another outstanding request; it is kept for it.
KEEP: Final = "keep"
#: Nobody waits for the reply (late or duplicate); drop it.
DROP: Final = "drop"


def _among(request_id: Any, ids: set[Any]) -> bool:
    try:
        return request_id in ids
    except TypeError:  # an unhashable id, from a misbehaving server, is no request's
        return False


class ReplyRouter:
    """The routing state of one reply channel.

    Attributes:
        outstanding: Request ids sent on this channel whose reply has not been pulled yet.
        open: The ids among them (or among :attr:`kept`) sent open.
        kept: Replies pulled while waiting for another one, by request id, in arrival order.
    """

    __slots__ = ("kept", "open", "outstanding")

    def __init__(self) -> None:
        self.outstanding: set[Any] = set()
        self.open: set[Any] = set()
        self.kept: dict[Any, Any] = {}

    def sent(self, request_id: Any, claimed: bool) -> None:
        """Register a request whose reply will come (never call it for a request that gets none).

        Args:
            request_id: Its id.
            claimed: ``True`` when its caller collects the reply itself; ``False`` for an open request.
        """
        self.outstanding.add(request_id)
        if not claimed:
            self.open.add(request_id)

    def start_waiting(self, request_id: Any) -> Any:
        """Begin to wait for ``request_id``'s reply: the reply if it is already kept (then it is taken), else ``None``.

        The request is outstanding again, so that a wait repeated after a timeout still catches a late reply.
        """
        reply = self.kept.pop(request_id, None)
        if reply is not None:
            self.open.discard(request_id)
        else:
            self.outstanding.add(request_id)
        return reply

    def route(self, request_id: Any, wanted: Any) -> str:
        """What to do with a reply to ``request_id`` pulled off the channel while waiting for ``wanted``.

        Returns:
            :data:`DELIVER` (the request is then done), :data:`KEEP` (the caller stores the reply with
            :meth:`keep`) or :data:`DROP`.
        """
        if request_id == wanted:
            self.outstanding.discard(request_id)
            self.open.discard(request_id)
            return DELIVER
        return KEEP if _among(request_id, self.outstanding) else DROP

    def route_open(self, request_id: Any) -> str:
        """What to do with a reply pulled while collecting open ones: :data:`DELIVER` if open, else as :meth:`route`."""
        if _among(request_id, self.open):
            self.done(request_id)
            return DELIVER
        return KEEP if _among(request_id, self.outstanding) else DROP

    def keep(self, request_id: Any, reply: Any) -> None:
        """Store a reply :meth:`route` said to keep; it is no longer outstanding."""
        self.outstanding.discard(request_id)
        self.kept[request_id] = reply

    def done(self, request_id: Any) -> None:
        """The request's reply was handed over, or its caller gave up on it: stop waiting for it."""
        self.outstanding.discard(request_id)
        self.open.discard(request_id)

    def forget(self, request_id: Any) -> None:
        """Stop waiting for ``request_id`` and drop any reply kept for it."""
        self.done(request_id)
        self.kept.pop(request_id, None)

    def take_open_kept(self) -> list[tuple[Any, Any]]:
        """Every kept reply of an open request, in arrival order (removing them)."""
        ready = [request_id for request_id in self.kept if request_id in self.open]
        for request_id in ready:
            self.open.discard(request_id)
        return [(request_id, self.kept.pop(request_id)) for request_id in ready]

    def forget_open(self) -> list[Any]:
        """Stop waiting for every open request (their kept replies are dropped); returns their ids."""
        forgotten = list(self.open)
        for request_id in forgotten:
            self.outstanding.discard(request_id)
            self.kept.pop(request_id, None)
        self.open.clear()
        return forgotten


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
