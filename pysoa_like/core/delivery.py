"""At-least-once delivery of requests (opt-in per service): its keys, scripts and decisions, with no I/O.

With the server setting ``delivery: "at_least_once"``, a worker takes each request from the service's queue with
``BLMOVE`` into an in-progress list of its own, and removes it from there (``LREM``) only after the reply was
pushed (or, for a request that wants no reply, after its job ran). Workers advertise that they are alive in a
sorted set (score: the Redis time, in milliseconds, until which each is presumed alive); any live worker of the
service puts the requests of a worker that stopped advertising back on the queue (``RECOVER_SCRIPT``),
counting one failed delivery per request. A request whose deliveries all failed goes to the dead-letter list and
its caller is answered with a ``DEAD_LETTERED`` job error.

Actions declare whether running them twice is safe (``idempotent = True`` on the action class). A job with any
other action is claimed by its request id before it runs (``CLAIM_SCRIPT``): the claim says whether to run
it, whether its reply is already known (kept for a window after it finished, and pushed again instead of running
the job again), whether a live worker is running it now (never run twice at once), or whether the worker that
ran it died (it is then not run again: its caller gets a ``WORKER_DIED`` job error, since how far the job got
cannot be known).

Key layout (``Q`` is the service's queue key, ``pysoa:service.<name>``, PySOA's name, unchanged). Every other key
starts with the hash tag ``{Q}``, so Redis Cluster puts it in the queue's slot and every script touches keys of
one slot; over a ring of standalone masters each master holds its own set of these keys, beside its own part of
the queue:

==================================================  ======  ================================================
Key                                                 Type    Holds
==================================================  ======  ================================================
``Q`` (``pysoa:service.<name>``)                    LIST    the requests, as PySOA clients push them
``{Q}:workers``                                     ZSET    worker id -> Redis time (ms) until which it is
                                                            presumed alive
``{Q}:in-progress:<worker id>``                     LIST    the requests a worker holds, byte for byte
``{Q}:deliveries``                                  HASH    SHA-1 of a request -> its failed deliveries
``{Q}:delivery-times``                              ZSET    SHA-1 of a request -> Redis time (ms) of its
                                                            last failed delivery (its count is forgotten
                                                            an hour after it)
``{Q}:dead-letter``                                 LIST    requests given up on, byte for byte (capped)
``{Q}:request:<SHA-1 of reply_to and request id>``  STRING  a non-idempotent job's claim: ``run:<worker
                                                            id>`` while it runs, then ``done:`` and its
                                                            reply, for the idempotency window
==================================================  ======  ================================================
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import attr
import msgpack  # type: ignore[import-untyped,unused-ignore]

from pysoa_like.core.constants import QUEUE_NAME_PREFIX, SERVICE_QUEUE_NAME_PREFIX

__all__ = [
    "ACKNOWLEDGE_SCRIPT",
    "AT_LEAST_ONCE",
    "AT_LEAST_ONCE_SERVER_ACL_RULES",
    "AT_MOST_ONCE",
    "CLAIM_SCRIPT",
    "DEFAULT_DEAD_LETTER_MAX_LENGTH",
    "DEFAULT_IDEMPOTENCY_WINDOW_SECONDS",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_WORKER_TTL_SECONDS",
    "DELIVERY_COUNTS_TTL_MILLISECONDS",
    "DELIVERY_MODES",
    "FIND_DEAD_SCRIPT",
    "HEARTBEAT_SCRIPT",
    "RECOVER_SCRIPT",
    "Claim",
    "ClaimVerdict",
    "DeliveryKeys",
    "DeliveryOptions",
    "Recovery",
    "claim_outcome",
    "dead_lettered_message",
    "decode_finished",
    "delivery_keys",
    "encode_finished",
    "finished_state",
    "interrupted_message",
    "job_needs_claim",
    "recovery_outcome",
    "request_identity",
    "state_ttl_milliseconds",
]

#: PySOA's delivery, the default: a request popped by a worker that dies is lost (its caller times out).
AT_MOST_ONCE = "at_most_once"
#: A request is removed from Redis only after its reply was pushed; a dead worker's requests are delivered again.
AT_LEAST_ONCE = "at_least_once"
#: The values of the server setting ``delivery``.
DELIVERY_MODES = (AT_MOST_ONCE, AT_LEAST_ONCE)
#: The Redis ACL rules an at-least-once server needs beside ``SERVER_ACL_RULES`` (its delivery keys, ``BLMOVE``,
#: ``LREM``, ``SET`` and what its scripts run); ``~{pysoa:service.<name>}:*`` confines them to one service.
AT_LEAST_ONCE_SERVER_ACL_RULES = (
    "~{pysoa:service.*}:* +blmove +lrem +set +get +time +zadd +zrem +zscore +zrangebyscore +pexpire +pttl +lrange "
    "+del +hincrby +hdel +lpush +rpush +ltrim"
)

#: Deliveries of one request, all ended by the death of their worker, before it goes to the dead-letter list.
DEFAULT_MAX_DELIVERIES = 5
#: How long a worker is presumed alive after it last advertised (it advertises every quarter of this).
DEFAULT_WORKER_TTL_SECONDS = 10.0
#: The longest a finished non-idempotent job's reply is kept (never longer than its request may still arrive).
DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 300
#: The most requests the dead-letter list keeps (the oldest go first).
DEFAULT_DEAD_LETTER_MAX_LENGTH = 10000
#: How long the failed-delivery count of a request is kept after its last failed delivery (longer than any request
#: lives); the counts of a service all go this long after its last redelivery.
DELIVERY_COUNTS_TTL_MILLISECONDS = 3_600_000
# Stale counts forgotten per recovery at most, beyond one per request recovered (a bounded amount of work).
_STALE_COUNTS_PER_RECOVERY = 100
# A finished job's reply stays at least this much longer than its request may still be delivered.
_STATE_MARGIN_SECONDS = 30.0
_MINIMUM_STATE_TTL_MILLISECONDS = 1000
_DONE_PREFIX = b"done:"

# The Redis time in milliseconds, in a script (scripts replicate their effects, so reading the clock is allowed).
_LUA_NOW = """\
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

