"""The worker loop of a server: :meth:`Server.run` with signals, harakiri and the heartbeat file.

Kept apart from :mod:`pysoa_like.server.server` (the request handling) as a mixin, so
:class:`~pysoa_like.server.server.Server` keeps PySOA's single-class public API.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pysoa_like.fleet.redis import FleetRedis
    from pysoa_like.server._fleet import FleetRuntime

from pysoa_like.common.metrics import MetricsRecorder
from pysoa_like.common.transport.base import ServerTransport
from pysoa_like.common.transport.errors import ReceiveAuthenticationError, TransientPySOATransportError
from pysoa_like.server._harakiri import Harakiri, HarakiriInterrupt
from pysoa_like.server._heartbeat import HeartbeatFile, ReadinessFile, heartbeat_path
from pysoa_like.server._outage import OutageTracker
from pysoa_like.server._signals import ShutdownSignalHandler
from pysoa_like.server.exit_codes import EXIT_CONFIGURATION, EXIT_FAILURE, EXIT_GAVE_UP

__all__ = ["WorkerLoopMixin", "receive_slice_kwargs"]

# A backoff sleep is cut into slices this long, so a shutdown signal is acted on quickly.
_SLEEP_SLICE_SECONDS = 0.25
# The longest a receive may block, so the worker loop notices a shutdown signal within about a second.
_RECEIVE_SLICE_SECONDS = 1


def receive_slice_kwargs(transport: ServerTransport) -> dict[str, Any]:
    """``{"receive_timeout_in_seconds": <= 1}`` if the transport's receive accepts it, else ``{}``."""
    try:
        parameters = inspect.signature(transport.receive_request_message).parameters
    except (TypeError, ValueError):
        return {}
    if "receive_timeout_in_seconds" not in parameters:
        return {}
    configured = getattr(transport, "receive_timeout_in_seconds", None)
    if isinstance(configured, int | float) and 0 < configured < _RECEIVE_SLICE_SECONDS:
        return {"receive_timeout_in_seconds": configured}
    return {"receive_timeout_in_seconds": _RECEIVE_SLICE_SECONDS}


