"""The graceful-shutdown signal handler of server workers."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from typing import Any

import pytest

from pysoa_like.server._signals import ShutdownSignalHandler
from pysoa_like.server.server import Server
from tests.unit.server._helpers import job, make_server, settings


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _handler() -> tuple[ShutdownSignalHandler, list[str], _Clock]:
    calls: list[str] = []
    clock = _Clock()
    return ShutdownSignalHandler(lambda: calls.append("stop"), logging.getLogger("test"), clock), calls, clock


def test_first_signal_requests_a_graceful_shutdown() -> None:
    """The first SIGTERM asks the server to stop after the current job, without exiting."""
    handler, calls, _ = _handler()
    handler.handle(signal.SIGTERM, None)
    assert calls == ["stop"]
    assert handler.first_signal == signal.SIGTERM


def test_second_signal_within_a_second_is_ignored_as_a_duplicate() -> None:
    """SIGINT right after SIGTERM (Ctrl+C to the group plus the parent's forward) does not force an exit."""
    handler, calls, clock = _handler()
    handler.handle(signal.SIGTERM, None)
    clock.now += 0.5
    handler.handle(signal.SIGINT, None)
    handler.handle(signal.SIGTERM, None)
    assert calls == ["stop"]


def test_second_signal_after_the_window_forces_exit() -> None:
    """A second signal more than a second after the first raises SystemExit(1)."""
    handler, _, clock = _handler()
    handler.handle(signal.SIGINT, None)
    clock.now += 1.5
    with pytest.raises(SystemExit) as info:
        handler.handle(signal.SIGINT, None)
    assert info.value.code == 1


def test_install_and_uninstall_restore_the_previous_handlers() -> None:
    """Installing replaces the SIGINT/SIGTERM handlers; uninstalling puts the old ones back."""
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    handler, _, _ = _handler()
    handler.install()
    assert signal.getsignal(signal.SIGTERM) == handler.handle
    handler.uninstall()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_run_stops_after_the_job_in_progress_on_sigterm() -> None:
    """A SIGTERM arriving while a job runs lets it finish and reply; run() then returns and restores handlers."""
    before = signal.getsignal(signal.SIGTERM)

    def interrupted(request: object) -> dict[str, object]:
        os.kill(os.getpid(), signal.SIGTERM)
        return {"done": True}

    server = make_server({"work": lambda settings: lambda request: _respond(request, interrupted)})
    server.transport.add_request(job("work"), request_id=1)
    server.transport.add_request(job("work"), request_id=2)
    server.run()
    assert [r[0] for r in server.transport.responses] == [1]
    assert server.transport.responses[0][2]["actions"][0]["body"] == {"done": True}
    assert signal.getsignal(signal.SIGTERM) == before


def _respond(request: object, run: object) -> object:
    from pysoa_like.common.types import ActionResponse

    return ActionResponse(action="work", body=run(request))  # type: ignore[operator]


class _RecordingServer(Server):
    """A PySOA-style subclass that overrides the shutdown signal handler and calls the base one."""

    service_name = "recording"
    action_class_map = {"work": lambda settings: lambda request: _respond(request, _signal_self)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signals_seen: list[int] = []

    def handle_shutdown_signal(self, signal_number: int, stack_frame: FrameType | None) -> None:
        self.signals_seen.append(signal_number)
        super().handle_shutdown_signal(signal_number, stack_frame)


def _signal_self(request: object) -> dict[str, object]:
    os.kill(os.getpid(), signal.SIGTERM)
    return {"done": True}


def test_an_overridden_handle_shutdown_signal_is_what_sigterm_calls() -> None:
    """run() installs Server.handle_shutdown_signal (PySOA's name): a subclass's override gets the signal and its
    super() call still stops the server gracefully after the job in hand."""
    server = _RecordingServer(settings())
    server.transport.add_request(job("work"), request_id=1)
    server.transport.add_request(job("work"), request_id=2)
    server.run()
    assert server.signals_seen == [signal.SIGTERM]
    assert [r[0] for r in server.transport.responses] == [1]
    assert server.shutting_down


def test_calling_handle_shutdown_signal_directly_requests_a_shutdown() -> None:
    """A subclass (or a test) may call handle_shutdown_signal itself, as with PySOA, even before run()."""
    server = make_server()
    server.handle_shutdown_signal(signal.SIGINT, None)
    assert server.shutting_down
    server.handle_shutdown_signal(signal.SIGTERM, None)  # the other signal right after: a duplicate, ignored
