"""Several messages pushed with one write and one read per master: the jobs of a parallel call, to one service or
several (cores with equal backend settings share their connections)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from pysoa_like.common.transport.errors import MessageSendError
from pysoa_like.common.transport.redis_gateway._lanes import Lane, QueueFullError
from pysoa_like.core.keys import queue_key
from pysoa_like.core.message import OutgoingMessage

if TYPE_CHECKING:
    from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore

__all__ = ["BatchItem", "BatchSends"]

#: One message (or all the chunks of one) to push: ``(queue_name, messages, redis_expiry_seconds)``.
BatchItem = tuple[str, Sequence[OutgoingMessage], int]


class BatchSends:
    """A base of :class:`~pysoa_like.common.transport.redis_gateway.core.RedisTransportCore`: its batches of pushes."""

    def send_batch(self, items: Sequence[BatchItem]) -> list[MessageSendError | None]:
        """Push several messages, each to its own queue, with one write and one read per master.

        Each item is ``(queue_name, messages, redis_expiry_seconds)`` as for :meth:`send_messages`. Items
        refused because their queue is full are retried one by one as :meth:`send_messages` does.

        Returns:
            Per item, None when it was pushed, else why not. A connection failure fails every item of that
            master's write (whether Redis ran some of them cannot be known).
        """
        return self.send_batches([(cast("RedisTransportCore", self), items)])[0]

    @staticmethod
    def send_batches(
        batches: Sequence[tuple[RedisTransportCore, Sequence[BatchItem]]],
        deadline: float | None = None,
    ) -> list[list[MessageSendError | None]]:
        """:meth:`send_batch` for the items of several transports at once (the jobs of a parallel call to
        several services): cores that share a backend (equal settings) share its connections, so every item
        bound for one master goes in one write, whichever service it is for.

        Each item's failures are its own core's (its service's name and metrics, its retries). ``deadline``
        (``time.monotonic()``): by when Redis must have answered each write (default: ``socket_timeout`` from
        it), and past which (less the read margin) a full queue is not retried; a master lookup (Sentinel) is
        waited for until then, no longer.

        Returns:
            Per batch, per item: None when it was pushed, else why not.
        """
        results: list[list[MessageSendError | None]] = [[None] * len(items) for _core, items in batches]
        # Grouped by connection (one per thread and master: several Cluster slots share their master's) and
        # queue capacity (the send script's argument).
        by_lane: dict[tuple[Lane, int], tuple[int, list[tuple[int, int]]]] = {}
        for number, (core, items) in enumerate(batches):
            for position, (queue_name, _messages, _expiry) in enumerate(items):
                try:
                    index, lane = core._lane(queue_key(queue_name), "send.get_redis_connection", "send", deadline)
                except MessageSendError as exc:
                    results[number][position] = exc
                    continue
                by_lane.setdefault((lane, core.queue_capacity), (index, []))[1].append((number, position))
        full: list[tuple[int, int]] = []
        redirected: list[tuple[int, int]] = []
        for (lane, capacity), (index, places) in by_lane.items():
            first = batches[places[0][0]][0]
            for number in dict.fromkeys(number for number, _position in places):
                if lane.has_deferred:
                    batches[number][0]._settle_lane(index, lane)
            batch = [batches[n][1][p] for n, p in places]
            try:
                with first.metrics.timer(first.prefix + "send.send_message_to_redis_queue"):
                    errors = lane.push_many(
                        [(queue_key(name), messages, expiry) for name, messages, expiry in batch],
                        capacity,
                        deadline=deadline,
                    )
            except Exception as exc:
                for number, position in places:
                    try:
                        batches[number][0]._fail_send(index, exc)
                    except MessageSendError as failure:
                        results[number][position] = failure
                continue
            for (number, position), error in zip(places, errors, strict=True):
                core = batches[number][0]
                if isinstance(error, QueueFullError):
                    full.append((number, position))
                elif error is not None and core._redirected(error, lane) is not None:
                    redirected.append((number, position))
                elif error is not None:
                    try:
                        core._fail_send(index, error)
                    except MessageSendError as send_error:
                        results[number][position] = send_error
        for number, position in redirected:
            # The slot moved (MOVED) or is moving (ASK): nothing ran; pushed again where the answer says.
            core, items = batches[number]
            queue_name, messages, expiry = items[position]
            try:
                core._push_retrying(queue_name, messages, expiry, 0, deadline=deadline)
            except MessageSendError as exc:
                results[number][position] = exc
        # The batch was each item's first attempt.
        for number, (core, items) in enumerate(batches):
            positions = [position for full_number, position in full if full_number == number]
            retried = core._retry_full([items[p] for p in positions], deadline)
            for position, retry_failure in zip(positions, retried, strict=True):
                results[number][position] = retry_failure
        return results
