"""Handling events in a worker: consumer groups read by background threads, acknowledged after success.

Each delivery mode maps onto Redis Streams:

* **service pool**: consumer group ``pool:<service>`` on the event's stream; each worker of the service
  is a consumer named by its instance id, so each event goes to one worker of each subscribing service;
* **singleton**: consumer group ``singleton``, shared by every service subscribing that way, so each
  event goes to one worker in the whole fleet;
* **broadcast**: no group; each worker reads the stream itself (``XREAD``) from where it stood when it
  started, so each event goes to every worker alive when it was published.

A group's event is acknowledged (``XACK``, sent with the next read) only after its handler returned.
A handler that raises gets the event again after ``retry_delay_seconds`` (doubling with each delivery,
at most ``redeliver_after_seconds``), on whichever worker claims it first; an event whose worker died
or stalled is claimed (``XPENDING ... IDLE`` then ``XCLAIM``, in one script) by another worker once it has been idle for
``redeliver_after_seconds``. While a handler runs, the fleet keeper resets its event's idle time, so a
long handler is not mistaken for a dead one. After ``max_deliveries`` deliveries, or at once when the
body cannot be decoded or fails its schema, the event is moved to the dead-letter stream
``pysoa:events:{<name>}:dead`` with the reason, logged at ERROR and counted
(``server.events.dead_lettered``). Broadcast events are retried in place, then dead-lettered the same way.

Each group's streams on one Redis are read by one thread with one blocking command, so the events of
one name reach one consumer in stream order; handlers of one worker run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attr
import redis

from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.redis_gateway.backend import master_name
from pysoa_like.core.cluster import MAXIMUM_REDIRECTS
from pysoa_like.events.envelope import decode_event
from pysoa_like.events.types import BROADCAST, SINGLETON, Event, EventHandler, declared_event_type, schema_problems
from pysoa_like.fleet._asking import asking_client, redirect_of
from pysoa_like.fleet._callables import finish
from pysoa_like.fleet.errors import FleetError, InvalidEventError
from pysoa_like.fleet.keys import SINGLETON_GROUP, dead_letter_key, event_stream_key, pool_group
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.server._outage import outage_backoff_seconds

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["EventConsumer", "ReadPlan", "Subscription", "plan_reads", "subscriptions_for"]

_logger = logging.getLogger("pysoa_like.events")

# Claims at most this many idle events per stream and pass.
_CLAIM_COUNT = 10
# Consumers of a group idle this long with nothing pending are removed when a worker starts.
_STALE_CONSUMER_SECONDS = 3600.0

# KEYS: stream, dead-letter stream. ARGV: group, consumer, min idle ms, count, max deliveries, dead-letter max
# length. Claims idle entries (XPENDING IDLE, then XCLAIM, which counts a delivery); those that would be delivered
# more than max deliveries go to the dead-letter stream; pending entries no longer in the stream (trimmed) are
# acknowledged. XPENDING + XRANGE + XCLAIM rather than XAUTOCLAIM: Redis 6.2's XAUTOCLAIM returns a deleted
# entry as a bare nil (no id to acknowledge it by) and keeps it pending forever.
# Returns {{{id, fields, deliveries}...} claimed, {{id, deliveries}...} dead-lettered, {id...} gone}.
_CLAIM = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
local live, dead, gone = {}, {}, {}
for _, item in ipairs(pending) do
  local id, deliveries = item[1], tonumber(item[4])
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 0 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    gone[#gone + 1] = id
  elseif deliveries >= tonumber(ARGV[5]) then
    local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*'}
    for _, value in ipairs(found[1][2]) do args[#args + 1] = value end
    for _, value in ipairs({'event_id', id, 'group', ARGV[1], 'consumer', ARGV[2], 'deliveries',
                            tostring(deliveries), 'reason', 'never acknowledged (the worker died or stalled)'}) do
      args[#args + 1] = value
    end
    redis.call(unpack(args))
    redis.call('XACK', KEYS[1], ARGV[1], id)
    dead[#dead + 1] = {id, deliveries}
  else
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
    live[#live + 1] = {id, found[1][2], deliveries + 1}
  end
end
return {live, dead, gone}
"""