#: ``EVAL <text> 2 <workers> <in-progress list> <worker id> <ttl ms> <keep ms>``: advertise the worker as alive
#: until ``ttl`` from now (Redis' clock), and keep its in-progress list and the workers set from expiring while
#: it lives. Replies 1 when the worker was not in the set (first advertisement, or presumed dead meanwhile).
HEARTBEAT_SCRIPT = (
    _LUA_NOW
    + """\
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return added
"""
)

#: ``EVAL <text> 1 <in-progress list> <request> [<request> ...]``: remove answered requests from a worker's
#: in-progress list (one ``LREM`` each) in one round trip; replies how many were there.
ACKNOWLEDGE_SCRIPT = """\
local removed = 0
for i = 1, #ARGV do
    removed = removed + redis.call('LREM', KEYS[1], 1, ARGV[i])
end
return removed
"""

#: ``EVAL <text> 1 <workers> <limit>``: the ids of up to ``limit`` workers presumed dead (not advertised in time).
FIND_DEAD_SCRIPT = (
    _LUA_NOW
    + """\
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
"""
)

#: ``EVAL <text> 6 <in-progress list> <queue> <deliveries> <dead-letter> <workers> <delivery times> <worker id>
#: <max deliveries> <dead-letter max length> <check alive: 1|0> <count: 1|0> [<request> ...]``: put a worker's
#: requests back on the queue. Counted (a dead worker's requests), each is one failed delivery more and goes back
#: at the queue's head (it waited longest), or into the dead-letter list when that was its last allowed delivery;
#: uncounted (a live worker giving back what it must not run now), it goes back at the tail. With ``check alive``,
#: nothing happens if the worker advertised meanwhile, and the worker leaves the workers set. With requests given,
#: only those are taken out of the list; else the whole list. A counted recovery also forgets the counts of
#: requests whose last failed delivery is older than :data:`DELIVERY_COUNTS_TTL_MILLISECONDS` (answered since, or
#: expired), a bounded number per call, so that redeliveries going on for ever do not keep every count for ever.
#: Replies ``{requeued, dead-lettered request, ...}``, or ``{-1}`` when the worker turned out to be alive.
RECOVER_SCRIPT = (
    _LUA_NOW
    + """\
local list, queue, counts, dead, workers, times = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if ARGV[4] == '1' then
    local alive_until = redis.call('ZSCORE', workers, ARGV[1])
    if alive_until and tonumber(alive_until) > now then
        return {-1}
    end
end
local entries
if #ARGV > 5 then
    entries = {}
    for i = 6, #ARGV do
        if redis.call('LREM', list, 1, ARGV[i]) > 0 then
            entries[#entries + 1] = ARGV[i]
        end
    end
else
    entries = redis.call('LRANGE', list, 0, -1)
    redis.call('DEL', list)
end
local result = {0}
for _, entry in ipairs(entries) do
    if ARGV[5] ~= '1' then
        redis.call('RPUSH', queue, entry)
        result[1] = result[1] + 1
    else
        local field = redis.sha1hex(entry)
        local failed = redis.call('HINCRBY', counts, field, 1)
        if failed >= tonumber(ARGV[2]) then
            redis.call('HDEL', counts, field)
            redis.call('ZREM', times, field)
            redis.call('RPUSH', dead, entry)
            redis.call('LTRIM', dead, -tonumber(ARGV[3]), -1)
            result[#result + 1] = entry
        else
            redis.call('ZADD', times, now, field)
            redis.call('LPUSH', queue, entry)
            result[1] = result[1] + 1
        end
    end
end
if ARGV[5] == '1' and #entries > 0 then
    local stale = redis.call('ZRANGEBYSCORE', times, '-inf', now - {keep}, 'LIMIT', 0, {stale} + #entries)
    if #stale > 0 then
        redis.call('HDEL', counts, unpack(stale))
        redis.call('ZREM', times, unpack(stale))
    end
    redis.call('PEXPIRE', counts, {keep})
    redis.call('PEXPIRE', times, {keep})
end
if result[1] > 0 then
    if redis.call('PTTL', queue) == -1 then
        redis.call('PEXPIRE', queue, {keep})
    end
end
if ARGV[4] == '1' then
    redis.call('ZREM', workers, ARGV[1])
end
return result
""".replace("{keep}", str(DELIVERY_COUNTS_TTL_MILLISECONDS)).replace("{stale}", str(_STALE_COUNTS_PER_RECOVERY))
)

