"""The machinery shared by every throwaway Redis process: port choice, launch, readiness, teardown.

A process is always reaped: :meth:`stop` terminates the PID it started (SIGTERM, then SIGKILL after
a grace period) and removes its private directory, and a :func:`weakref.finalize` hook does the
same when the owner is garbage-collected or the interpreter exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pysoa_like.test._redis_binary import find_redis_server
from pysoa_like.test._redis_errors import RedisProcessError, RedisStartError

__all__ = ["LOOPBACK_HOST", "RedisProcessBase", "no_retry", "pick_free_port"]

# Every helper talks to this address only.
LOOPBACK_HOST = "127.0.0.1"

# A port picked by binding to port 0 can be taken by someone else before Redis binds it; retry a few times.
_PORT_ATTEMPTS = 5
# Timeouts of the short-lived clients used to probe readiness.
_PROBE_CONNECT_TIMEOUT = 0.5
_PROBE_SOCKET_TIMEOUT = 1.0
_POLL_INTERVAL = 0.02
_LOG_NAME = "redis.log"

_ProcessT = TypeVar("_ProcessT", bound="RedisProcessBase")


def pick_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    Returns:
        A port number chosen by the kernel for a socket bound to ``127.0.0.1:0``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def no_retry() -> Retry:
    """Return a redis-py retry policy that does not retry.

    redis-py retries failed connections with a growing backoff by default; the helpers' own polling
    loops retry on their own schedule and must notice a dead process at once.
    """
    return Retry(NoBackoff(), 0)


class _PortTakenError(Exception):
    """Raised internally when another process won the race for the chosen port."""


class _ProcessHandle:
    """Owns one OS process and its private directory; holds no reference back to its owner."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.popen: subprocess.Popen[bytes] | None = None

    def terminate(self, grace: float) -> None:
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        # Popen only signals a PID it has not reaped yet, so this never hits a recycled PID.
        popen.terminate()
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=grace)

    def kill(self) -> None:
        popen, self.popen = self.popen, None
        if popen is not None and popen.poll() is None:
            popen.send_signal(signal.SIGKILL)
            popen.wait(timeout=10)

    def cleanup(self, grace: float) -> None:
        try:
            self.terminate(grace)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


