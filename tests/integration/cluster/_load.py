"""Calls in a loop from a few threads, each recorded (when, how long, which error), for failure tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """One call: when it started and ended (``time.monotonic()``) and its error (None when it succeeded)."""

    started: float
    ended: float
    error: BaseException | None

    @property
    def seconds(self) -> float:
        """How long the call took."""
        return self.ended - self.started


class CallLoad:
    """``threads`` threads calling ``service``'s ``echo`` back to back, each with its own client, until stopped.

    Args:
        make_client: Builds one client per thread (a ``Client``, or a ``LoopClient`` for the asyncio driver).
        service: The service called.
        threads: How many callers.
        timeout: Each call's timeout.
    """

    def __init__(self, make_client: Callable[[], Any], service: str, threads: int = 2, timeout: float = 2.0) -> None:
        self.service = service
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Each caller's client.
        self.clients = [make_client() for _ in range(threads)]
        self._threads = [
            threading.Thread(target=self._run, args=(client, number), daemon=True)
            for number, client in enumerate(self.clients)
        ]

    def _run(self, client: Any, number: int) -> None:
        sequence = 0
        while not self._stop.is_set():
            sequence += 1
            started = time.monotonic()
            error: BaseException | None = None
            try:
                reply = client.call_action(self.service, "echo", {"t": number, "n": sequence}, timeout=self.timeout)
                if reply.body["body"] != {"t": number, "n": sequence}:
                    error = AssertionError(f"a reply to another call: {reply.body!r}")
            except Exception as exc:
                error = exc
            ended = time.monotonic()
            with self._lock:
                self.outcomes.append(Outcome(started, ended, error))
            if error is not None:
                time.sleep(0.05)  # a failing Redis answers at once: no busy loop

    def start(self) -> CallLoad:
        """Start the callers."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop the callers (each ends its call in progress, bounded by its timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 10)
            assert not thread.is_alive(), "a caller hung"

    def snapshot(self) -> list[Outcome]:
        """The outcomes so far."""
        with self._lock:
            return list(self.outcomes)

    def wait_for_success_after(self, moment: float, timeout: float) -> float:
        """Wait until a call started after ``moment`` succeeds; return when it ended (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for outcome in self.snapshot():
                if outcome.started >= moment and outcome.error is None:
                    return outcome.ended
            time.sleep(0.05)
        raise AssertionError(f"no call started after the moment succeeded within {timeout} s")


def summarize(outcomes: list[Outcome], since: float) -> dict[str, object]:
    """Counts and worst duration of the calls, for the figures a test prints."""
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    return {
        "calls": len(outcomes),
        "failed": len(failed),
        "errors": sorted({type(outcome.error).__name__ for outcome in failed}),
        "longest_call_s": round(max((outcome.seconds for outcome in outcomes), default=0.0), 3),
        "window_s": round(time.monotonic() - since, 1),
    }
