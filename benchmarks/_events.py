"""Events published and handled per second: pysoa_like's events against raw redis-py Streams (the floor).

Two worker processes share one consumer group (pysoa_like: the service pool of a two-worker service;
the floor: two hand-written consumers). A client process publishes events one after the other (each
publish waits for Redis's answer), then waits until the group has handled them all. Figures: events
published per second (the publishing loop alone), events handled per second (from the first publish
until the last acknowledgement, so at most the publishing rate), the CPU time per event of the client,
the workers and Redis over that run, and events drained per second: the same number of events pushed
at once as a backlog (one pipeline), timed until the two workers handled them all (their capacity).

The floor is the least any Streams consumer group must do per event: ``XADD`` of a msgpack body; a
worker pipelines the ``XACK`` of the previous event with the next ``XREADGROUP ... COUNT 1 BLOCK`` and
decodes the body. pysoa_like does that too, plus its envelope (name, context, publisher, time), the
schema and context checks, the handler call and its bookkeeping.

Run as ``python -m benchmarks._events like-worker|floor-worker|like-client|floor-client '<json>'``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["EVENT_NAME", "GROUP_SERVICE", "main"]

#: The benchmark's event, and the service (consumer group ``pool:<service>``) handling it.
EVENT_NAME = "bench.event"
GROUP_SERVICE = "bench_events"
_STREAM = "pysoa:events:{" + EVENT_NAME + "}"
_GROUP = "pool:" + GROUP_SERVICE
_FLOOR_STREAM = "floor:events"
_FLOOR_GROUP = "floor"
_WAIT_POLL_SECONDS = 0.02
_TIMEOUT_SECONDS = 120.0


def _connect(config: dict[str, Any]) -> Any:
    import redis

    host, port = config["redis"]
    return redis.Redis(host=host, port=port)


def _ready(details: str = "") -> None:
    sys.stdout.write(f"READY {os.getpid()} {details}".rstrip() + "\n")
    sys.stdout.flush()


# Workers


def like_worker(config: dict[str, Any]) -> None:
    """A pysoa_like worker of a service handling the benchmark event (no-op handler), until SIGTERM."""
    import pysoa_like
    from pysoa_like.server.server import Server

    handled = [0]

    def on_event(event: Any) -> None:
        handled[0] += 1

    class EventBenchServer(Server):
        service_name = GROUP_SERVICE
        event_handlers = {EVENT_NAME: on_event}

    host, port = config["redis"]
    server = EventBenchServer(
        {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
                "kwargs": {
                    "backend_type": "redis.standard",
                    "backend_layer_kwargs": {"hosts": [(host, port)]},
                    "receive_timeout_in_seconds": 1,
                },
            },
            "logging": {"version": 1, "root": {"level": "WARNING"}, "disable_existing_loggers": False},
        }
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: setattr(server, "shutting_down", True))
    _ready(str(Path(pysoa_like.__file__).parent))
    server.run()


def floor_worker(config: dict[str, Any]) -> None:
    """A raw consumer: ``XACK`` of the last event pipelined with the next ``XREADGROUP``, msgpack decode."""
    import msgpack  # type: ignore[import-untyped,unused-ignore]
    import redis

    connection = _connect(config)
    try:
        connection.xgroup_create(_FLOOR_STREAM, _FLOOR_GROUP, id="$", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    consumer = f"floor-{os.getpid()}"
    running = [True]
    signal.signal(signal.SIGTERM, lambda signum, frame: running.__setitem__(0, False))
    _ready()
    unpackb = msgpack.unpackb
    pending: list[bytes] = []
    while running[0]:
        pipeline = connection.pipeline(transaction=False)
        if pending:
            pipeline.xack(_FLOOR_STREAM, _FLOOR_GROUP, *pending)
        pipeline.xreadgroup(_FLOOR_GROUP, consumer, {_FLOOR_STREAM: ">"}, count=1, block=1000)
        replies = pipeline.execute()
        pending = []
        for _, entries in replies[-1] or []:
            for entry_id, fields in entries:
                unpackb(fields[b"e"])
                pending.append(entry_id)


# Clients


def _wait_handled(connection: Any, stream: str, group: str, last_id: bytes, deadline: float) -> None:
    """Wait until ``group`` delivered ``last_id`` and has nothing pending (every event acknowledged)."""
    while True:
        for info in connection.xinfo_groups(stream):
            if info["name"].decode() == group and info["last-delivered-id"] == last_id and info["pending"] == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"events on {stream} not all handled within {_TIMEOUT_SECONDS} s")
        time.sleep(_WAIT_POLL_SECONDS)


def _wait_group(connection: Any, stream: str, group: str) -> None:
    """Wait until the workers made their consumer group (events published before it would be skipped)."""
    import redis

    deadline = time.monotonic() + _TIMEOUT_SECONDS
    while True:
        try:
            if any(info["name"].decode() == group for info in connection.xinfo_groups(stream)):
                return
        except redis.ResponseError:
            pass  # no stream yet
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumer group {group} did not appear")
        time.sleep(_WAIT_POLL_SECONDS)


def _drain(config: dict[str, Any], connection: Any, entries: list[dict[Any, Any]], stream: str, group: str) -> float:
    """Push a backlog of entries in one pipeline; return the seconds until the workers handled it all."""
    started = time.perf_counter()
    pipeline = connection.pipeline(transaction=False)
    for fields in entries:
        pipeline.xadd(stream, fields)
    last = pipeline.execute()[-1]
    _wait_handled(connection, stream, group, last, time.monotonic() + _TIMEOUT_SECONDS)
    return time.perf_counter() - started


def _run(config: dict[str, Any], publish: Any, backlog: Any, stream: str, group: str) -> dict[str, Any]:
    from benchmarks._cpu import cpu_snapshot

    connection = _connect(config)
    _wait_group(connection, stream, group)
    # The warm-up events also get both workers reading before the timed ones.
    last = b""
    for number in range(config["warmup"]):
        last = publish(number)
    if last:
        _wait_handled(connection, stream, group, last, time.monotonic() + _TIMEOUT_SECONDS)
    pids = [os.getpid(), *config["server_pids"], config["redis_pid"]]
    count = config["events"]
    before = cpu_snapshot(pids)
    started = time.perf_counter()
    for number in range(count):
        last = publish(number)
    published = time.perf_counter()
    _wait_handled(connection, stream, group, last, time.monotonic() + _TIMEOUT_SECONDS)
    done = time.perf_counter()
    after = cpu_snapshot(pids)
    deltas = [(b - a) * 1e6 / count for a, b in zip(before, after, strict=True)]
    drain_seconds = _drain(config, connection, backlog(count), stream, group)
    return {
        "events": count,
        "published_per_s": count / (published - started),
        "handled_per_s": count / (done - started),
        "drained_per_s": count / drain_seconds,
        "cpu_us_per_event": {"client": deltas[0], "workers": sum(deltas[1:-1]), "redis": deltas[-1]},
    }


def like_client(config: dict[str, Any]) -> dict[str, Any]:
    """Publish with ``Client.publish_event`` (a Redis service configured, so the fleet's Redis is known)."""
    import pysoa_like
    from pysoa_like.client.client import Client

    host, port = config["redis"]
    transport = {
        "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [(host, port)]}},
    }
    client = Client({GROUP_SERVICE: {"transport": transport}})

    def publish(number: int) -> bytes:
        return client.publish_event(EVENT_NAME, {"n": number}).encode()

    def backlog(count: int) -> list[dict[Any, Any]]:
        from pysoa_like.events.envelope import encode_event

        context = {"correlation_id": "bench", "switches": []}
        return [encode_event(EVENT_NAME, {"n": number}, context, None) for number in range(count)]

    return dict(_run(config, publish, backlog, _STREAM, _GROUP), package=str(Path(pysoa_like.__file__).parent))


def floor_client(config: dict[str, Any]) -> dict[str, Any]:
    """Publish with a raw ``XADD`` of a msgpack body."""
    import msgpack  # type: ignore[import-untyped,unused-ignore]

    connection = _connect(config)
    packb = msgpack.packb

    def publish(number: int) -> bytes:
        entry_id: bytes = connection.xadd(_FLOOR_STREAM, {"e": packb({"n": number})})
        return entry_id

    def backlog(count: int) -> list[dict[Any, Any]]:
        return [{"e": packb({"n": number})} for number in range(count)]

    return _run(config, publish, backlog, _FLOOR_STREAM, _FLOOR_GROUP)


def main(argv: list[str]) -> None:
    """``<role> '<json config>'``: run a worker until SIGTERM, or a client that prints its result line."""
    from benchmarks._driver import RESULT_PREFIX

    role, config = argv[1], json.loads(argv[2])
    if role == "like-worker":
        like_worker(config)
    elif role == "floor-worker":
        floor_worker(config)
    else:
        result = like_client(config) if role == "like-client" else floor_client(config)
        sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