class RedisProcessBase:
    """A ``redis-server`` process on a loopback port, started and reaped by this object.

    Subclasses say which command line to run (``_command``) and may prepare files in the private
    directory before the first launch (``_prepare``).

    Args:
        binary: The ``redis-server`` to run; ``None`` means :func:`find_redis_server`'s choice.
        search_path: Passed to :func:`find_redis_server` when ``binary`` is ``None``.
        port: A fixed port; ``None`` picks a free one (and retries on a race for it).
        startup_timeout: Seconds to wait for the server to answer PING.
        stop_timeout: Seconds to wait after SIGTERM before SIGKILL.
        client_kwargs: Extra redis-py kwargs for :meth:`client` and the readiness probe.

    Raises:
        RedisBinaryNotFoundError: If no binary is given and none can be found.
    """

    _kind = "redis-server"

    def __init__(
        self,
        *,
        binary: str | None = None,
        search_path: bool = True,
        port: int | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.binary = binary if binary is not None else find_redis_server(search_path=search_path)
        self.host = LOOPBACK_HOST
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._requested_port = port
        self._port: int | None = port
        self._extra_client_kwargs = dict(client_kwargs or {})
        self._handle: _ProcessHandle | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- hooks for subclasses ------------------------------------------------------------------------

    def _prepare(self, directory: Path) -> None:
        """Write what the command needs into the fresh private directory (nothing by default)."""

    def _command(self, port: int, directory: Path) -> list[str]:
        raise NotImplementedError

    def _connection_kwargs(self) -> dict[str, Any]:
        return {}

    def _pick_port(self) -> int:
        """A port to try (a free one by default)."""
        return pick_free_port()

    # -- public API ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (its TLS port for a TLS server).

        Raises:
            RedisProcessError: If the server was never started.
        """
        if self._port is None:
            raise RedisProcessError(f"{self._kind} has no port yet: call start() first")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, the form PySOA's ``hosts`` setting takes."""
        return self.host, self.port

    @property
    def pid(self) -> int | None:
        """The PID of the running process, or ``None`` when it is not running."""
        popen = self._handle.popen if self._handle is not None else None
        return popen.pid if popen is not None and popen.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the process this object started is alive."""
        return self.pid is not None

    @property
    def directory(self) -> Path:
        """The private temporary directory (working dir, log, certificates); removed by :meth:`stop`.

        Raises:
            RedisProcessError: If the server was never started or has been stopped.
        """
        if self._handle is None:
            raise RedisProcessError(f"{self._kind} has no directory: call start() first")
        return Path(self._handle.directory)

    @property
    def connection_kwargs(self) -> dict[str, Any]:
        """redis-py kwargs other than host and port (password, TLS options, ...), e.g. for a transport."""
        return {**self._connection_kwargs(), **self._extra_client_kwargs}

    def client(self, **overrides: Any) -> redis.Redis:
        """Return a new redis-py client for this server, with timeouts set.

        Args:
            **overrides: redis-py kwargs that replace the defaults (``decode_responses=True``, ...).

        Returns:
            A ``redis.Redis`` the caller should close.
        """
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "socket_connect_timeout": 2.0,
            "socket_timeout": 5.0,
            **self.connection_kwargs,
            **overrides,
        }
        return redis.Redis(**kwargs)

    def log_tail(self, lines: int = 40) -> str:
        """Return the last ``lines`` lines of the server's log ('' if there is none)."""
        if self._handle is None:
            return ""
        try:
            data = (Path(self._handle.directory) / _LOG_NAME).read_bytes()
        except OSError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def start(self: _ProcessT) -> _ProcessT:
        """Start the process and wait until it answers PING; does nothing if it is running.

        On failure the process and its directory are cleaned up before the error is raised.

        Returns:
            ``self``, so that ``server = RedisServerProcess().start()`` works.

        Raises:
            RedisStartError: If the process exits during startup or does not answer PING in time;
                the message ends with the server's log tail.
        """
        if self.running:
            return self
        if self._handle is None:
            handle = _ProcessHandle(tempfile.mkdtemp(prefix="pysoa-like-redis-"))
            self._handle = handle
            self._finalizer = weakref.finalize(self, handle.cleanup, self.stop_timeout)
            try:
                self._prepare(Path(handle.directory))
            except BaseException:
                self.stop()
                raise
        try:
            self._launch_on_some_port()
        except BaseException:
            # A failed start must not leave its directory behind: `with` never reaches __exit__ then.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after ``stop_timeout``) and remove its directory.

        Safe to call more than once; a stopped server can be started again (on a new directory).
        """
        finalizer, self._finalizer, handle = self._finalizer, None, self._handle
        self._handle = None
        # Clean up directly rather than by calling the finalizer: once anything has run the atexit
        # functions (weakref.finalize's hook among them), calling a finalizer silently does nothing.
        if finalizer is not None:
            finalizer.detach()
        if handle is not None:
            handle.cleanup(self.stop_timeout)
        self._port = self._requested_port

    def restart(self) -> None:
        """Terminate the process and start it again on the same port and directory.

        Raises:
            RedisStartError: If the new process does not come up (for example, the port was taken).
        """
        if self._handle is not None:
            self._handle.terminate(self.stop_timeout)
        self.start()

    def kill(self) -> None:
        """Kill the process with SIGKILL, as a crash would; :meth:`start` brings it back on the same port."""
        if self._handle is not None:
            self._handle.kill()

    def __enter__(self: _ProcessT) -> _ProcessT:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self._port} pid={self.pid}>"

    # -- internals -----------------------------------------------------------------------------------

    def _launch_on_some_port(self) -> None:
        fixed_port = self._port is not None
        last_error: _PortTakenError | None = None
        for _ in range(1 if fixed_port else _PORT_ATTEMPTS):
            port = self._port if self._port is not None else self._pick_port()
            try:
                self._launch(port)
                self._port = port
                return
            except _PortTakenError as exc:
                last_error = exc
        raise RedisStartError(
            f"{self._kind} could not bind a free port after {_PORT_ATTEMPTS} attempts", str(last_error)
        ) from last_error

    def _launch(self, port: int) -> None:
        assert self._handle is not None
        directory = Path(self._handle.directory)
        command = self._command(port, directory)
        with open(directory / _LOG_NAME, "ab") as log:
            self._handle.popen = subprocess.Popen(
                command, cwd=directory, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=os.environ
            )
        self._wait_ready(port, command)

    def _wait_ready(self, port: int, command: list[str]) -> None:
        assert self._handle is not None and self._handle.popen is not None
        popen = self._handle.popen
        deadline = time.monotonic() + self.startup_timeout
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": port,
            "socket_connect_timeout": _PROBE_CONNECT_TIMEOUT,
            "socket_timeout": _PROBE_SOCKET_TIMEOUT,
            **self.connection_kwargs,
            "retry": no_retry(),
        }
        last_error: Exception | None = None
        while True:
            returncode = popen.poll()
            if returncode is not None:
                self._handle.popen = None
                tail = self.log_tail()
                if "Address already in use" in tail and self._port is None:
                    raise _PortTakenError(tail)
                raise RedisStartError(
                    f"{self._kind} exited with code {returncode} during startup; command: {command!r}", tail
                )
            try:
                with redis.Redis(**kwargs) as probe:
                    info = probe.info("server")
                # The PID check makes sure we did not reach someone else's server that won the port race.
                if int(info.get("process_id", -1)) == popen.pid:
                    return
                last_error = RedisProcessError(f"port {port} is served by PID {info.get('process_id')}")
            except (redis.RedisError, OSError) as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                self._handle.terminate(self.stop_timeout)
                raise RedisStartError(
                    f"{self._kind} on {self.host}:{port} did not answer PING within {self.startup_timeout} s "
                    f"(last error: {last_error!r}); command: {command!r}",
                    tail,
                )
            time.sleep(_POLL_INTERVAL)