#: ``EVAL <text> 2 <request state> <workers> <worker id> <ttl ms>``: claim a non-idempotent job before running it.
#: Replies ``{'run'}`` (claimed: run it), ``{'done', <finished state>}`` (it finished: push that reply again),
#: ``{'busy', <worker id>}`` (a live worker runs it now) or ``{'interrupted', <worker id>}`` (the worker that
#: ran it is presumed dead; the claim is now this worker's, to answer with an error).
CLAIM_SCRIPT = (
    _LUA_NOW
    + """\
local state = redis.call('GET', KEYS[1])
if not state then
    redis.call('SET', KEYS[1], 'run:' .. ARGV[1], 'PX', ARGV[2])
    return {'run'}
end
if string.sub(state, 1, 5) == 'done:' then
    return {'done', state}
end
local holder = string.sub(state, 5)
if holder ~= ARGV[1] then
    local alive_until = redis.call('ZSCORE', KEYS[2], holder)
    if alive_until and tonumber(alive_until) > now then
        return {'busy', holder}
    end
end
redis.call('SET', KEYS[1], 'run:' .. ARGV[1], 'PX', ARGV[2])
return {'interrupted', holder}
"""
)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DeliveryOptions:
    """The settings of at-least-once delivery (the server's ``at_least_once`` setting).

    Attributes:
        max_deliveries: Deliveries of one request, each ended by its worker's death, before it is dead-lettered.
        worker_ttl_seconds: How long a worker is presumed alive after advertising (it advertises 4 times as often).
        idempotency_window_seconds: The longest a finished non-idempotent job's reply is kept.
        dead_letter_max_length: The most requests the dead-letter list keeps.
    """

    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    worker_ttl_seconds: float = DEFAULT_WORKER_TTL_SECONDS
    idempotency_window_seconds: float = DEFAULT_IDEMPOTENCY_WINDOW_SECONDS
    dead_letter_max_length: int = DEFAULT_DEAD_LETTER_MAX_LENGTH

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker advertises that it is alive."""
        return self.worker_ttl_seconds / 4

    @property
    def recovery_seconds(self) -> float:
        """How often a worker looks for dead workers' requests (between jobs)."""
        return self.worker_ttl_seconds / 2


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DeliveryKeys:
    """The Redis keys of one service's at-least-once delivery (see the module's key layout).

    Attributes:
        queue: The service's request queue (PySOA's key).
        workers: The set of the service's at-least-once workers, scored by when each is presumed dead.
        deliveries: The failed-delivery counts of requests delivered again.
        dead_letter: The requests given up on.
    """

    queue: str
    workers: str
    deliveries: str
    dead_letter: str

    @property
    def tag(self) -> str:
        """The hash tag every key but the queue starts with: ``{`` + the queue key + ``}``."""
        return "{" + self.queue + "}"

    def in_progress(self, worker_id: str) -> str:
        """The in-progress list of one worker."""
        return f"{self.tag}:in-progress:{worker_id}"

    @property
    def delivery_times(self) -> str:
        """When each counted request last failed a delivery (its count is forgotten an hour after)."""
        return f"{self.tag}:delivery-times"

    def request_state(self, identity: str) -> str:
        """The claim of one non-idempotent job (``identity`` from :func:`request_identity`)."""
        return f"{self.tag}:request:{identity}"


