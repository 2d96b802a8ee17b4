"""The worker loop of a server: :meth:`Server.run` with signals, harakiri and the heartbeat file.

Kept apart from :mod:`pysoa_like.server.server` (the request handling) as a mixin, so
:class:`~pysoa_like.server.server.Server` keeps PySOA's single-class public API.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.common.transport.errors import TransientPySOATransportError
from pysoa_like.server._harakiri import Harakiri, HarakiriInterrupt
from pysoa_like.server._heartbeat import HeartbeatFile, heartbeat_path
from pysoa_like.server._signals import ShutdownSignalHandler

__all__ = ["WorkerLoopMixin"]

_MAX_BACKOFF_SECONDS = 15.0
# PySOA's limit: more transient transport failures than this (net of successes) stop the server.
_MAX_TRANSIENT_FAILURES = 5


class WorkerLoopMixin:
    """The serving loop and its process concerns; see :class:`~pysoa_like.server.server.Server`."""

    service_name: ClassVar[str | None]
    use_django: ClassVar[bool]
    settings: Any
    forked_process_id: int | None
    shutting_down: bool
    logger: logging.Logger
    metrics: MetricsRecorder
    transport: ServerTransport
    _harakiri: Harakiri
    _heartbeat: HeartbeatFile | None

    if TYPE_CHECKING:

        def setup(self) -> None: ...

        def teardown(self) -> None: ...

        def close(self) -> None: ...

        def handle_next_request(self) -> None: ...

    def _on_harakiri(self) -> None:
        self.shutting_down = True

    def _request_shutdown(self) -> None:
        self.shutting_down = True

    def _start_heartbeat(self) -> None:
        template = self.settings.get("heartbeat_file")
        if not template:
            return
        harakiri = self._harakiri
        stale_after = harakiri.timeout + harakiri.shutdown_grace if harakiri.enabled else None
        path = heartbeat_path(template, os.getpid(), self.forked_process_id)
        self._heartbeat = HeartbeatFile(path, self.logger, stale_after=stale_after)
        self._heartbeat.start()

    def run(self) -> None:
        """Serve requests until :attr:`shutting_down` is set, then tear down.

        In the main thread, SIGINT/SIGTERM request a graceful shutdown (the job in progress
        finishes; a second signal forces the exit) and harakiri (SIGALRM) interrupts a cycle that
        takes longer than ``harakiri.timeout``. The heartbeat file, if configured, lives as long as
        this loop. Transient transport errors back off exponentially (``(2**n + random())/4``
        seconds, at most 15); after more than five in a row (net of successes) the server shuts
        down. Any other error is logged and the loop goes on.
        """
        in_main_thread = threading.current_thread() is threading.main_thread()
        signals = ShutdownSignalHandler(self._request_shutdown, self.logger)
        self.logger.info("Service %s server starting up (fork id %s)", self.service_name, self.forked_process_id)
        self.setup()
        self.metrics.counter("server.worker.startup").increment()
        self.metrics.gauge("server.worker.running").set(1)
        self.metrics.gauge("server.worker.busy").set(0)
        self.metrics.publish_all()
        failures = 0
        try:
            self._start_heartbeat()
            if in_main_thread:
                signals.install()
                self._harakiri.install()
            while not self.shutting_down:
                self._harakiri.arm()
                try:
                    self.handle_next_request()
                    failures = max(failures - 1, 0)
                except TransientPySOATransportError as exc:
                    failures += 1
                    if failures > _MAX_TRANSIENT_FAILURES:
                        self.logger.error("Too many transient transport errors in a row (last: %s); shutting down", exc)
                        self.shutting_down = True
                        break
                    delay = min((2 ** min(failures, 8) + random.random()) / 4.0, _MAX_BACKOFF_SECONDS)
                    self.logger.warning("Transient transport error (%s); retrying in %.2f s", exc, delay)
                    time.sleep(delay)
                except HarakiriInterrupt:
                    # Fired outside the job pipeline (receive, send, hooks): nobody can be answered.
                    self.metrics.counter("server.error.harakiri", harakiri_level="server").increment()
                    self.logger.error("Harakiri interrupted the server loop outside a job; shutting down")
                    break
                except Exception as exc:
                    self.logger.error("Unexpected error in the server loop: %s", exc, exc_info=exc)
                finally:
                    self._harakiri.disarm()
                self.metrics.publish_all()
        finally:
            self._shut_down(signals if in_main_thread else None)

    def _shut_down(self, signals: ShutdownSignalHandler | None) -> None:
        self.logger.info("Service %s server shutting down", self.service_name)
        try:
            self.transport.flush_responses()
        except Exception as exc:
            self.logger.error("Could not confirm the last responses: %s", exc, exc_info=exc)
        try:
            self.teardown()
        finally:
            self.close()
            if self.use_django:
                from pysoa_like.server._django_hooks import close_django_caches

                close_django_caches(self.logger, for_shutdown=True)
            if self._heartbeat is not None:
                self._heartbeat.stop()
                self._heartbeat = None
            self.metrics.counter("server.worker.shutdown").increment()
            self.metrics.gauge("server.worker.running").set(0)
            self.metrics.publish_all()
            if signals is not None:
                signals.uninstall()
            # Harakiri's grace alarm stays armed through teardown, so a hanging teardown is still cut short.
            self._harakiri.uninstall()
