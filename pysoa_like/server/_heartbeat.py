"""The heartbeat file: proof of life for process supervisors (``heartbeat_file`` setting).

The file is created when the server starts (``{{pid}}`` and ``{{fid}}`` in the path are replaced
by the process id and the fork id, ``main`` when not forked) and holds the ``time.time()`` of the
last beat. The server beats after each request and each idle receive; a background thread also
beats while a request is running, as long as the server made progress within ``stale_after``
seconds (harakiri's timeout plus grace), so a long but healthy request does not look dead while a
truly stuck process stops beating. Writes happen at most every 2.5 seconds. The file is deleted at
shutdown.
"""

from __future__ import annotations

import logging
import os
import threading
import time

__all__ = ["HEARTBEAT_INTERVAL_SECONDS", "HeartbeatFile", "ReadinessFile", "heartbeat_path"]

#: The shortest time between two writes of the heartbeat file.
HEARTBEAT_INTERVAL_SECONDS = 2.5


def heartbeat_path(template: str, pid: int, forked_process_id: int | None) -> str:
    """The heartbeat path with ``{{pid}}`` and ``{{fid}}`` substituted."""
    fid = "main" if forked_process_id is None else str(forked_process_id)
    return template.replace("{{pid}}", str(pid)).replace("{{fid}}", fid)


class HeartbeatFile:
    """Writes the heartbeat file.

    Args:
        path: The file (already substituted).
        logger: Where write failures are logged (they never stop the server).
        stale_after: Stop background beats when the server made no progress for this long
            (``None``: never).
        interval: The shortest time between writes.
    """

    def __init__(
        self,
        path: str,
        logger: logging.Logger,
        stale_after: float | None = None,
        interval: float = HEARTBEAT_INTERVAL_SECONDS,
    ) -> None:
        self.path = path
        self._logger = logger
        self._stale_after = stale_after
        self._interval = interval
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._last_progress = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Create the file and start the background thread that beats during long requests."""
        self.beat(force=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pysoa-like-heartbeat", daemon=True)
        self._thread.start()

    def beat(self, force: bool = False) -> None:
        """Record progress and write the file if the interval has passed (or ``force``)."""
        self._last_progress = time.monotonic()
        self._write(force)

    def _write(self, force: bool) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_write < self._interval:
                return
            self._last_write = now
            try:
                with open(self.path, "w") as stream:
                    stream.write(f"{time.time()}\n")
            except OSError as exc:
                self._logger.warning("Could not write the heartbeat file %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self._interval)):
            if self._stale_after is None or time.monotonic() - self._last_progress <= self._stale_after:
                self._write(False)

    def stop(self) -> None:
        """Stop the background thread and delete the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        with self._lock:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._logger.warning("Could not delete the heartbeat file %s: %s", self.path, exc)


class ReadinessFile:
    """The readiness file: present while the worker can reach its transport (``readiness_file`` setting).

    It appears after the worker's first receive that worked, disappears when a transport outage starts (and
    at shutdown) and appears again when the outage ends; it holds the ``time.time()`` it was written at. A
    readiness probe is then ``test -e <file>``. Write failures are logged and never stop the server.

    Args:
        path: The file (already substituted).
        logger: Where write failures are logged.
    """

    def __init__(self, path: str, logger: logging.Logger) -> None:
        self.path = path
        self._logger = logger

    def set(self, ready: bool) -> None:
        """Create (``ready``) or delete the file."""
        try:
            if ready:
                with open(self.path, "w") as stream:
                    stream.write(f"{time.time()}\n")
            else:
                os.remove(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._logger.warning("Could not update the readiness file %s: %s", self.path, exc)
