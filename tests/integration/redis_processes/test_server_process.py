"""Tests of RedisServerProcess: lifecycle, ports, flushing, options and startup failures."""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pysoa_like.test import _redis_process
from pysoa_like.test.redis import RedisServerProcess, RedisStartError, no_retry
from tests.integration.redis_processes._helpers import pid_is_gone


def test_stop_terminates_the_started_pid_and_removes_its_directory() -> None:
    """stop() ends the process the helper started and deletes its private directory."""
    server = RedisServerProcess().start()
    pid, directory = server.pid, server.directory
    assert pid is not None
    assert directory.is_dir()

    server.stop()

    assert pid_is_gone(pid)
    assert not directory.exists()
    assert not server.running


def test_context_manager_stops_the_server_on_exit() -> None:
    """Leaving the with-block stops the server, even when the block raises."""
    with pytest.raises(RuntimeError), RedisServerProcess() as server:
        pid = server.pid
        assert pid is not None
        raise RuntimeError("boom")
    assert pid is not None and pid_is_gone(pid)


def test_garbage_collected_server_is_terminated() -> None:
    """A started server that nobody references any more is terminated by its finalizer."""
    # Garbage that earlier tests of this worker left (an unclosed connection's socket warns when collected) is
    # collected first, so that the collection below finds only this test's server.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    server = RedisServerProcess().start()
    pid = server.pid
    assert pid is not None

    del server
    gc.collect()

    assert pid_is_gone(pid)


def test_two_servers_get_different_ports() -> None:
    """Two servers started side by side listen on different loopback ports."""
    with RedisServerProcess() as first, RedisServerProcess() as second:
        assert first.host == second.host == "127.0.0.1"
        assert first.port != second.port
        assert first.url == f"redis://127.0.0.1:{first.port}/0"


def test_flush_deletes_every_key_in_every_database() -> None:
    """flush() empties all databases of the server."""
    with RedisServerProcess() as server, server.client() as db0, server.client(db=3) as db3:
        db0.set("a", b"1")
        db3.set("b", b"2")
        server.flush()
        assert db0.dbsize() == 0
        assert db3.dbsize() == 0


def test_stop_twice_and_start_again_work() -> None:
    """stop() is idempotent and a stopped server can be started again."""
    server = RedisServerProcess()
    server.start()
    server.stop()
    server.stop()
    with server, server.client() as client:
        assert client.ping() is True


def test_restart_keeps_the_port_and_serves_again() -> None:
    """restart() brings a new process up on the same port; kill() then start() does the same after a crash."""
    with RedisServerProcess() as server:
        port, first_pid = server.port, server.pid
        assert first_pid is not None

        server.restart()
        second_pid = server.pid
        assert server.port == port
        assert second_pid is not None and second_pid != first_pid
        assert pid_is_gone(first_pid)

        server.kill()
        assert not server.running
        assert pid_is_gone(second_pid)
        server.start()
        with server.client() as client:
            assert client.ping() is True
        assert server.port == port


def test_password_is_required_and_used_by_the_helper_client() -> None:
    """With password set, the helper's client authenticates and an anonymous client is refused."""
    with RedisServerProcess(password="s3cret/pass") as server:
        assert server.url == f"redis://:s3cret%2Fpass@127.0.0.1:{server.port}/0"
        with server.client() as client:
            assert client.ping() is True
        with redis.Redis.from_url(server.url) as from_url:
            assert from_url.ping() is True
        with (
            redis.Redis(host=server.host, port=server.port, socket_timeout=2, retry=no_retry()) as anonymous,
            pytest.raises(redis.AuthenticationError),
        ):
            anonymous.get("x")


def test_unix_socket_serves_the_same_data() -> None:
    """With unix_socket=True the server also answers on a Unix socket in its private directory."""
    with RedisServerProcess(unix_socket=True) as server:
        assert server.unix_socket_path.startswith(str(server.directory))
        with server.client() as tcp, redis.Redis.from_url(server.unix_url, socket_timeout=2) as unix:
            tcp.set("k", b"v")
            assert unix.get("k") == b"v"


def test_bad_argument_raises_a_start_error_with_the_log_tail() -> None:
    """A server that refuses its arguments raises RedisStartError whose message includes the log tail."""
    server = RedisServerProcess(extra_args=["--no-such-directive", "1"])

    with pytest.raises(RedisStartError) as caught:
        server.start()

    message = str(caught.value)
    assert "exited with code" in message
    assert "--- redis log tail ---" in message
    assert "no-such-directive" in caught.value.log_tail
    assert not server.running


def test_server_that_never_answers_ping_times_out_with_a_clear_error() -> None:
    """When PING never succeeds (wrong probe credentials), start() gives up after the timeout and reaps the process."""
    server = RedisServerProcess(password="right", client_kwargs={"password": "wrong"}, startup_timeout=0.5)

    with pytest.raises(RedisStartError, match=r"did not answer PING within 0.5 s") as caught:
        server.start()

    assert "Ready to accept connections" in caught.value.log_tail
    assert not server.running


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_lost_port_race_is_retried_on_another_port(monkeypatch: pytest.MonkeyPatch, occupied_port: int) -> None:
    """If the picked port is taken before Redis binds it, the helper retries on a fresh port."""
    ports = iter([occupied_port])
    real_pick = _redis_process.pick_free_port
    monkeypatch.setattr(_redis_process, "pick_free_port", lambda: next(ports, None) or real_pick())

    with RedisServerProcess() as server:
        assert server.port != occupied_port
        assert "Address already in use" in server.log_tail(200)
        with server.client() as client:
            assert client.ping() is True


def test_fixed_port_that_is_taken_raises_a_start_error(occupied_port: int) -> None:
    """A fixed port that another process holds is not retried: start() raises with the bind error."""
    with pytest.raises(RedisStartError, match="exited with code") as caught:
        RedisServerProcess(port=occupied_port).start()
    assert "Address already in use" in caught.value.log_tail


def test_interpreter_exit_terminates_a_server_that_was_never_stopped(tmp_path: Path) -> None:
    """A program that exits without stop() still leaves no Redis process or directory behind."""
    script = (
        "from pysoa_like.test.redis import RedisServerProcess\n"
        "server = RedisServerProcess().start()\n"
        "print(server.pid, server.directory, flush=True)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True, cwd=Path.cwd()
    )

    pid, directory = completed.stdout.split()
    assert pid_is_gone(int(pid))
    assert not Path(directory).exists()


def test_stop_works_after_atexit_functions_have_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() terminates the process even after weakref.finalize's atexit hook has run in this process."""
    import weakref

    server = RedisServerProcess().start()
    pid = server.pid
    assert pid is not None
    # What running the atexit functions does to weakref.finalize: later finalizer calls do nothing.
    monkeypatch.setattr(weakref.finalize, "_shutdown", True)
    server.stop()
    assert pid_is_gone(pid)
