"""A storm of 10,000 malformed messages into a running service: no worker dies, every valid call is answered,
the logs stay bounded and the workers' memory stays flat."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import redis

from pysoa_like.client.client import Client
from tests.functional.conftest import Runner, wait_for, who
from tests.functional.hardening import REQUEST_QUEUE, wait_until_empty
from tests.malformed_corpus import corpus, prepare_redis

STORM_MESSAGES = 10_000
BATCH = 50
# Measured: about 930 bytes of log per bad message (nearly all of it the request log lines of the kinds that are
# served, each at most request_log_max_length), against 1,130 on 1.4.9-like code that survived the same kinds.
MAXIMUM_LOG_BYTES_PER_MESSAGE = 2_000
# The error lines themselves (not the request log): throttled to a few per kind and minute.
MAXIMUM_ERROR_LINES = 2_000
# A log line is at most request_log_max_length (65,536) plus its prefix.
MAXIMUM_LINE_CHARACTERS = 66_000
MAXIMUM_RSS_GROWTH_KIB = 8 * 1024


def _workers(supervisor: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == supervisor:
                children.append(int(entry.name))
    return sorted(children)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _push_and_call(raw_redis: redis.Redis, client: Client, count: int, offset: int = 0) -> int:
    """Push ``count`` corpus messages in batches, a valid call after each batch; return how many were answered."""
    kinds = corpus()
    answered = 0
    for start in range(0, count, BATCH):
        messages = [kinds[(offset + start + i) % len(kinds)].raw for i in range(min(BATCH, count - start))]
        raw_redis.rpush(REQUEST_QUEUE, *messages)
        answered += bool(who(client, timeout=10))
    return answered


def test_ten_thousand_malformed_messages_kill_no_worker_and_stall_no_call(
    start_runner: Callable[..., Runner], client: Client, raw_redis: redis.Redis
) -> None:
    """Every kind of the corpus, 10,000 messages with a valid call after each 50 (200 calls), into two workers."""
    prepare_redis(raw_redis)
    runner = start_runner(fork=2)
    workers = wait_for(lambda: (found := _workers(runner.pid)) and len(found) == 2 and found)
    # Warm up (a first round of every kind: caches, throttles, buffers), then measure.
    _push_and_call(raw_redis, client, len(corpus()))
    wait_until_empty(raw_redis)
    rss_before = {pid: _rss_kib(pid) for pid in workers}
    log_before = os.path.getsize(runner.log_path)
    started = time.monotonic()

    answered = _push_and_call(raw_redis, client, STORM_MESSAGES, offset=7)
    wait_until_empty(raw_redis, timeout=60)
    elapsed = time.monotonic() - started

    assert answered == STORM_MESSAGES // BATCH
    assert _workers(runner.pid) == workers, "a worker died and was replaced"
    assert runner.process.poll() is None
    log = runner.log()
    assert "respawned as pid" not in log
    storm_log = log.encode()[log_before:].decode(errors="replace")
    lines = storm_log.splitlines()
    log_bytes = len(storm_log.encode())
    error_lines = [line for line in lines if " INFO pysoa_like.server.job:" not in line]
    rss_growth = {pid: _rss_kib(pid) - rss_before[pid] for pid in workers}
    report = (
        f"{STORM_MESSAGES} messages in {elapsed:.1f} s; log {log_bytes} bytes ({log_bytes / STORM_MESSAGES:.0f} per "
        f"message), {len(error_lines)} error lines, longest line {max(map(len, lines))}; RSS growth {rss_growth} KiB"
    )
    print(report)
    assert log_bytes / STORM_MESSAGES <= MAXIMUM_LOG_BYTES_PER_MESSAGE, report
    assert len(error_lines) <= MAXIMUM_ERROR_LINES, report
    assert max(map(len, lines)) <= MAXIMUM_LINE_CHARACTERS, report
    assert all(growth <= MAXIMUM_RSS_GROWTH_KIB for growth in rss_growth.values()), report
    # Nothing reached a key the corpus does not name: the full reply list is still exactly full.
    assert raw_redis.llen("pysoa:service.functional.full!0") == 10_000
    assert not raw_redis.exists("pysoa:service.other")