# KEYS: stream, dead-letter stream. ARGV: group ('' for none), id, deliveries, reason, consumer, max length,
# then the entry's field/value pairs. Moves one entry to the dead-letter stream (and acknowledges it).
_DEAD_LETTER = """
local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*'}
for i = 7, #ARGV do args[#args + 1] = ARGV[i] end
for _, value in ipairs({'event_id', ARGV[2], 'group', ARGV[1], 'consumer', ARGV[5], 'deliveries', ARGV[3],
                        'reason', ARGV[4]}) do
  args[#args + 1] = value
end
redis.call(unpack(args))
if ARGV[1] ~= '' then redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


@attr.s(frozen=True, slots=True)
class Subscription:
    """One event a worker handles, and how.

    Attributes:
        name: The event name.
        mode: The delivery mode.
        group: The consumer group (``None`` for broadcast).
        stream: The stream key.
        handle: The bound handler.
        schema: The handler's own schema (checked with the declared type's, if any).
        max_deliveries: Deliveries before dead-lettering.
        start_from: ``"new"`` or ``"earliest"``: where the group starts if this worker creates it.
    """

    name: str = attr.ib()
    mode: str = attr.ib()
    group: str | None = attr.ib()
    stream: str = attr.ib()
    handle: Callable[[Event], Any] = attr.ib(eq=False)
    schema: Any = attr.ib(default=None, eq=False)
    max_deliveries: int = attr.ib(default=5)
    start_from: str = attr.ib(default="new")

    def problems(self, body: Any) -> list[str]:
        """What the declared type's schema and the handler's schema find wrong with ``body``."""
        declared = declared_event_type(self.name)
        found = schema_problems(declared.schema, body) if declared is not None else []
        return found + schema_problems(self.schema, body)


def _as_handler(value: Any) -> EventHandler:
    return value if isinstance(value, EventHandler) else EventHandler(value)


def subscriptions_for(server: Server, default_max_deliveries: int) -> list[Subscription]:
    """The subscriptions declared by ``server.event_handlers``, bound to the server.

    Raises:
        InvalidEventError: An event name is invalid.
        AttributeError: A handler names a method the server does not have.
    """
    from pysoa_like.events.types import event_name

    found = []
    for key, value in server.event_handlers.items():
        name = event_name(key)
        declaration = _as_handler(value)
        if declaration.mode == BROADCAST:
            group = None
        elif declaration.mode == SINGLETON:
            group = SINGLETON_GROUP
        else:
            group = pool_group(str(server.service_name))
        found.append(
            Subscription(
                name=name,
                mode=declaration.mode,
                group=group,
                stream=event_stream_key(name),
                handle=declaration.bind(server),
                schema=declaration.schema,
                max_deliveries=declaration.max_deliveries or default_max_deliveries,
                start_from=declaration.start_from,
            )
        )
    return found


@attr.s(frozen=True, slots=True)
class ReadPlan:
    """Subscriptions read together by one blocking command: same Redis (ring slot) and same group."""

    index: int = attr.ib()
    group: str | None = attr.ib()
    subscriptions: tuple[Subscription, ...] = attr.ib()


def plan_reads(subscriptions: Sequence[Subscription], index_for: Callable[[str], int]) -> list[ReadPlan]:
    """Group subscriptions into reads: one per (ring slot of the stream, consumer group).

    Under Redis Cluster a command may only touch one slot: there, ``index_for`` must return the slot
    (or a finer key), giving one read per stream.
    """
    plans: dict[tuple[int, str | None], list[Subscription]] = {}
    for subscription in subscriptions:
        plans.setdefault((index_for(subscription.stream), subscription.group), []).append(subscription)
    return [ReadPlan(index, group, tuple(subs)) for (index, group), subs in plans.items()]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def _flat_fields(fields: Any) -> list[Any]:
    """A stream entry's fields as the flat ``[field, value, ...]`` list Lua scripts take."""
    if isinstance(fields, Mapping):
        return [item for pair in fields.items() for item in pair]
    return list(fields)


def _field_map(fields: Any) -> dict[Any, Any]:
    if isinstance(fields, Mapping):
        return dict(fields)
    items = list(fields)
    return dict(zip(items[0::2], items[1::2], strict=True))


_SCRIPT_ERROR_PREFIX = re.compile(r"^Error running script \(call to [^)]*\): @\w+:\d+: ")


