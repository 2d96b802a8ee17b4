"""Running periodic tasks in a worker: one claim per tick in Redis, so exactly one worker runs each tick.

For each task the fleet shares two keys (see :mod:`pysoa_like.fleet.keys`): a hash recording the last
tick claimed, and a lock held (with a TTL) by the worker running the task. At each tick every worker
tries to claim it with one script that, atomically:

* refuses while the lock is held (the previous run is still going: no overlap; the worker tries again
  every half second, so ticks that fell during a long run are run once, right after it);
* refuses a tick not later than the last one claimed (someone else has it: exactly once);
* records the very first tick it sees without running it (a new task starts at its next tick);
* otherwise records the tick and takes the lock.

The winner runs the task in a thread of its own; the fleet keeper refreshes the lock meanwhile and the
run releases it when done. Ticks are computed from each worker's clock; the claims are judged in Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.fleet._callables import finish
from pysoa_like.fleet.errors import FleetError
from pysoa_like.fleet.keys import periodic_lock_key, periodic_state_key
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.periodic.tasks import PeriodicTask, TaskRun

if TYPE_CHECKING:
    from pysoa_like.server.server import Server

__all__ = ["ClaimResult", "PeriodicScheduler", "claim_tick"]

_logger = logging.getLogger("pysoa_like.periodic")

# How often a worker asks again for a tick refused because a run was still going.
_RETRY_WHILE_RUNNING_SECONDS = 0.5
# How often it asks again after Redis failed.
_RETRY_AFTER_FAILURE_SECONDS = 1.0

# KEYS: state hash, lock. ARGV: tick (ms), owner, lock ttl (ms), now (ms).
# Returns {1, previous tick} when this worker claimed the tick, else {0, why}.
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {0, 'running'} end
local last = redis.call('HGET', KEYS[1], 'tick')
if not last then
  redis.call('HSET', KEYS[1], 'tick', ARGV[1], 'first_seen_by', ARGV[2], 'first_seen_at', ARGV[4])
  return {0, 'first'}
end
if tonumber(last) >= tonumber(ARGV[1]) then return {0, 'done'} end
redis.call('HSET', KEYS[1], 'tick', ARGV[1], 'owner', ARGV[2], 'started_at', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {1, last}
"""

# KEYS: lock. ARGV: owner, ttl (ms). Extends the lock if this worker still holds it.
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: state hash, lock. ARGV: owner, finished at (ms), duration (ms), error ('' for none).
_RELEASE = """
redis.call('HSET', KEYS[1], 'finished_at', ARGV[2], 'duration_ms', ARGV[3], 'error', ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then return redis.call('DEL', KEYS[2]) end
return 0
"""