def delivery_keys(service_name: str) -> DeliveryKeys:
    """The keys of ``service_name``'s at-least-once delivery.

    Args:
        service_name: The service name (a valid queue name).

    Returns:
        The keys, all in the Redis Cluster slot of the service's queue.

    Raises:
        ValueError: The name contains ``{`` or ``}``: the queue key would carry a hash tag of its own (or half
            of one), so no other key could be put in its slot without renaming it.
    """
    if "{" in service_name or "}" in service_name:
        raise ValueError(
            f"Service name {service_name!r} contains a brace, which at-least-once delivery cannot use: its keys "
            "share the queue's Redis Cluster slot through a hash tag made of the queue key"
        )
    queue = QUEUE_NAME_PREFIX + SERVICE_QUEUE_NAME_PREFIX + service_name
    tag = "{" + queue + "}"
    return DeliveryKeys(queue, f"{tag}:workers", f"{tag}:deliveries", f"{tag}:dead-letter")


def request_identity(reply_to: str, request_id: Any) -> str:
    """What identifies one request across its deliveries: a SHA-1 of its reply queue and request id.

    A request id is unique only per reply queue (PySOA clients count from a random start), so both are needed.
    """
    return hashlib.sha1(f"{reply_to}\n{request_id!r}".encode("utf-8", "surrogatepass")).hexdigest()


def job_needs_claim(body: Any, is_idempotent: Callable[[str], bool]) -> bool:
    """Whether a job must be claimed by request id before it runs: it has an action not declared idempotent.

    Args:
        body: The job request as received.
        is_idempotent: Whether running the named action twice is safe.

    Returns:
        False for a job without valid actions (it is answered with validation errors without running anything).
    """
    actions = body.get("actions") if isinstance(body, dict) else None
    if not isinstance(actions, list):
        return False
    for action in actions:
        name = action.get("action") if isinstance(action, dict) else None
        if isinstance(name, str) and not is_idempotent(name):
            return True
    return False


def state_ttl_milliseconds(request_expiry: Any, now: float, window_seconds: float) -> int:
    """How long a non-idempotent job's claim and reply are kept.

    As long as the request may still be delivered (its ``__expiry__``, after which a delivery is dropped
    unanswered) and a margin, but never longer than the idempotency window.

    Args:
        request_expiry: The request's ``__expiry__`` (epoch seconds), or anything else when it has none.
        now: The current epoch time.
        window_seconds: The idempotency window.
    """
    seconds = float(window_seconds)
    expiry_known = isinstance(request_expiry, int | float) and not isinstance(request_expiry, bool)
    if expiry_known and request_expiry == request_expiry:  # not NaN
        seconds = min(seconds, max(float(request_expiry) - now, 0.0) + _STATE_MARGIN_SECONDS)
    return max(int(seconds * 1000), _MINIMUM_STATE_TTL_MILLISECONDS)


def encode_finished(messages: Sequence[bytes], redis_expiry_seconds: int) -> bytes:
    """The state of a finished job: its framed reply (every chunk) and the reply list's TTL, to push them again."""
    packed: bytes = msgpack.packb([redis_expiry_seconds, list(messages)], use_bin_type=True)
    return _DONE_PREFIX + packed