def _failure_kind(exc: BaseException) -> str:
    """What made a step fail, for the outage log: the code Redis answered (``WRONGTYPE``, ``NOGROUP``, ``ERR``...),
    ``refused credentials``, or ``unreachable`` (no answer: connection, timeout, no master known)."""
    error = exc
    while isinstance(error, FleetError) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, redis.ResponseError):
        # A pipeline's error is "Command # n (...) of pipeline caused error: <Redis' answer>"; before Redis 7 a
        # script's is "Error running script (call to f_<sha>): @user_script:<line>: <Redis' answer>".
        answer = str(error).rpartition("of pipeline caused error: ")[2]
        answer = _SCRIPT_ERROR_PREFIX.sub("", answer, count=1)
        code = answer.split(" ", 1)[0]
        return code if code.isupper() else "ERR"
    if isinstance(error, redis.AuthenticationError):
        return "refused credentials"
    return "unreachable"


def _said(kind: str, where: str | None) -> str:
    return kind if where is None else f"{kind} on {where}"


class _Failure:
    """Logs the failures of a worker's event readers: once when a kind of failure starts, once when it ends.

    Each reader (and the start-up step that plans the reads) reports under a key of its own. Failures are told apart
    by kind (:func:`_failure_kind`) and by master (over a ring of several, each reader names the master it reads): the
    readers failing together on one master (that Redis down) make one line, not one each, and each master's outage
    has its own lines naming it; a reader failing for a reason of its own (a key of the wrong type) has its own line,
    and neither hides the other's start or end. A reader already failing that finds its groups lost (``NOGROUP``:
    Redis came back without its data) stays in its outage: it makes them again at its next step. Each reader's first
    failure is also logged at DEBUG with what it reads.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        # Who is failing -> (the kind of its failure, the master it names or None) (insertion order: oldest first).
        self._failing: dict[object, tuple[str, str | None]] = {}
        self._lock = threading.Lock()

    def failed(self, who: object, exc: Exception, where: str | None = None) -> None:
        """``who`` failed with ``exc``; ``where`` names its master when the lines must say which (a ring)."""
        kind = _failure_kind(exc)
        with self._lock:
            was = self._failing.get(who)
            if was is not None and (kind == "NOGROUP" or (kind, where) == was):
                return
            starts = (kind, where) not in self._failing.values()
            self._failing[who] = (kind, where)
            # A reader counted in a fleet-wide failure (it joined during it) now failing on its own master: when it
            # was the last one in it, that failure is over and is said to be, as if the reader had recovered.
            ends = was is not None and was[1] is None and where is not None and was not in self._failing.values()
            still = self._still() if ends else []
        _logger.debug("Events: %s could not %s: %s", who, self.what, exc)
        if starts:
            on = "" if where is None else f" from {where}"
            _logger.warning("Events: could not %s%s (retrying): %s", self.what, on, exc)
        if ends:
            self._say_ended(None, still)

    def joined(self, who: object, where: str | None = None) -> None:
        """A new reader (started during an outage) is counted in the oldest failure that may be its own (one naming
        no master, or its master ``where``) until its first step works."""
        with self._lock:
            for key in self._failing.values():
                if key[1] is None or key[1] == where:
                    self._failing.setdefault(who, key)
                    return

    def recovered(self, who: object) -> None:
        if who not in self._failing:  # the usual case, without the lock (a dict's membership test is atomic)
            return
        with self._lock:
            ended = self._failing.pop(who, None)
            if ended is None or ended in self._failing.values():
                return
            still = self._still()
        self._say_ended(ended[1], still)

    def _still(self) -> list[str]:
        """The failures going on, as the end lines name them (call with the lock held)."""
        return sorted({_said(kind, where) for kind, where in self._failing.values()})

    def _say_ended(self, where: str | None, still: list[str]) -> None:
        """The INFO ending a failure (of the whole fleet when ``where`` is ``None``, else of that master)."""
        on = "" if where is None else f" from {where}"
        if still:
            _logger.info("Events: could %s%s again (still failing: %s)", self.what, on, ", ".join(still))
        else:
            _logger.info("Events: could %s%s again", self.what, on)


def _pause(seconds: float, stopping: Callable[[], bool]) -> None:
    """Sleep ``seconds``, in short slices, or until ``stopping()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping():
        time.sleep(0.05)


def _groups_lost(exc: BaseException) -> bool:
    """Whether Redis answered ``NOGROUP``: it lost the consumer groups (restarted without its data, or a replica that
    never had them became master), so the reader must make them again."""
    error = exc if isinstance(exc, redis.ResponseError) else exc.__cause__
    return isinstance(error, redis.ResponseError) and "NOGROUP" in str(error)