class WorkerLoopMixin:
    """The serving loop and its process concerns; see :class:`~pysoa_like.server.server.Server`."""

    service_name: ClassVar[str | None]
    use_django: ClassVar[bool]
    settings: Any
    forked_process_id: int | None
    shutting_down: bool
    exit_code: int
    concurrency: int
    logger: logging.Logger
    metrics: MetricsRecorder
    transport: ServerTransport
    _receive_kwargs: dict[str, Any]
    _harakiri: Harakiri
    _heartbeat: HeartbeatFile | None
    _readiness: ReadinessFile | None
    _fleet_runtime: FleetRuntime | None
    # Made by run() (or by the first direct call of handle_shutdown_signal).
    _shutdown_signals: ShutdownSignalHandler | None = None

    if TYPE_CHECKING:

        def setup(self) -> None: ...

        def teardown(self) -> None: ...

        def close(self) -> None: ...

        def handle_next_request(self) -> None: ...

        def stop_delivery(self) -> None: ...

        def resolve_fleet(self) -> FleetRedis | None: ...

        def fleet_features_declared(self) -> list[str]: ...

    def _on_harakiri(self) -> None:
        # The worker stops because it was stuck, not because it was asked to: a supervisor must restart it.
        self.exit_code = EXIT_FAILURE
        self.shutting_down = True

    def _request_shutdown(self) -> None:
        self.shutting_down = True

    def _shutdown_signal_handler(self) -> ShutdownSignalHandler:
        handler = self._shutdown_signals
        if handler is None:
            handler = self._shutdown_signals = ShutdownSignalHandler(self._request_shutdown, self.logger)
        return handler

    def handle_shutdown_signal(self, signal_number: int, stack_frame: FrameType | None) -> None:
        """The ``SIGINT``/``SIGTERM`` handler :meth:`run` installs (PySOA's name and signature).

        The first signal sets :attr:`shutting_down`: the job in hand finishes, then :meth:`run` returns. A
        second signal raises ``SystemExit(1)``, unless it comes within a second of the first (a duplicate).
        A subclass may override it (calling ``super()`` to keep this behaviour) or call it to act as if the
        signal had arrived.

        Args:
            signal_number: The signal received.
            stack_frame: The frame the signal interrupted (unused here).

        Raises:
            SystemExit: On a second, non-duplicate signal.
        """
        self._shutdown_signal_handler().handle(signal_number, stack_frame)

    def harakiri(self, signal_number: int, stack_frame: FrameType | None) -> None:
        """The ``SIGALRM`` handler :meth:`run` installs when ``harakiri.timeout`` is set (PySOA's name and signature).

        On the first alarm: logs every thread's stack, arms the ``harakiri.shutdown_grace`` alarm, sets
        :attr:`shutting_down` (and :attr:`exit_code` to 1) and raises :class:`HarakiriInterrupt` into the
        request in hand. On an alarm after that (the grace period ran out): exits the process at once, after
        giving the ``atexit`` functions up to five seconds. A subclass may override it, calling ``super()``.
        Not called by a worker with ``concurrency`` above 1, which times its jobs without ``SIGALRM``.

        Args:
            signal_number: The signal received (``SIGALRM``).
            stack_frame: The frame the alarm interrupted (unused here).

        Raises:
            HarakiriInterrupt: On the first alarm.
        """
        self._harakiri.handle_alarm(signal_number, stack_frame)

    def _start_heartbeat(self) -> None:
        template = self.settings.get("heartbeat_file")
        if not template:
            return
        harakiri = self._harakiri
        stale_after = harakiri.timeout + harakiri.shutdown_grace if harakiri.enabled else None
        path = heartbeat_path(template, os.getpid(), self.forked_process_id)
        self._heartbeat = HeartbeatFile(path, self.logger, stale_after=stale_after)
        self._heartbeat.start()

    def _start_readiness(self) -> None:
        template = self.settings.get("readiness_file")
        if template:
            self._readiness = ReadinessFile(heartbeat_path(template, os.getpid(), self.forked_process_id), self.logger)

    def _readiness_changed(self, ready: bool) -> None:
        self.metrics.gauge("server.worker.ready").set(1 if ready else 0)
        if self._readiness is not None:
            self._readiness.set(ready)

    def _sleep(self, seconds: float) -> None:
        while seconds > 0 and not self.shutting_down:
            time.sleep(min(seconds, _SLEEP_SLICE_SECONDS))
            seconds -= _SLEEP_SLICE_SECONDS

    def _start_fleet(self) -> bool:
        """Start the fleet companion (registry, events, periodic tasks) and gate on dependencies.

        Returns:
            ``False`` when the required services did not appear in time and ``dependencies.on_timeout``
            is ``"exit"``.

        Raises:
            FleetNotConfiguredError: Events, periodic tasks or dependencies are declared but no Redis is
                known for them (neither a ``fleet`` setting nor a Redis transport).
        """
        fleet = self.resolve_fleet()
        declared = self.fleet_features_declared()
        if fleet is None:
            if declared:
                from pysoa_like.fleet.errors import FleetNotConfiguredError

                raise FleetNotConfiguredError(
                    f"Service {self.service_name} declares {', '.join(declared)}, which need Redis, but its transport "
                    "is not the Redis transport: set the 'fleet' setting to "
                    "{'backend_type': 'redis.standard', 'backend_layer_kwargs': {'hosts': [...]}}"
                )
            return True
        if not declared and not self.settings["registry"]["enabled"]:
            fleet.close()
            return True
        from pysoa_like.server._fleet import FleetRuntime

        runtime = self._fleet_runtime = FleetRuntime(self, fleet)  # type: ignore[arg-type]  # a Server
        runtime.start()
        if not runtime.wait_for_dependencies(lambda: self.shutting_down):
            if self.settings["dependencies"]["on_timeout"] == "exit":
                self.logger.error("Stopping: the required services are unavailable (dependencies.on_timeout is exit)")
                return False
            self.logger.warning("Serving without the required services (reported by the status action)")
        runtime.start_work()
        runtime.set_state("serving")
        return True

    def run(self) -> None:
        """Serve requests until :attr:`shutting_down` is set, then tear down.

        In the main thread, SIGINT/SIGTERM request a graceful shutdown (the job in progress
        finishes; a second signal forces the exit) and harakiri (SIGALRM) interrupts a cycle that
        takes longer than ``harakiri.timeout``. The heartbeat and readiness files, if configured,
        live as long as this loop. A transient transport error (Redis down, restarting or failing
        over) starts an outage: the worker tries again after ``(2**n + random())/4`` seconds (0.25,
        0.5, 1, then 2 s at most) for as long as it takes, logging one line when the outage starts
        and one when it ends; only a signal stops it. Credentials the transport's backend refuses stop the
        server (exit status :data:`~pysoa_like.server.exit_codes.EXIT_CONFIGURATION`): waiting cannot fix them.
        Any other error is logged and the loop goes on.

        When the server stops without being asked to, :attr:`exit_code` says why and :meth:`main` exits the
        process with it: :data:`~pysoa_like.server.exit_codes.EXIT_GAVE_UP` when the required services did not
        appear in time and ``dependencies.on_timeout`` is ``"exit"``; :data:`~pysoa_like.server.exit_codes.EXIT_FAILURE`
        after harakiri (a stuck action, or a receive or send that hung), so that a supervisor restarts it.
        """
        in_main_thread = threading.current_thread() is threading.main_thread()
        signals = self._shutdown_signals = ShutdownSignalHandler(self._request_shutdown, self.logger)
        self.logger.info("Service %s server starting up (fork id %s)", self.service_name, self.forked_process_id)
        self.setup()
        self.metrics.counter("server.worker.startup").increment()
        self.metrics.gauge("server.worker.running").set(1)
        self.metrics.gauge("server.worker.slots").set(self.concurrency)
        self.metrics.gauge("server.worker.busy").set(0)
        self.metrics.publish_all()
        outage = OutageTracker(self.logger, self._readiness_changed)
        try:
            self._start_heartbeat()
            self._start_readiness()
            concurrent = self.concurrency > 1
            if in_main_thread:
                signals.install(self.handle_shutdown_signal)
                if not concurrent:  # a concurrent worker keeps each job's time limit itself
                    self._harakiri.install(self.harakiri)
            if not self._start_fleet():
                self.exit_code = EXIT_GAVE_UP
                self.shutting_down = True
            if concurrent and not self.shutting_down:
                from pysoa_like.server._concurrent_worker import ConcurrentWorker

                ConcurrentWorker(self, outage).serve()  # type: ignore[arg-type]  # a Server
            else:
                # One request at a time: each response is followed by the next receive (a fast path).
                self.transport.receive_follows(self._receive_kwargs.get("receive_timeout_in_seconds"))
            while not self.shutting_down:
                self._harakiri.arm()
                try:
                    self.handle_next_request()
                    outage.succeeded()
                except ReceiveAuthenticationError as exc:
                    self.logger.error(
                        "Stopping: the transport's credentials are refused (%s). Retrying cannot help: correct the "
                        "password or username (the transport's connection_kwargs or hosts) and start again",
                        exc,
                    )
                    self.exit_code = EXIT_CONFIGURATION
                    break
                except TransientPySOATransportError as exc:
                    delay = outage.failed(exc)
                    self._harakiri.disarm()
                    self._sleep(delay)
                    if self._heartbeat is not None:
                        # Alive and retrying: a long outage must not look like a stuck worker.
                        self._heartbeat.beat()
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

    def _fleet_stop_timeout(self) -> float:
        """How long shutting down waits for the event handler and periodic tasks in hand."""
        harakiri = self._harakiri
        return float(harakiri.shutdown_grace) if harakiri.enabled and harakiri.shutdown_grace > 0 else 30.0

    def _shut_down(self, signals: ShutdownSignalHandler | None) -> None:
        self.logger.info("Service %s server shutting down", self.service_name)
        try:
            self.transport.flush_responses()
            self.stop_delivery()
        except Exception as exc:
            self.logger.error("Could not confirm the last responses: %s", exc, exc_info=exc)
        runtime, self._fleet_runtime = self._fleet_runtime, None
        if runtime is not None:
            try:
                runtime.stop(self._fleet_stop_timeout())
            except Exception as exc:
                self.logger.error("Could not stop the fleet features cleanly: %s", exc, exc_info=exc)
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
            if self._readiness is not None:
                self._readiness.set(False)
                self._readiness = None
            self.metrics.counter("server.worker.shutdown").increment()
            self.metrics.gauge("server.worker.running").set(0)
            self.metrics.gauge("server.worker.slots").set(0)
            self.metrics.publish_all()
            if signals is not None:
                signals.uninstall()
            # Harakiri's grace alarm stays armed through teardown, so a hanging teardown is still cut short.
            self._harakiri.uninstall()