ClaimResult = tuple[bool, float | None, str]
"""``(claimed, previous tick or None, why not)`` of :func:`claim_tick`."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else str(value)


def claim_tick(
    fleet: FleetRedis, service: str, task: str, tick: float, owner: str, lock_ttl_seconds: float
) -> ClaimResult:
    """Try to claim one tick of a task for ``owner`` (see the module docstring).

    Returns:
        ``(True, previous tick, "")`` when claimed (the lock is then held), else
        ``(False, None, "running" | "done" | "first")``.

    Raises:
        FleetConnectionError: Redis failed.
    """
    keys = (periodic_state_key(service, task), periodic_lock_key(service, task))
    now_ms = int(time.time() * 1000)
    args = (round(tick * 1000), owner, max(int(lock_ttl_seconds * 1000), 1), now_ms)
    claimed, detail = fleet.run_script(_CLAIM, keys, args, f"claiming a tick of periodic task {task}")
    if int(claimed) == 1:
        return True, int(_text(detail)) / 1000.0, ""
    return False, None, _text(detail)


class _TaskState:
    __slots__ = ("next_refresh", "retry_at", "seen", "thread")

    def __init__(self) -> None:
        self.seen = float("-inf")
        self.retry_at = 0.0
        self.next_refresh = 0.0
        self.thread: threading.Thread | None = None


class PeriodicScheduler:
    """The periodic tasks of one worker (a fleet runtime component; see the module docstring).

    Args:
        server: The server whose tasks run.
        fleet: Where the task keys live.
        tasks: The server's periodic tasks.
        owner: This worker's instance id.
        default_lock_ttl: ``periodic.lock_ttl_seconds``.
        stopping: Says when to stop claiming ticks.
    """

    def __init__(
        self,
        server: Server,
        fleet: FleetRedis,
        tasks: Sequence[PeriodicTask],
        owner: str,
        default_lock_ttl: float,
        stopping: Callable[[], bool],
    ) -> None:
        self.server = server
        self.fleet = fleet
        self.tasks = list(tasks)
        self.owner = owner
        self.default_lock_ttl = default_lock_ttl
        self.stopping = stopping
        self.service = str(server.service_name)
        self._states = {task.name: _TaskState() for task in self.tasks}
        self._failing = False

    def _lock_ttl(self, task: PeriodicTask) -> float:
        return task.lock_ttl_seconds or self.default_lock_ttl

    def keep(self, now: float) -> None:
        """Keeper step: refresh the locks of running tasks; claim due ticks of the others."""
        for task in self.tasks:
            state = self._states[task.name]
            if state.thread is not None:
                if state.thread.is_alive():
                    if now >= state.next_refresh:
                        state.next_refresh = now + self._lock_ttl(task) / 3
                        self._refresh(task)
                    continue
                state.thread = None
            if self.stopping() or now < state.retry_at:
                continue
            tick = task.schedule.previous_tick(time.time())
            if tick <= state.seen:
                continue
            self._try(task, state, tick, now)

    def _try(self, task: PeriodicTask, state: _TaskState, tick: float, now: float) -> None:
        try:
            claimed, previous, why = claim_tick(
                self.fleet, self.service, task.name, tick, self.owner, self._lock_ttl(task)
            )
        except FleetError as exc:
            if not self._failing:
                self._failing = True
                _logger.warning("Periodic tasks: could not claim ticks (retrying): %s", exc)
            state.retry_at = now + _RETRY_AFTER_FAILURE_SECONDS
            return
        if self._failing:
            self._failing = False
            _logger.info("Periodic tasks: could claim ticks again")
        if why == "running":
            state.retry_at = now + _RETRY_WHILE_RUNNING_SECONDS
            return
        state.seen = tick
        if not claimed:
            return
        missed = task.missed_ticks(previous, tick) if previous is not None else 0
        state.next_refresh = now + self._lock_ttl(task) / 3
        state.thread = threading.Thread(
            target=self._run, args=(task, tick, missed), name=f"pysoa-like-periodic-{task.name}", daemon=True
        )
        state.thread.start()

    def _refresh(self, task: PeriodicTask) -> None:
        keys = (periodic_lock_key(self.service, task.name),)
        ttl_ms = max(int(self._lock_ttl(task) * 1000), 1)
        try:
            self.fleet.run_script(_REFRESH, keys, (self.owner, ttl_ms), f"refreshing the lock of {task.name}")
        except FleetError as exc:
            _logger.warning("Periodic task %s: could not refresh its run lock: %s", task.name, exc)

    def _run(self, task: PeriodicTask, tick: float, missed: int) -> None:
        metrics = self.server.metrics
        run = TaskRun(task.name, tick, missed, self.server)
        if missed:
            metrics.counter("server.periodic.missed_ticks", task=task.name).increment(missed)
            _logger.info("Periodic task %s runs its tick of %s once for %d missed ticks", task.name, tick, missed)
        error = ""
        started = time.perf_counter()
        PySOALogContextFilter.set_logging_request_context(request_id=f"periodic:{task.name}:{tick:.0f}")
        try:
            with metrics.timer("server.periodic.duration", task=task.name):
                finish(task.bind(self.server)(run))
            metrics.counter("server.periodic.run", task=task.name).increment()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            metrics.counter("server.periodic.failed", task=task.name).increment()
            _logger.exception("Periodic task %s failed (tick %s)", task.name, tick)
        finally:
            PySOALogContextFilter.clear_logging_request_context()
            duration_ms = int((time.perf_counter() - started) * 1000)
            keys = (periodic_state_key(self.service, task.name), periodic_lock_key(self.service, task.name))
            try:
                self.fleet.run_script(
                    _RELEASE, keys, (self.owner, int(time.time() * 1000), duration_ms, error), f"releasing {task.name}"
                )
            except FleetError as exc:
                _logger.warning("Periodic task %s: could not release its run lock (it expires): %s", task.name, exc)

    def join(self, deadline: float) -> bool:
        """Wait (until ``deadline``, monotonic) for the running tasks; whether they all finished."""
        threads = [state.thread for state in self._states.values() if state.thread is not None]
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        return not any(thread.is_alive() for thread in threads)