class EventConsumer:
    """The event readers of one worker (see the module docstring).

    Args:
        server: The server whose handlers run.
        fleet: Where the streams live.
        subscriptions: What it handles.
        consumer: Its consumer name (the worker's instance id).
        settings: The server's ``events`` settings.
        stopping: Says when to stop taking events.
    """

    def __init__(
        self,
        server: Server,
        fleet: FleetRedis,
        subscriptions: Sequence[Subscription],
        consumer: str,
        settings: Mapping[str, Any],
        stopping: Callable[[], bool],
    ) -> None:
        self.server = server
        self.fleet = fleet
        self.consumer = consumer
        self.metrics: MetricsRecorder = server.metrics
        self.redeliver_after = float(settings["redeliver_after_seconds"])
        self.retry_delay = float(settings["retry_delay_seconds"])
        self.block_ms = max(int(float(settings["block_seconds"]) * 1000), 1)
        self.prefetch = int(settings["prefetch"])
        self.dead_letter_max_length = int(settings["dead_letter_max_length"])
        self.claim_interval = min(max(self.retry_delay, 0.1), 5.0)
        self.stopping = stopping
        self.subscriptions = tuple(subscriptions)
        # Planned by start (the ring's size may need Redis: Sentinel's discovery of the services).
        self.plans: list[ReadPlan] = []
        self.failure = _Failure("read events")
        # One handler at a time per worker, whatever thread read its event.
        self.handler_lock = threading.Lock()
        # (stream, group) -> ids read and not yet acknowledged or retried: their idle time is kept low.
        self._in_hand: dict[tuple[str, str], set[str]] = {}
        self._in_hand_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # Set by join: no reader starts after it (the planning thread may finish its plan later). Guards _threads.
        self._closed = False
        self._threads_lock = threading.Lock()
        self._next_touch = 0.0
        # Whether a reader could not finish with Redis at shutdown (said once for all the readers: one Redis).
        self._unfinished_said = False
        self._unfinished_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<EventConsumer {self.consumer}>"

    # Lifecycle

    def start(self) -> None:
        """Create the consumer groups (so events published from now on are kept), then start the readers.

        Never raises for Redis: a group that cannot be created now (Redis down) is created by its reader when Redis is
        back, and when the reads cannot even be planned (the Sentinel backend, before a Sentinel lists the services)
        a thread plans them, with the worker's outage backoff, and starts the readers then. Either way the outage is
        logged once.
        """
        try:
            self.plans = plan_reads(self.subscriptions, self.fleet.index_for)
        except FleetError as exc:
            self.failure.failed(self, exc)
            self._start_thread(self._plan_then_start, "pysoa-like-events")
            return
        self._start_readers(prepare=True)

    def master_name(self, index: int) -> str | None:
        """How the outage lines name the master of ring slot ``index``: ``None`` when there is one master (or under
        Redis Cluster, whose slots move between nodes), else its address (a ring of hosts) or its Sentinel service."""
        try:
            backend = self.fleet.backend
        except FleetError:
            return f"ring slot {index}"
        return master_name(backend, index)

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _start_readers(self, prepare: bool) -> None:
        for number, plan in enumerate(self.plans, 1):
            reader = _Reader(self, plan)
            self.failure.joined(reader, reader.master)
            if prepare:
                try:
                    reader.prepare()
                except (redis.RedisError, OSError, FleetError) as exc:
                    self.failure.failed(reader, exc, reader.master)
            with self._threads_lock:
                if self._closed:
                    return  # join began (its deadline may be gone and the fleet closed): a reader now would leak
                self._start_thread(reader.run, f"pysoa-like-events-{number}")

    def _plan_then_start(self) -> None:
        """Plan the reads once Redis can be had (backing off as the worker does), then start the readers."""
        failures = 0
        unexpected = ""  # the last error that is not an outage's: logged with its traceback once in a row
        while not self.stopping():
            try:
                self.plans = plan_reads(self.subscriptions, self.fleet.index_for)
            except FleetError as exc:
                self.failure.failed(self, exc)
                unexpected = ""
            except Exception as exc:
                # Not an outage (a bug): said with its traceback and tried again as an outage is, so the readers
                # still start if it passes (it ended the thread: no event was handled until the worker restarted).
                if f"{type(exc).__name__}: {exc}" != unexpected:
                    unexpected = f"{type(exc).__name__}: {exc}"
                    _logger.exception("Events: unexpected error planning the reads (retrying)")
            else:
                if self.stopping():
                    return  # stopped while planning (a Sentinel discovery can take seconds): nothing to start
                # Started before this thread ends, so join (which joins this thread first) sees them all.
                self._start_readers(prepare=False)
                self.failure.recovered(self)
                return
            _pause(outage_backoff_seconds(failures), self.stopping)
            failures += 1

    def join(self, deadline: float) -> bool:
        """Wait (until ``deadline``, monotonic) for the readers to finish the events in hand; whether they did.

        No reader starts once this is called: when the reads were still being planned (Redis was unreachable at
        start), the plan made after it is dropped, so nothing uses the fleet's Redis after the worker closed it.
        """
        with self._threads_lock:
            self._closed = True
        # By index: the planning thread, first in the list, appends the readers it starts before it ends.
        joined = 0
        while joined < len(self._threads):
            self._threads[joined].join(max(deadline - time.monotonic(), 0.0))
            joined += 1
        return not any(thread.is_alive() for thread in self._threads)

    def keep(self, now: float) -> None:
        """Keeper step: reset the idle time of the events in hand, so no other worker claims them."""
        if now < self._next_touch:
            return
        self._next_touch = now + self.redeliver_after / 3
        with self._in_hand_lock:
            in_hand = [(key, sorted(ids)) for key, ids in self._in_hand.items() if ids]
        for (stream, group), ids in in_hand:
            try:
                self.fleet.run(stream, _Touch(stream, group, self.consumer, ids), "keeping events in hand")
            except FleetError as exc:
                _logger.warning("Events: could not keep events in hand claimed: %s", exc)

    def could_not_finish(self, exc: Exception) -> None:
        """A reader could not acknowledge its last events or leave its group at shutdown: logged for the first."""
        with self._unfinished_lock:
            said, self._unfinished_said = self._unfinished_said, True
        if not said:
            _logger.warning(
                "Events: could not acknowledge the last events at shutdown (they will be redelivered): %s", exc
            )

    def hold(self, stream: str, group: str, ids: Sequence[str]) -> None:
        """Note events read and not yet finished."""
        with self._in_hand_lock:
            self._in_hand.setdefault((stream, group), set()).update(ids)

    def release(self, stream: str, group: str, entry_id: str) -> None:
        """Note an event finished (acknowledged, retried or dead-lettered)."""
        with self._in_hand_lock:
            self._in_hand.get((stream, group), set()).discard(entry_id)

    # Handling

    def run_handler(self, subscription: Subscription, event: Event, loop_holder: list[Any]) -> None:
        """Run a handler to completion (a coroutine on this thread's own event loop)."""
        result = subscription.handle(event)
        if inspect.isawaitable(result):
            if not loop_holder:
                loop_holder.append(asyncio.new_event_loop())
            finish(result, loop_holder[0])

    def dead_letter(self, subscription: Subscription, entry_id: str, fields: Any, deliveries: int, reason: str) -> None:
        """Move one event to its dead-letter stream (acknowledging it), then log and count it.

        Raises:
            FleetConnectionError: Redis failed.
        """
        group = subscription.group or ""
        consumer = self.consumer
        args = [group, entry_id, deliveries, reason[:2000], consumer, self.dead_letter_max_length]
        args += _flat_fields(fields)
        self.fleet.run_script(
            _DEAD_LETTER,
            (subscription.stream, dead_letter_key(subscription.name)),
            args,
            f"dead-lettering event {subscription.name}",
        )
        self.report_dead(subscription, entry_id, deliveries, reason)

    def report_dead(self, subscription: Subscription, entry_id: str, deliveries: int, reason: str) -> None:
        """The log line and metric of a dead-lettered event."""
        self.metrics.counter("server.events.dead_lettered", event=subscription.name).increment()
        _logger.error(
            "Event %s %s dead-lettered to %s after %d deliveries (%s, consumer %s): %s",
            subscription.name,
            entry_id,
            dead_letter_key(subscription.name),
            deliveries,
            subscription.group or "broadcast",
            self.consumer,
            reason,
        )

    def retry_delay_for(self, deliveries: int) -> float:
        """How long a failed event waits before its next delivery."""
        return float(min(self.retry_delay * 2 ** max(deliveries - 1, 0), self.redeliver_after))


