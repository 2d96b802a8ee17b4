"""A TCP proxy on a loopback port that delays every byte by a fixed time each way: a slow network, for tests.

Each direction is two threads: one reads and timestamps what arrives, the other forwards it when its time has
come, so the delay is latency (bytes in flight overlap), not a pause per chunk. :meth:`LatencyProxy.close`
closes every connection and joins every thread it started. :meth:`LatencyProxy.hold_requests` stops what clients
send short of the target until :meth:`LatencyProxy.release_requests`: a client caught half-way through a command.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

_CHUNK = 65536


class LatencyProxy:
    """Listens on ``127.0.0.1:<port>`` and forwards every connection to ``target``, ``delay`` seconds late.

    Args:
        target: ``(host, port)`` to forward to.
        delay: Seconds added in each direction.
        port: The port to listen on (a free one when 0).
        held: Whether requests are held from the start (see :meth:`hold_requests`).

    Attributes:
        request_delay: Seconds added on top of ``delay`` to what clients send (0 at first; raise it to make Redis
            slow to answer the next commands while replies already on their way still come).
    """

    def __init__(self, target: tuple[str, int], delay: float, port: int = 0, held: bool = False) -> None:
        self.target = target
        self.delay = delay
        self.request_delay = 0.0
        self._requests_open = threading.Event()
        if not held:
            self._requests_open.set()
        self._request_held = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        self._threads.append(thread)
        thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """``("127.0.0.1", port)`` of the proxy."""
        return "127.0.0.1", self.port

    @property
    def connections(self) -> int:
        """How many connections it has accepted so far."""
        return len(self._sockets) // 2

    def hold_requests(self) -> None:
        """Keep what clients send from now on (the target sees nothing) until :meth:`release_requests`."""
        self._request_held.clear()
        self._requests_open.clear()

    def release_requests(self) -> None:
        """Forward what :meth:`hold_requests` kept, and what comes after, as before."""
        self._requests_open.set()

    def wait_for_held_request(self, timeout: float) -> bool:
        """Wait until a client sent something while requests are held; whether one did within ``timeout``."""
        return self._request_held.wait(timeout)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            self._pipe(client, upstream, requests=True)
            self._pipe(upstream, client, requests=False)

    def _pipe(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        pending: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            while True:
                try:
                    data = source.recv(_CHUNK)
                except OSError:
                    data = b""
                pending.put((time.monotonic() + self.delay + (self.request_delay if requests else 0.0), data))
                if not data:
                    return

        def write() -> None:
            while True:
                due, data = pending.get()
                wait = due - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    return  # closed while these bytes were in flight
                if requests and data and not self._requests_open.is_set():
                    self._request_held.set()
                    while not self._requests_open.wait(0.05):
                        if self._closed.is_set():
                            return
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                try:
                    sink.sendall(data)
                except OSError:
                    return

        self._start(read)
        self._start(write)

    def close(self) -> None:
        """Stop accepting, close every connection and wait for the proxy's threads to end."""
        self._closed.set()
        self._requests_open.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
            sock.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
