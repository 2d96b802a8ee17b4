"""The supervising parent of ``--fork N``: starts workers, respawns crashed ones, relays signals.

Workers get fork ids 1..N. A worker that exits while the parent is not shutting down is started
again with the same fork id, unless it already exited 3 times within 15 seconds or 8 times within
60 seconds (PySOA's limits): then it is given up, with a log line saying why. SIGINT, SIGTERM and
SIGHUP make the parent stop respawning and send SIGTERM to every worker (a second signal is forwarded
again, which forces the workers out); one that comes while the workers are being started stops the
starting. Workers are forked with these signals blocked, and unblock them once they have reset their
handling (:func:`reset_signals_in_worker`), so a signal sent to a worker that just started is never
lost. The parent returns when no worker is left, with the first failure a worker ended
with while the parent was not shutting down (:mod:`pysoa_like.server.exit_codes`): a worker that exits
with a code no restart can fix (a settings mistake, a give-up) is not respawned and its code is the
parent's.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from types import FrameType

from pysoa_like.server.exit_codes import EXIT_FAILURE, EXIT_OK, NOT_RESTARTABLE

__all__ = ["RESPAWN_LIMITS", "RespawnLimiter", "WorkerSupervisor", "reset_signals_in_worker"]

#: (exits, within seconds): reaching either gives the worker up.
RESPAWN_LIMITS: tuple[tuple[int, float], ...] = ((3, 15.0), (8, 60.0))

_PARENT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The longest the parent waits without looking for exited workers (a signal or a worker's exit wakes it at once).
_LOOK_AGAIN_SECONDS = 1.0


#: The signals blocked while a worker is forked (and in the new worker until it resets them).
_SUPERVISOR_SIGNALS = (*_PARENT_SIGNALS, signal.SIGCHLD)


def _wake_only(signum: int, frame: FrameType | None) -> None:
    """SIGCHLD's handler while supervising: the signal's byte on the wakeup socket is all that is needed."""


#: The supervisor's wakeup socket pair while it runs (a worker forked meanwhile closes its copies).
_wakeup_sockets: list[socket.socket] = []


def reset_signals_in_worker() -> None:
    """What a worker the supervisor forked must call first, in the child: it takes the default handling of
    SIGINT, SIGTERM, SIGHUP and SIGCHLD back, stops writing signals to the parent's wakeup socket (and closes its
    copies of the socket pair), and unblocks the signals the fork was made with blocked (one sent to it meanwhile
    is then delivered: SIGTERM ends it)."""
    signal.set_wakeup_fd(-1)
    for inherited in _wakeup_sockets:
        inherited.close()
    _wakeup_sockets.clear()
    for signum in _SUPERVISOR_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SUPERVISOR_SIGNALS)


class RespawnLimiter:
    """Remembers when one worker slot exited and says when to give it up.

    Args:
        limits: ``(exits, seconds)`` pairs; reaching any gives up.
        clock: A monotonic clock (tests replace it).
    """

    def __init__(
        self, limits: Sequence[tuple[int, float]] = RESPAWN_LIMITS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = tuple(limits)
        self._longest = max(seconds for _, seconds in self._limits)
        self._clock = clock
        self._exits: collections.deque[float] = collections.deque()

    def record_exit(self) -> str | None:
        """Record an exit now; return why the worker must be given up, or ``None`` to respawn it."""
        now = self._clock()
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self._longest:
            self._exits.popleft()
        for count, seconds in self._limits:
            recent = sum(1 for t in self._exits if now - t <= seconds)
            if recent >= count:
                return f"it exited {recent} times within {seconds:g} seconds"
        return None


class WorkerSupervisor:
    """Runs N worker processes until they are all gone.

    Args:
        start_worker: Starts the worker with the given fork id and returns its pid (it forks; the child calls
            :func:`reset_signals_in_worker` first).
        worker_count: How many workers (fork ids 1..N).
        respawn: Restart workers that exit while the parent is not shutting down.
        logger: Where lifecycle events are logged.
        clock: A monotonic clock for the respawn limits.
        on_exit: Called with ``(pid, respawned)`` after each worker exit has been handled (the metrics
            exposition marks the worker dead and counts respawns); its errors are logged.
    """

    def __init__(
        self,
        start_worker: Callable[[int], int],
        worker_count: int,
        respawn: bool = True,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_exit: Callable[[int, bool], None] | None = None,
    ) -> None:
        self._start_worker = start_worker
        self.worker_count = worker_count
        self.respawn = respawn
        self._logger = logger or logging.getLogger("pysoa_like.server.standalone")
        self._limiters = {fid: RespawnLimiter(clock=clock) for fid in range(1, worker_count + 1)}
        self.workers: dict[int, int] = {}
        self.shutting_down = False
        self.given_up: list[int] = []
        #: The first failure (an exit code) a worker ended with outside a shutdown; 0 while there is none.
        self.exit_code = EXIT_OK
        self._on_exit_observer = on_exit
        self._signals_to_forward: list[int] = []

    def handle_signal(self, signum: int, frame: FrameType | None) -> None:
        """Stop respawning; the main loop passes SIGTERM to every worker (it only notes the signal here, so that
        it never runs between a fork and the worker's being recorded)."""
        self.shutting_down = True
        self._signals_to_forward.append(signum)

    def run(self) -> int:
        """Start the workers and supervise them until none is left.

        Returns:
            ``0``; else the first failure: ``1`` for a worker given up after crashing too often (or that failed
            with ``respawn`` off), or the worker's own code when no restart can fix it (``2``, ``4``).
        """
        # Any signal below, whichever thread of this process the kernel gives it to, writes a byte to wake_writer:
        # the main thread waits on wake_reader, never in a blocking waitpid, which only a signal to the main thread
        # itself would interrupt (another thread taking it, as a metrics exposition's, left the workers running
        # until one exited on its own).
        wake_reader, wake_writer = socket.socketpair()
        wake_reader.setblocking(False)
        wake_writer.setblocking(False)
        _wakeup_sockets[:] = [wake_reader, wake_writer]
        previous_wakeup_fd = signal.set_wakeup_fd(wake_writer.fileno(), warn_on_full_buffer=False)
        previous = {signum: signal.signal(signum, self.handle_signal) for signum in _PARENT_SIGNALS}
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, _wake_only)
        try:
            for fid in range(1, self.worker_count + 1):
                if self.shutting_down:
                    break
                self._spawn(fid)
            while self.workers:
                self._forward_signals()
                if not self._reap_exited():
                    select.select([wake_reader], [], [], _LOOK_AGAIN_SECONDS)
                    with contextlib.suppress(BlockingIOError):
                        wake_reader.recv(4096)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            signal.set_wakeup_fd(previous_wakeup_fd)
            wake_reader.close()
            wake_writer.close()
            _wakeup_sockets.clear()
        return self.exit_code

    def _spawn(self, fid: int) -> int:
        """Start worker ``fid`` with the supervisor's signals blocked: the child inherits the block, so a signal sent
        to it before it set its own handlers waits for them (see :func:`reset_signals_in_worker`) instead of being
        ignored or running the parent's handler."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
        try:
            pid = self._start_worker(fid)
            self.workers[pid] = fid
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return pid

    def _forward_signals(self) -> None:
        """Pass each signal received since the last look to every worker, as SIGTERM."""
        while self._signals_to_forward:
            signum = self._signals_to_forward.pop(0)
            self._logger.info(
                "Supervisor received %s; stopping %d worker(s)", signal.Signals(signum).name, len(self.workers)
            )
            for pid in list(self.workers):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _reap_exited(self) -> bool:
        """Handle every worker that has exited (without waiting); ``True`` if there was one, or no child is left."""
        reaped = False
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.workers.clear()
                return True
            if pid == 0:
                break
            reaped = True
            fid_or_none = self.workers.pop(pid, None)
            if fid_or_none is not None:
                self._on_exit(fid_or_none, pid, os.waitstatus_to_exitcode(status))
        return reaped

    def _on_exit(self, fid: int, pid: int, exit_code: int) -> None:
        respawned = self._handle_exit(fid, pid, exit_code)
        if self._on_exit_observer is not None:
            try:
                self._on_exit_observer(pid, respawned)
            except Exception as exc:
                self._logger.error("The worker exit observer failed: %s", exc, exc_info=exc)

    def _handle_exit(self, fid: int, pid: int, exit_code: int) -> bool:
        """Log a worker's exit and respawn it if allowed; return whether it was respawned."""
        how = f"was killed by signal {-exit_code}" if exit_code < 0 else f"exited with code {exit_code}"
        if self.shutting_down:
            self._logger.info("Worker %d (pid %d) %s", fid, pid, how)
            return False
        if exit_code in NOT_RESTARTABLE:
            self._logger.error("Worker %d (pid %d) %s and will not be respawned: a restart cannot help", fid, pid, how)
            self._failed(exit_code)
            return False
        if not self.respawn:
            log = self._logger.info if exit_code == 0 else self._logger.error
            log("Worker %d (pid %d) %s", fid, pid, how)
            if exit_code:
                self._failed(EXIT_FAILURE if exit_code < 0 else exit_code)
            return False
        reason = self._limiters[fid].record_exit()
        if reason is not None:
            self._logger.error("Worker %d (pid %d) %s and will not be respawned: %s", fid, pid, how, reason)
            self.given_up.append(fid)
            self._failed(EXIT_FAILURE)
            return False
        new_pid = self._spawn(fid)
        self._logger.warning("Worker %d (pid %d) %s; respawned as pid %d", fid, pid, how, new_pid)
        return True

    def _failed(self, exit_code: int) -> None:
        if self.exit_code == EXIT_OK:
            self.exit_code = exit_code