def finished_state(messages: Sequence[Any], redis_expiry_seconds: int) -> bytes:
    """:func:`encode_finished` of messages that may still be in pieces (anything ``bytes()`` joins)."""
    return encode_finished([bytes(message) for message in messages], redis_expiry_seconds)


def decode_finished(state: bytes) -> tuple[list[bytes], int]:
    """The framed reply and reply-list TTL kept by :func:`encode_finished`.

    Raises:
        ValueError: The state is not a finished job's.
    """
    if not state.startswith(_DONE_PREFIX):
        raise ValueError("Not the state of a finished job")
    try:
        expiry, messages = msgpack.unpackb(state[len(_DONE_PREFIX) :], raw=False)
    except Exception as exc:
        raise ValueError(f"Unreadable state of a finished job: {exc}") from exc
    if not isinstance(expiry, int) or not isinstance(messages, list) or not messages:
        raise ValueError("Unreadable state of a finished job")
    if not all(isinstance(message, bytes) for message in messages):
        raise ValueError("Unreadable state of a finished job")
    return messages, expiry


class ClaimVerdict(enum.Enum):
    """What to do with a non-idempotent job after claiming it."""

    RUN = "run"  # claimed: run it
    DONE = "done"  # it finished before: push its kept reply again
    BUSY = "busy"  # a live worker runs it now: do not run it (give the request back later)
    INTERRUPTED = "interrupted"  # its worker died while running it: do not run it again, answer WORKER_DIED


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Claim:
    """The answer of :data:`CLAIM_SCRIPT`.

    Attributes:
        verdict: What to do.
        state: For ``DONE``, the finished state (:func:`decode_finished`).
        holder: For ``BUSY`` and ``INTERRUPTED``, the worker that held the job.
    """

    verdict: ClaimVerdict
    state: bytes | None = None
    holder: str | None = None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def claim_outcome(reply: Any) -> Claim:
    """The meaning of Redis' reply to :data:`CLAIM_SCRIPT`.

    Raises:
        ValueError: The reply is not one the script gives.
    """
    if not isinstance(reply, list) or not reply:
        raise ValueError(f"Unexpected reply to the claim script: {reply!r}")
    try:
        verdict = ClaimVerdict(_text(reply[0]))
    except ValueError:
        raise ValueError(f"Unexpected reply to the claim script: {reply!r}") from None
    if verdict is ClaimVerdict.RUN:
        return Claim(verdict)
    if len(reply) != 2:
        raise ValueError(f"Unexpected reply to the claim script: {reply!r}")
    if verdict is ClaimVerdict.DONE:
        return Claim(verdict, state=bytes(reply[1]))
    return Claim(verdict, holder=_text(reply[1]))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Recovery:
    """The answer of :data:`RECOVER_SCRIPT`.

    Attributes:
        alive: The worker advertised meanwhile: nothing was moved.
        requeued: How many requests went back on the queue.
        dead_lettered: The requests that went to the dead-letter list (their callers are to be answered).
    """

    alive: bool
    requeued: int = 0
    dead_lettered: tuple[bytes, ...] = ()


def recovery_outcome(reply: Any) -> Recovery:
    """The meaning of Redis' reply to :data:`RECOVER_SCRIPT`.

    Raises:
        ValueError: The reply is not one the script gives.
    """
    if not isinstance(reply, list) or not reply or not isinstance(reply[0], int):
        raise ValueError(f"Unexpected reply to the recovery script: {reply!r}")
    if reply[0] == -1:
        return Recovery(alive=True)
    return Recovery(alive=False, requeued=reply[0], dead_lettered=tuple(bytes(entry) for entry in reply[1:]))


def dead_lettered_message(max_deliveries: int) -> str:
    """The text of the ``DEAD_LETTERED`` job error a caller gets."""
    return (
        f"The request was delivered {max_deliveries} times and the worker handling it died each time; it was put "
        "in the service's dead-letter list instead of being delivered again"
    )


def interrupted_message() -> str:
    """The text of the ``WORKER_DIED`` job error a caller of an interrupted non-idempotent job gets."""
    return (
        "The worker running this request died before replying, and its actions are not declared idempotent, so "
        "it was not run again (whether it had taken effect cannot be known)"
    )
