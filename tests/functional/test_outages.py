"""Workers ride out Redis outages of any length, with PySOA's backoff schedule, and say when they are ready."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.transport.redis_gateway.core import RedisTransportCore
from pysoa_like.test.redis import RedisSentinelProcess, RedisServerProcess, pick_free_port
from tests.functional.conftest import CLIENT_TRANSPORT, SERVICE, Runner, kill_runners, spawn_runner, wait_for, who


@pytest.fixture
def redis_server() -> Iterator[RedisServerProcess]:
    """A Redis of this test's own (it is stopped and started again on the same port)."""
    with RedisServerProcess() as server:
        yield server


def _outage(redis_server: RedisServerProcess, seconds: float) -> None:
    redis_server.kill()
    time.sleep(seconds)
    redis_server.start()
    # The test process' own connections died with Redis; the workers' are what is under test.
    RedisTransportCore.clear_backend_cache()


def test_a_worker_rides_out_a_long_outage_and_logs_it_twice(
    start_runner: Callable[..., Runner], client: Client, redis_server: RedisServerProcess
) -> None:
    """Redis gone for 17 s (PySOA's workers gave up after about 15): the single process waits, then serves."""
    runner = start_runner(fork=0)
    _outage(redis_server, 17)
    assert runner.process.poll() is None
    assert who(client, timeout=10)["pid"] == runner.pid
    wait_for(lambda: "Transport available again after" in runner.log())
    log = runner.log()
    assert log.count("Transport unavailable") == 1
    assert log.count("Transport available again after") == 1
    assert runner.terminate() == 0


def test_the_backoff_follows_pysoa_schedule(
    start_runner: Callable[..., Runner], client: Client, redis_server: RedisServerProcess
) -> None:
    """A 3 s outage sees attempts after 0.25-0.5, 0.5-0.75 and 1-1.25 s, then 2 s: four fail, the fifth serves.

    Counting the failure before computing the delay (0.5, 1, 2 s) gave only three failures, and a worker back
    two seconds after Redis.
    """
    runner = start_runner(fork=1)
    _outage(redis_server, 3)
    who(client, timeout=10)
    wait_for(lambda: "Transport available again after" in runner.log())
    ended = re.search(r"Transport available again after ([0-9.]+) s \(([0-9]+) failed attempts\)", runner.log())
    assert ended is not None
    assert ended.group(2) == "4"
    assert float(ended.group(1)) < 5.0


def test_the_readiness_file_is_absent_during_an_outage(
    start_runner: Callable[..., Runner], client: Client, redis_server: RedisServerProcess, tmp_path: Path
) -> None:
    """The readiness file appears once the worker serves, goes when Redis does, returns with it, goes at exit."""
    runner = start_runner(fork=0, env={"FUNCTIONAL_READINESS_FILE": str(tmp_path / "ready-{{fid}}")})
    ready_file = tmp_path / "ready-main"
    wait_for(ready_file.exists)
    redis_server.kill()
    wait_for(lambda: not ready_file.exists(), timeout=5)
    redis_server.start()
    wait_for(ready_file.exists, timeout=5)
    assert runner.terminate() == 0
    assert not ready_file.exists()


@pytest.mark.parametrize(("fork", "delivery"), [(0, ""), (2, ""), (0, "at_least_once")])
def test_a_worker_whose_password_redis_refuses_stops_with_one_clear_line_and_exit_2(
    start_runner: Callable[..., Runner], tmp_path: Path, fork: int, delivery: str
) -> None:
    """WRONGPASS is not an outage: the worker says the credentials are refused and exits 2 (under --fork the
    supervisor too, without respawning), instead of retrying for ever as if Redis were down; also when it
    delivers at least once (its first command is then its advertisement)."""
    with RedisServerProcess(password="right") as guarded:
        wrong_url = f"redis://:wrong@127.0.0.1:{guarded.port}/0"
        env = {"FUNCTIONAL_REDIS_URL": wrong_url, "FUNCTIONAL_DELIVERY": delivery}
        runner = start_runner(fork=fork, env=env, wait_ready=False)
        exit_code = runner.process.wait(timeout=30)
    log = runner.log()
    assert exit_code == 2
    assert "Stopping: the transport's credentials are refused (" in log
    assert "Transport unavailable" not in log


@pytest.mark.parametrize("delivery", ["", "at_least_once"])
def test_a_worker_whose_sentinels_list_no_service_backs_off_then_serves(tmp_path: Path, delivery: str) -> None:
    """Sentinel without sentinel_services and no Sentinel answering the discovery of the services is an outage: the
    worker logs it once and backs off, then serves once a Sentinel answers (the worker crashed with a ValueError
    traceback, or without the registry logged one per receive in a busy loop)."""
    port = pick_free_port()
    command = [sys.executable, "-m", "pysoa_like", "serve", "tests.functional.service:FunctionalServer"]
    command += ["--settings", "tests.functional.service", "--fork", "0"]
    env = {"FUNCTIONAL_SENTINEL": f"127.0.0.1:{port}", "FUNCTIONAL_DELIVERY": delivery}
    runner = spawn_runner(command, env, tmp_path / "runner.log")
    try:
        runner.wait_for_log("Transport unavailable (", timeout=30)
        time.sleep(2)  # attempts at 0.25, 0.5, 1 s and so on
        assert runner.process.poll() is None
        log = runner.log()
        assert log.count("Transport unavailable (") == 1
        discovery = "No sentinel_services configured and none could be discovered with SENTINEL MASTERS"
        assert f"{discovery} (asked 127.0.0.1:{port}: " in log
        assert "Traceback" not in log
        with RedisServerProcess() as master, RedisSentinelProcess([("main", *master.address)], port=port):
            kwargs = {"backend_type": "redis.sentinel", "backend_layer_kwargs": {"hosts": [("127.0.0.1", port)]}}
            client = Client({SERVICE: {"transport": {"path": CLIENT_TRANSPORT, "kwargs": kwargs}}})
            assert who(client, timeout=15)["pid"] == runner.pid
            runner.wait_for_log("Transport available again after")
            assert runner.terminate() == 0
        assert "Traceback" not in runner.log()
    finally:
        kill_runners([runner])
