"""At-least-once delivery in the blocking Redis server transport: the Redis side of :mod:`pysoa_like.core.delivery`.

A worker's requests are taken with ``BLMOVE`` into its in-progress list and acknowledged (``LREM``) once their
reply is pushed. Acknowledgements are not waited for: with one master, they go in the same write as the next
``BLMOVE``, after the reply's deferred push on the same connection (Redis runs them in that order, so a request
is never removed before its reply was pushed); over a ring of several masters, the replies are confirmed first and
the acknowledgements run one by one. A thread advertises the worker every quarter of ``worker_ttl_seconds``; the
main thread looks for dead workers' requests between jobs every half of it.

The sync worker handles one job at a time: when it asks for the next request, every request it took before is
finished, answered or not (see :meth:`AtLeastOnceDelivery.finish_all`). The concurrent worker (``concurrency`` N,
:meth:`AtLeastOnceDelivery.hold_many`) holds up to N requests at once: its receiver thread takes them, and its
replier thread finishes each one when its job is over (:meth:`AtLeastOnceDelivery.release`): an answered request is
acknowledged once Redis confirmed its reply's push (:meth:`AtLeastOnceDelivery.settled`), an unanswered one is given
back, counted.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis

from pysoa_like.common._bounded_logs import log_bounded
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.transport.errors import (
    MessageReceiveError,
    MessageReceiveTimeout,
    MessageSendError,
    ReceiveAuthenticationError,
)
from pysoa_like.common.transport.redis_gateway._backends import without_transport_prefix
from pysoa_like.common.transport.redis_gateway._lanes import RawMessage
from pysoa_like.common.transport.redis_gateway.backend import master_name
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.core.delivery import (
    ACKNOWLEDGE_SCRIPT,
    CLAIM_SCRIPT,
    FIND_DEAD_SCRIPT,
    HEARTBEAT_SCRIPT,
    RECOVER_SCRIPT,
    Claim,
    DeliveryOptions,
    Recovery,
    claim_outcome,
    delivery_keys,
    finished_state,
    job_needs_claim,
    recovery_outcome,
    request_identity,
    state_ttl_milliseconds,
)
from pysoa_like.core.message import OutgoingMessage

__all__ = ["AtLeastOnceDelivery", "Held"]

_logger = logging.getLogger("pysoa_like.transport")
# Dead workers looked at per master and recovery pass.
_DEAD_WORKERS_PER_PASS = 16
# How long the in-progress list and the workers set live without a heartbeat (a service gone for good).
_KEEP_MILLISECONDS = 3_600_000
# After giving back a request another worker runs now, wait this long before taking the next one.
_BUSY_PAUSE_SECONDS = 0.2


class Held:
    """One request this worker took and has not acknowledged yet.

    Attributes:
        index: The ring index of the master it came from.
        raw: Its bytes, as in the in-progress list.
        state_key: Its claim key when its job is not idempotent, else None.
        state_ttl: How long its claim and finished reply are kept (milliseconds).
        answered: Its reply was pushed, or it wants none.
    """

    __slots__ = ("answered", "index", "raw", "state_key", "state_ttl")

    def __init__(self, index: int, raw: RawMessage) -> None:
        self.index = index
        self.raw = bytes(raw)
        self.state_key: str | None = None
        self.state_ttl = 0
        self.answered = False


class AtLeastOnceDelivery:
    """The at-least-once side of one server transport (one worker).

    Args:
        core: The server transport's core.
        options: The delivery settings.
        is_idempotent: Whether running the named action twice is safe.
    """

    def __init__(
        self, core: RedisTransportCore, options: DeliveryOptions, is_idempotent: Callable[[str], bool]
    ) -> None:
        self.core = core
        self.options = options
        self.is_idempotent = is_idempotent
        self.keys = delivery_keys(core.service_name)
        #: This worker's id in the workers set: host, pid and a random part (a pid is reused after a restart).
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.in_progress = self.keys.in_progress(self.worker_id)
        self._prefix = core.prefix + "delivery."
        # The requests held, and the acknowledgements due: shared by the receiving and replying threads of a
        # concurrent worker (hold_many), under this lock.
        self._lock = threading.RLock()
        self._held: list[Held] = []
        # Concurrent worker: answered requests whose reply pushes Redis has not confirmed yet.
        self._unsettled: list[Held] = []
        self._concurrent = False
        # Acknowledgements not written yet, by ring index.
        self._acks: dict[int, list[bytes]] = {}
        # Whether the in-progress list may hold a request whose BLMOVE reply was lost (a broken connection).
        self._orphans = False
        # The ring index whose acknowledgements went with the current wait (once Redis answered, they ran).
        self._acks_written: list[int] = []
        self._next_recovery = 0.0
        self._started = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ttl_ms = int(options.worker_ttl_seconds * 1000)

    # Life cycle

    def hold_many(self) -> None:
        """A concurrent worker will hold several requests at once and finish each from its replying thread (see
        :meth:`release`): the next take no longer finishes the requests taken before."""
        self._concurrent = True

    def start(self) -> None:
        """Advertise this worker on every master and start the heartbeat thread (on the first receive).

        Raises:
            MessageReceiveError: Redis could not be reached (the worker loop backs off and receives again).
        """
        try:
            for index in self.core.queue_indexes(self.keys.queue):
                self._advertise(index)
        except redis.AuthenticationError as exc:
            # Refused credentials are not an outage: the worker stops instead of retrying for ever.
            message = f"Redis refused the credentials of {self.core.service_name}: {exc}"
            raise ReceiveAuthenticationError(message) from exc
        except (redis.RedisError, MessageSendError) as exc:
            why = without_transport_prefix(exc)
            raise MessageReceiveError(f"Redis error advertising a worker of {self.core.service_name}: {why}") from exc
        self._started = True
        self._thread = threading.Thread(target=self._beat, name="pysoa-like-delivery", daemon=True)
        self._thread.start()

    def stop(self, answer: Callable[[RawMessage], None]) -> None:
        """Finish what this worker holds, give back the rest, leave the workers set and stop the heartbeat thread.

        Args:
            answer: Answers a dead-lettered request's caller (see :meth:`before_take`).
        """
        self._stop.set()
        if not self._started:
            return
        self._started = False
        if self._thread is not None:
            self._thread.join(2.0)  # its last advertisement must not come after the worker left the set
        self.finish_all(answer)
        try:
            self.flush()
            for index in self.core.queue_indexes(self.keys.queue):
                self._recover(index, self.worker_id, check_alive=False, count=False)
                self.core.run_at(index, "ZREM", self.keys.workers, self.worker_id)
        except (redis.RedisError, MessageSendError) as exc:
            self._log(logging.WARNING, "Could not give back the requests of a stopping worker: %s", exc)

    def _advertise(self, index: int) -> int:
        reply: int = self.core.run_at(
            index,
            "EVAL",
            HEARTBEAT_SCRIPT,
            2,
            self.keys.workers,
            self.in_progress,
            self.worker_id,
            self._ttl_ms,
            _KEEP_MILLISECONDS,
        )
        return reply

    def _beat(self) -> None:
        # A daemon thread: when the worker dies, its advertisements stop, and the other workers take over.
        try:
            self._advertise_while_running()
        finally:
            self.core.backend_layer.close_thread_lanes()

    def _advertise_while_running(self) -> None:
        while not self._stop.wait(self.options.heartbeat_seconds):
            for index in self.core.queue_indexes(self.keys.queue):
                try:
                    if self._advertise(index) == 1:
                        self.core.metrics.counter(self._prefix + "presumed_dead").increment()
                        self._log(
                            logging.WARNING,
                            "Worker %s had not advertised in time and was presumed dead (its requests were delivered "
                            "again); it advertises again",
                            self.worker_id,
                        )
                except (redis.RedisError, MessageSendError) as exc:
                    self._log(logging.WARNING, "Could not advertise the worker: %s", exc)

    # Taking requests

    def before_take(self, answer: Callable[[RawMessage], None]) -> None:
        """Before waiting for a request: start, finish the previous job, and put dead workers' requests back.

        Args:
            answer: Answers a dead-lettered request's caller with a ``DEAD_LETTERED`` error.
        """
        if not self._started:
            self.start()
        if not self._concurrent:
            self.finish_all(answer)
        if self._orphans:
            self._orphans = False
            self.flush()
            try:
                for index in self.core.queue_indexes(self.keys.queue):
                    self._recover(index, self.worker_id, check_alive=False, count=False)
            except (redis.RedisError, MessageSendError) as exc:
                self._orphans = True
                why = without_transport_prefix(exc)
                message = f"Redis error giving back requests of {self.core.service_name}: {why}"
                raise MessageReceiveError(message) from exc
        now = time.monotonic()
        if now >= self._next_recovery:
            self._next_recovery = now + self.options.recovery_seconds
            self.recover_dead_workers(answer)

    def take(self, timeout: float) -> tuple[Held, RawMessage]:
        """Wait for a request, moving it into this worker's in-progress list.

        Raises:
            MessageReceiveTimeout: Nothing arrived in time.
            MessageReceiveError: Redis failed.
        """
        core = self.core
        if self._acks and not self._concurrent and len(core.queue_indexes(self.keys.queue)) > 1:
            core.settle_deferred()  # each reply pushed before its request is removed, on another master
            self.flush()
        written = self._acks_written
        written.clear()
        try:
            index, messages, replies = core.take_messages(
                self.keys.queue, timeout, move_to=self.in_progress, before=self._ack_commands
            )
        except MessageReceiveTimeout:
            # The acknowledgements went with the wait, which Redis answered (nil).
            for index in written:
                self._acks.pop(index, None)
            raise
        except MessageReceiveError:
            # The wait's reply was lost with its connection: a request may have been moved, unseen.
            self._orphans = True
            raise
        self._acknowledged(index, replies)
        raw = messages[0]
        held = Held(index, raw)
        with self._lock:
            self._held.append(held)
        return held, raw

    def _ack_commands(self, index: int) -> Sequence[tuple[Any, ...]]:
        if self._concurrent:
            return []  # the replying thread acknowledges, once it knows the replies were pushed
        self._acks_written.append(index)
        return [("LREM", self.in_progress, 1, raw) for raw in self._acks.get(index, ())]

    def _acknowledged(self, index: int, replies: Sequence[Any]) -> None:
        if self._concurrent:
            return
        acks = self._acks.pop(index, None)
        if acks is None:
            return
        failures = [reply for reply in replies if isinstance(reply, Exception)]
        if failures:
            self._not_acknowledged(index, failures[0])

    def claim(self, held: Held, reply_to: Any, request_id: Any, expiry: Any) -> Claim:
        """Claim a non-idempotent job by request id before running it (see :data:`CLAIM_SCRIPT`).

        Raises:
            redis.RedisError, MessageSendError: Redis failed.
        """
        held.state_key = self.keys.request_state(request_identity(str(reply_to), request_id))
        held.state_ttl = state_ttl_milliseconds(expiry, time.time(), self.options.idempotency_window_seconds)
        reply = self.core.run_at(
            held.index, "EVAL", CLAIM_SCRIPT, 2, held.state_key, self.keys.workers, self.worker_id, held.state_ttl
        )
        return claim_outcome(reply)

    def needs_claim(self, body: Any) -> bool:
        """Whether a job has an action not declared idempotent."""
        return job_needs_claim(body, self.is_idempotent)

    # Finishing requests

    def keep_finished(
        self, held: Held, messages: Sequence[OutgoingMessage], redis_expiry_seconds: int
    ) -> tuple[int, list[tuple[Any, ...]]] | None:
        """What keeps a non-idempotent job's reply for a redelivery to be answered with: ``(ring index, commands)``
        to run just before the reply's push (see ``RedisTransportCore.send_reply``), or None for other jobs."""
        if held.state_key is None:
            return None
        state = finished_state(messages, redis_expiry_seconds)
        return held.index, [("SET", held.state_key, state, "PX", held.state_ttl)]

    def finish(self, held: Held) -> None:
        """The request's job is over (answered, or wanting no answer): acknowledge it with the next write."""
        with self._lock:
            try:
                self._held.remove(held)
            except ValueError:
                return  # already finished
            self._acks.setdefault(held.index, []).append(held.raw)

    def release(self, held: Held, answer: Callable[[RawMessage], None]) -> None:
        """A concurrent worker is done with a request (from the thread that pushed its reply, if any).

        Answered: acknowledged once that thread's pushes are confirmed (:meth:`settled`). Unanswered (the job
        failed before replying, or the reply could not be pushed): given back, counted, as the sync worker does.

        Args:
            answer: Answers a dead-lettered request's caller (see :meth:`before_take`).
        """
        if held.answered:
            with self._lock:
                self._unsettled.append(held)
        else:
            self.give_back(held, answer)

    def settled(self) -> None:
        """The calling thread's reply pushes are confirmed: acknowledge the requests :meth:`release` kept, now."""
        with self._lock:
            released, self._unsettled = self._unsettled, []
        for held in released:
            self.finish(held)
        self.flush()

    def finish_all(self, answer: Callable[[RawMessage], None]) -> None:
        """Finish every request held, once its job is over (the sync worker's next receive, or its stop).

        An answered request is acknowledged. One left unanswered (its reply could not be pushed, or the server
        failed before replying) counts as a failed delivery and goes back on the queue, or to the dead-letter list.
        """
        with self._lock:
            held_now = list(self._held)
        for held in held_now:
            if held.answered:
                self.finish(held)
            else:
                self.give_back(held, answer)

    def give_back(self, held: Held, answer: Callable[[RawMessage], None] | None = None) -> None:
        """Put a request back on the queue: counted (unanswered: ``answer`` given) or at its tail, uncounted.

        Uncounted is for a request whose job a live worker runs now: then wait a little, so that a queue holding
        only that request is not spun on.
        """
        with self._lock:
            try:
                self._held.remove(held)
            except ValueError:
                return
        counted = answer is not None
        try:
            recovery = self._recover(held.index, self.worker_id, check_alive=False, count=counted, entries=[held.raw])
        except (redis.RedisError, MessageSendError) as exc:
            self._log(logging.WARNING, "Could not give back a request: %s", exc)
            self._orphans = True
            return
        if answer is not None:
            self.core.metrics.counter(self._prefix + "unanswered").increment()
            self._report(self.worker_id, recovery, answer)
        else:
            self.core.metrics.counter(self._prefix + "busy").increment()
            time.sleep(_BUSY_PAUSE_SECONDS)

    def flush(self) -> None:
        """Write every pending acknowledgement now: one round trip per master (a script when there are several)."""
        with self._lock:
            acks, self._acks = self._acks, {}
        for index, raws in acks.items():
            try:
                if len(raws) == 1:
                    self.core.run_at(index, "LREM", self.in_progress, 1, raws[0])
                else:
                    self.core.run_at(index, "EVAL", ACKNOWLEDGE_SCRIPT, 1, self.in_progress, *raws)
            except (redis.RedisError, MessageSendError) as exc:
                self._not_acknowledged(index, exc)

    def _not_acknowledged(self, index: int, error: BaseException) -> None:
        """Say that answered requests stay in this worker's in-progress list on the master of ring slot ``index``
        (redelivered if the worker dies): a line per master, naming it, throttled per master, so that one master
        failing for every job neither floods the log nor hides another's failure."""
        where = master_name(self.core.backend_layer, index)
        on = "" if where is None else f" on {where}"
        template = "Could not remove answered requests from the in-progress list%s: %s"
        log_bounded(_logger, logging.ERROR, self.core.log_throttle, ("delivery", template, where), template, on, error)

    # Dead workers

    def recover_dead_workers(self, answer: Callable[[RawMessage], None]) -> None:
        """Put back on the queue the requests of workers presumed dead, on every master; answer dead-lettered ones."""
        for index in self.core.queue_indexes(self.keys.queue):
            try:
                dead = self.core.run_at(index, "EVAL", FIND_DEAD_SCRIPT, 1, self.keys.workers, _DEAD_WORKERS_PER_PASS)
            except (redis.RedisError, MessageSendError) as exc:
                self._log(logging.WARNING, "Could not look for dead workers: %s", exc)
                continue
            for worker in dead:
                worker_id = worker.decode("utf-8", "replace") if isinstance(worker, bytes) else str(worker)
                if worker_id == self.worker_id:
                    continue  # this worker's heartbeat was late; it advertises again
                try:
                    recovery = self._recover(index, worker_id, check_alive=True, count=True)
                except (redis.RedisError, MessageSendError) as exc:
                    self._log(logging.WARNING, "Could not put back the requests of a dead worker: %s", exc)
                    continue
                if recovery.alive:
                    continue
                self._report(worker_id, recovery, answer)

    def _report(self, worker_id: str, recovery: Recovery, answer: Callable[[RawMessage], None]) -> None:
        metrics = self.core.metrics
        if worker_id != self.worker_id:
            metrics.counter(self._prefix + "dead_workers").increment()
            _logger.warning(
                "Worker %s of service %s stopped advertising: %d of its requests were put back on the queue, %d "
                "went to the dead-letter list",
                worker_id,
                self.core.service_name,
                recovery.requeued,
                len(recovery.dead_lettered),
            )
        if recovery.requeued:
            metrics.counter(self._prefix + "redelivered").increment(recovery.requeued)
        for raw in recovery.dead_lettered:
            metrics.counter(self._prefix + "dead_lettered").increment()
            _logger.error(
                "A request of service %s went to the dead-letter list %s after %d failed deliveries (the last by "
                "worker %s); first bytes: %s",
                self.core.service_name,
                self.keys.dead_letter,
                self.options.max_deliveries,
                worker_id,
                short_repr(bytes(raw[:64])),
            )
            answer(raw)

    def _recover(
        self, index: int, worker_id: str, check_alive: bool, count: bool, entries: Sequence[bytes] = ()
    ) -> Recovery:
        keys = self.keys
        reply = self.core.run_at(
            index,
            "EVAL",
            RECOVER_SCRIPT,
            6,
            keys.in_progress(worker_id),
            keys.queue,
            keys.deliveries,
            keys.dead_letter,
            keys.workers,
            keys.delivery_times,
            worker_id,
            self.options.max_deliveries,
            self.options.dead_letter_max_length,
            1 if check_alive else 0,
            1 if count else 0,
            *entries,
        )
        return recovery_outcome(reply)

    def _log(self, level: int, template: str, *args: object) -> None:
        log_bounded(_logger, level, self.core.log_throttle, ("delivery", template), template, *args)