@attr.s(frozen=True, slots=True)
class _Touch:
    """Resets the idle time of events in hand (``XCLAIM ... JUSTID``: no delivery is counted)."""

    stream: str = attr.ib()
    group: str = attr.ib()
    consumer: str = attr.ib()
    ids: list[str] = attr.ib()

    def __call__(self, client: Any) -> Any:
        return client.xclaim(self.stream, self.group, self.consumer, 0, self.ids, justid=True)


class _Reader:
    """One read plan's loop (runs in its own thread)."""

    def __init__(self, consumer: EventConsumer, plan: ReadPlan) -> None:
        self.consumer = consumer
        self.plan = plan
        self.group = plan.group
        self.by_stream = {s.stream: s for s in plan.subscriptions}
        self.acks: dict[str, list[str]] = {}
        self.next_claim = 0.0
        self.last_ids: dict[str, str] = {}
        self.loop_holder: list[Any] = []
        self.groups_ready = False
        # Whether it claimed or read for its group (so may be a consumer there, with events to acknowledge): only
        # then does it leave the group at shutdown.
        self.entered = False
        # Redis Cluster: the node an ASK answer named (the slot is migrating), for the next step only.
        self.asked: Any = None
        # The master its outage lines name (None when the fleet has one).
        self.master = consumer.master_name(plan.index)

    def __repr__(self) -> str:
        return f"the reader of {', '.join(sorted(self.by_stream))} ({self.group or 'broadcast'})"

    @property
    def client(self) -> Any:
        # Any: redis-py's own hints (8.x) do not describe the stream replies as they are parsed.
        if self.asked is not None:
            return self.asked
        return self.consumer.fleet.client_at(self.plan.index)

    def redirected(self, exc: redis.RedisError, redirects: int) -> bool:
        """Follow a Redis Cluster ``MOVED``/``ASK`` answer for the next step; whether ``exc`` was one (and may be
        followed: at most ``MAXIMUM_REDIRECTS`` in a row)."""
        fleet = self.consumer.fleet
        if not isinstance(exc, redis.ResponseError) or not fleet.backend.follows_redirects:
            return False
        redirect = redirect_of(exc)
        if redirect is None or redirects >= MAXIMUM_REDIRECTS:
            return False
        fleet.backend.note_redirect(redirect)
        if redirect.ask:
            self.asked = asking_client(fleet.backend.client_for_address(redirect.address))
        return True

    def done_asking(self) -> None:
        asked, self.asked = self.asked, None
        if asked is not None:
            asked.close()

    def stopping(self) -> bool:
        return self.consumer.stopping()

    def reset_connection(self) -> None:
        """Drop the slot's connection after a failure, so the next step connects again."""
        # FleetError: no backend at all now (it is being closed); the next step builds it or fails again.
        with contextlib.suppress(FleetError):
            self.consumer.fleet.backend.reset_client(self.plan.index)

    def run(self) -> None:
        failure = self.consumer.failure
        failures = 0
        redirects = 0
        try:
            while not self.stopping():
                try:
                    try:
                        if not self.groups_ready:
                            self.prepare()
                        self.step()
                    finally:
                        self.done_asking()
                    failure.recovered(self)
                    failures = 0
                    redirects = 0
                except (redis.RedisError, OSError, FleetError) as exc:
                    if isinstance(exc, redis.RedisError) and self.redirected(exc, redirects):
                        redirects += 1  # the slot moved, or is moving: the next step goes where Redis said
                        continue
                    if _groups_lost(exc):
                        self.groups_ready = False
                    failure.failed(self, exc, self.master)
                    self.reset_connection()
                    _pause(outage_backoff_seconds(failures), self.stopping)
                    failures += 1
                except Exception:
                    _logger.exception("Events: unexpected error in the reader of %s", sorted(self.by_stream))
                    time.sleep(0.5)
        finally:
            self.finish()

    # Setup

    def prepare(self) -> None:
        client = self.client
        if self.group is None:
            for stream in self.by_stream:
                if stream not in self.last_ids:
                    latest = client.xrevrange(stream, "+", "-", count=1)
                    self.last_ids[stream] = _text(latest[0][0]) if latest else "0-0"
        else:
            for stream, subscription in self.by_stream.items():
                start = "0" if subscription.start_from == "earliest" else "$"
                try:
                    client.xgroup_create(stream, self.group, id=start, mkstream=True)
                except redis.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self.remove_stale_consumers(client, stream)
        self.groups_ready = True

    def remove_stale_consumers(self, client: Any, stream: str) -> None:
        """Forget consumers (dead workers) idle for an hour with nothing pending."""
        assert self.group is not None
        for info in client.xinfo_consumers(stream, self.group):
            name = _text(info.get("name") or info.get(b"name"))
            pending = int(info.get("pending", info.get(b"pending", 0)))
            idle = int(info.get("idle", info.get(b"idle", 0)))
            if name != self.consumer.consumer and pending == 0 and idle > _STALE_CONSUMER_SECONDS * 1000:
                client.xgroup_delconsumer(stream, self.group, name)

    # The loop

    def step(self) -> None:
        if self.group is None:
            self.read_broadcast()
            return
        self.entered = True
        now = time.monotonic()
        if now >= self.next_claim:
            self.next_claim = now + self.consumer.claim_interval
            for stream in self.by_stream:
                self.claim(stream)
                if self.stopping():
                    return
        self.read_group()

    def read_group(self) -> None:
        assert self.group is not None
        pipeline = self.client.pipeline(transaction=False)
        acked = self.queue_acks(pipeline)
        pipeline.xreadgroup(
            self.group,
            self.consumer.consumer,
            dict.fromkeys(self.by_stream, ">"),
            count=self.consumer.prefetch,
            block=self.consumer.block_ms,
        )
        replies = pipeline.execute()
        self.acks = {}
        self.after_acks(acked)
        for stream_name, entries in replies[-1] or []:
            stream = _text(stream_name)
            ids = [_text(entry_id) for entry_id, _ in entries]
            self.consumer.hold(stream, self.group, ids)
            for entry_id, fields in entries:
                self.handle(self.by_stream[stream], _text(entry_id), fields, 1)

    def queue_acks(self, pipeline: Any) -> list[tuple[str, list[str]]]:
        acked = [(stream, ids) for stream, ids in self.acks.items() if ids]
        for stream, ids in acked:
            pipeline.xack(stream, self.group, *ids)
        return acked

    def after_acks(self, acked: list[tuple[str, list[str]]]) -> None:
        assert self.group is not None
        for stream, ids in acked:
            for entry_id in ids:
                self.consumer.release(stream, self.group, entry_id)

    def flush_acks(self) -> None:
        if self.group is None or not any(self.acks.values()):
            return
        pipeline = self.client.pipeline(transaction=False)
        acked = self.queue_acks(pipeline)
        pipeline.execute()
        self.acks = {}
        self.after_acks(acked)

    def claim(self, stream: str) -> None:
        assert self.group is not None
        subscription = self.by_stream[stream]
        consumer = self.consumer
        live, dead, gone = consumer.fleet.run_script(
            _CLAIM,
            (stream, dead_letter_key(subscription.name)),
            (
                self.group,
                consumer.consumer,
                int(consumer.redeliver_after * 1000),
                _CLAIM_COUNT,
                subscription.max_deliveries,
                consumer.dead_letter_max_length,
            ),
            f"claiming idle {subscription.name} events",
        )
        for entry_id, deliveries in dead:
            consumer.report_dead(
                subscription, _text(entry_id), int(deliveries), "never acknowledged (the worker died or stalled)"
            )
        for entry_id in gone:
            _logger.warning(
                "Event %s %s was trimmed from its stream before it was handled (retention too short?)",
                subscription.name,
                _text(entry_id),
            )
        if not live:
            return
        self.consumer.hold(stream, self.group, [_text(entry[0]) for entry in live])
        for entry_id, fields, deliveries in live:
            consumer.metrics.counter("server.events.redelivered", event=subscription.name).increment()
            self.handle(subscription, _text(entry_id), fields, int(deliveries))

    def read_broadcast(self) -> None:
        replies = self.client.xread(self.last_ids, count=self.consumer.prefetch, block=self.consumer.block_ms)
        for stream_name, entries in replies or []:
            stream = _text(stream_name)
            for entry_id, fields in entries:
                text_id = _text(entry_id)
                self.last_ids[stream] = text_id
                self.handle_broadcast(self.by_stream[stream], text_id, fields)

    # One event

    def decode(self, subscription: Subscription, entry_id: str, fields: Any, deliveries: int) -> Event | None:
        """The event of an entry, or ``None`` after dead-lettering an entry that cannot be one."""
        try:
            envelope = decode_event(_field_map(fields))
        except InvalidEventError as exc:
            self.consumer.dead_letter(subscription, entry_id, fields, deliveries, f"undecodable event: {exc}")
            return None
        problems = subscription.problems(envelope["body"])
        if problems:
            self.consumer.dead_letter(
                subscription, entry_id, fields, deliveries, f"invalid body: {'; '.join(problems)}"
            )
            return None
        return Event(
            name=subscription.name,
            body=envelope["body"],
            id=entry_id,
            context=envelope["context"],
            published_at=envelope["published_at"],
            publisher=envelope["publisher"],
            delivery_count=deliveries,
            mode=subscription.mode,
            server=self.consumer.server,
        )

    def call(self, subscription: Subscription, event: Event) -> BaseException | None:
        """Run the handler; return what it raised (``None`` on success)."""
        consumer = self.consumer
        context = {"correlation_id": event.correlation_id or "--", "request_id": f"event:{event.name}:{event.id}"}
        with consumer.handler_lock, consumer.metrics.timer("server.events.handle", event=subscription.name):
            PySOALogContextFilter.set_logging_request_context(**context)
            try:
                consumer.run_handler(subscription, event, self.loop_holder)
                return None
            except Exception as exc:
                return exc
            finally:
                PySOALogContextFilter.clear_logging_request_context()

    def failed(
        self, subscription: Subscription, entry_id: str, fields: Any, deliveries: int, error: BaseException
    ) -> float | None:
        """Count and log a failed handler; dead-letter its event after its last delivery.

        Returns:
            The delay before the next delivery, or ``None`` when the event was dead-lettered.
        """
        consumer = self.consumer
        consumer.metrics.counter("server.events.failed", event=subscription.name).increment()
        kind = "broadcast event" if subscription.group is None else "event"
        if deliveries >= subscription.max_deliveries:
            _logger.error(
                "Handler of %s %s %s failed (delivery %d of %d)", kind, subscription.name, entry_id, deliveries,
                subscription.max_deliveries, exc_info=error,
            )  # fmt: skip
            consumer.dead_letter(subscription, entry_id, fields, deliveries, f"{type(error).__name__}: {error}")
            return None
        delay = consumer.retry_delay_for(deliveries)
        _logger.warning(
            "Handler of %s %s %s failed (delivery %d of %d); retrying in %.1f s",
            kind, subscription.name, entry_id, deliveries, subscription.max_deliveries, delay, exc_info=error,
        )  # fmt: skip
        return delay

    def handle(self, subscription: Subscription, entry_id: str, fields: Any, deliveries: int) -> None:
        assert self.group is not None
        consumer = self.consumer
        try:
            event = self.decode(subscription, entry_id, fields, deliveries)
            if event is None:
                return
            error = self.call(subscription, event)
            if error is None:
                consumer.metrics.counter("server.events.handled", event=subscription.name).increment()
                self.acks.setdefault(subscription.stream, []).append(entry_id)
                return
            delay = self.failed(subscription, entry_id, fields, deliveries, error)
            if delay is None:
                return
            idle_ms = max(int((consumer.redeliver_after - delay) * 1000), 0)
            group = self.group
            consumer.fleet.run(
                subscription.stream,
                lambda client: client.xclaim(
                    subscription.stream, group, consumer.consumer, 0, [entry_id], idle=idle_ms, justid=True
                ),
                f"scheduling a retry of event {subscription.name}",
            )
        finally:
            if entry_id not in self.acks.get(subscription.stream, ()):
                consumer.release(subscription.stream, self.group, entry_id)

    def handle_broadcast(self, subscription: Subscription, entry_id: str, fields: Any) -> None:
        consumer = self.consumer
        for deliveries in range(1, subscription.max_deliveries + 1):
            event = self.decode(subscription, entry_id, fields, deliveries)
            if event is None:
                return
            error = self.call(subscription, event)
            if error is None:
                consumer.metrics.counter("server.events.handled", event=subscription.name).increment()
                return
            delay = self.failed(subscription, entry_id, fields, deliveries, error)
            if delay is None:
                return
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if self.stopping():
                    _logger.warning("Broadcast event %s %s given up at shutdown", subscription.name, entry_id)
                    return
                time.sleep(0.05)

    # Stopping

    def finish(self) -> None:
        if not self.entered:
            # Never claimed nor read (stopped before Redis answered, or at once): nothing to acknowledge, no
            # consumer to remove, so nothing to tell Redis (or to fail to tell it, during an outage).
            self.close_loops()
            return
        try:
            self.flush_acks()
            if self.group is not None:
                self.delete_self_if_idle()
        except (redis.RedisError, OSError, FleetError) as exc:
            self.consumer.could_not_finish(exc)
        self.close_loops()

    def close_loops(self) -> None:
        for loop in self.loop_holder:
            loop.close()

    def delete_self_if_idle(self) -> None:
        assert self.group is not None
        client = self.client
        for stream in self.by_stream:
            pending = client.xpending_range(stream, self.group, "-", "+", 1, consumername=self.consumer.consumer)
            if not pending:
                client.xgroup_delconsumer(stream, self.group, self.consumer.consumer)
