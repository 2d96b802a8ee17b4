"""Reply routing by request id: which waiting call a received reply belongs to.

A :class:`ReplyRouter` holds the routing state of one reply channel: over Redis a reply queue, which
belongs to one client transport and thread; the client keeps one router per service and thread. Its
caller sends requests, pulls replies off the channel and asks the router what each reply is:

* the reply the caller is waiting for (:data:`DELIVER`);
* the reply of another request still outstanding on the channel, kept until its own caller takes it
  (:data:`KEEP`);
* a reply nobody waits for, late after a timeout or a duplicate, to be dropped (:data:`DROP`).

Requests are either *claimed*, collected by the call that sent them, or *open*, collected by whoever
asks for every open reply (``get_all_responses``). A reply is only ever handed to the call that sent
its request, or to a collector of open replies if it was sent open, and at most once.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["DELIVER", "DROP", "KEEP", "ReplyRouter"]

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
