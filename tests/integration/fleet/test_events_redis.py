"""Event handling against real Redis (6.2 and the system's), with in-process workers: each FleetRuntime is
one worker's background side, as ``Server.run`` starts it, without the request loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.common import fields
from pysoa_like.common.metrics import CountingMetricsRecorder
from pysoa_like.events import BROADCAST, Event, EventHandler
from pysoa_like.events.envelope import encode_event
from pysoa_like.events.publisher import RedisEventPublisher
from pysoa_like.events.testing import wait_for_event_handled
from pysoa_like.fleet.errors import EventDeadLetteredError, InvalidEventError
from pysoa_like.fleet.redis import FleetRedis
from pysoa_like.server._fleet import FleetRuntime
from pysoa_like.server.server import Server
from pysoa_like.test.redis import RedisServerProcess

SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"
calls: list[tuple[str, Any, int, int]] = []
gate = threading.Event()


def record(event: Event) -> None:
    calls.append((event.name, event.body, event.delivery_count, threading.get_ident()))


def flaky(event: Event) -> None:
    record(event)
    if event.delivery_count < event.body.get("succeed_on", 99):
        raise RuntimeError(f"failure {event.delivery_count}")


def slow(event: Event) -> None:
    record(event)
    gate.wait(float(event.body["seconds"]))


class EventsServer(Server):
    service_name = "ev"
    action_class_map: dict[str, Any] = {}
    event_handlers = {
        "it.record": record,
        "it.flaky": flaky,
        "it.slow": slow,
        "it.checked": EventHandler(record, schema=fields.Dictionary({"n": fields.Integer()})),
        "it.earliest": EventHandler(record, start_from="earliest"),
        "it.broadcast": EventHandler(flaky, mode=BROADCAST),
    }


@pytest.fixture
def start_worker(fleet_server: RedisServerProcess) -> Iterator[Callable[..., FleetRuntime]]:
    """``start(**events_settings)``: one in-process worker of EventsServer with a counting metrics recorder."""
    calls.clear()
    gate.clear()
    runtimes: list[FleetRuntime] = []

    def start(server_class: type[Server] = EventsServer, **events: Any) -> FleetRuntime:
        settings = {
            "transport": {
                "path": SERVER_TRANSPORT,
                "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [fleet_server.url]}},
            },
            "metrics": {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"},
            "events": {"redeliver_after_seconds": 1, "retry_delay_seconds": 0.1, "block_seconds": 0.2, **events},
        }
        server = server_class(settings)
        fleet = server.resolve_fleet()
        assert fleet is not None
        runtime = FleetRuntime(server, fleet)
        runtime.start()
        runtime.start_work()
        runtimes.append(runtime)
        return runtime

    yield start
    gate.set()
    for runtime in runtimes:
        runtime.stop(5)


@pytest.fixture
def publisher(fleet: FleetRedis) -> RedisEventPublisher:
    return RedisEventPublisher(fleet)


def _metrics(runtime: FleetRuntime) -> CountingMetricsRecorder:
    metrics = runtime.server.metrics
    assert isinstance(metrics, CountingMetricsRecorder)
    return metrics


def _dead(fleet_server: RedisServerProcess, name: str) -> list[dict[str, str]]:
    with fleet_server.client() as client:
        return [
            {k.decode(): v.decode("utf-8", "replace") for k, v in entry.items()}
            for _, entry in client.xrange(f"pysoa:events:{{{name}}}:dead")
        ]


def _wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
    return value


def test_a_failing_handler_is_retried_then_dead_lettered(
    start_worker: Callable[..., FleetRuntime],
    publisher: RedisEventPublisher,
    fleet: FleetRedis,
    fleet_server: RedisServerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each failure delivers the event again (counting deliveries); after max_deliveries it is dead-lettered,
    with a log line and a metric, and never handled again."""
    worker = start_worker(max_deliveries=3)
    event_id = publisher.publish("it.flaky", {"n": 1}, {}, None)
    with pytest.raises(EventDeadLetteredError, match=r"dead-lettered by pool:ev: RuntimeError: failure 3"):
        wait_for_event_handled(fleet, "it.flaky", event_id, service="ev")
    assert [c[2] for c in calls] == [1, 2, 3]
    (dead,) = _dead(fleet_server, "it.flaky")
    assert dead["event_id"] == event_id and dead["group"] == "pool:ev" and dead["deliveries"] == "3"
    assert dead["consumer"] == worker.instance_id and dead["reason"] == "RuntimeError: failure 3"
    metrics = _metrics(worker)
    assert metrics.get_count("server.events.failed") == 3
    assert metrics.get_count("server.events.dead_lettered") == 1
    assert metrics.get_count("server.events.redelivered") == 2
    assert any(
        r.levelno == logging.ERROR
        and f"Event it.flaky {event_id} dead-lettered to pysoa:events:{{it.flaky}}:dead" in r.getMessage()
        for r in caplog.records
    )
    time.sleep(1.5)
    assert len(calls) == 3


def test_a_handler_succeeding_on_a_retry_is_acknowledged(
    start_worker: Callable[..., FleetRuntime], publisher: RedisEventPublisher, fleet: FleetRedis
) -> None:
    """An event whose handler fails once then succeeds is handled, not dead-lettered."""
    worker = start_worker(max_deliveries=3)
    event_id = publisher.publish("it.flaky", {"succeed_on": 2}, {}, None)
    wait_for_event_handled(fleet, "it.flaky", event_id, service="ev")
    assert [c[2] for c in calls] == [1, 2]
    assert _metrics(worker).get_count("server.events.handled") == 1


def test_undecodable_and_invalid_events_are_dead_lettered_at_once(
    start_worker: Callable[..., FleetRuntime], fleet: FleetRedis, fleet_server: RedisServerProcess
) -> None:
    """An entry that is no event, or whose body fails the handler's schema, is dead-lettered on first delivery."""
    start_worker()
    with fleet_server.client() as client:
        client.xadd("pysoa:events:{it.checked}", {"something": "else"})
        client.xadd("pysoa:events:{it.checked}", encode_event("it.checked", {"n": "x"}, {}, None))  # type: ignore[arg-type]
    reasons = _wait(
        lambda: (
            [d["reason"] for d in _dead(fleet_server, "it.checked")]
            if len(_dead(fleet_server, "it.checked")) == 2
            else None
        )
    )
    assert reasons == [
        "undecodable event: the stream entry has no event envelope (field 'e')",
        "invalid body: n: Not an integer",
    ]
    assert calls == []


def test_an_event_never_acknowledged_is_claimed_then_dead_lettered(
    start_worker: Callable[..., FleetRuntime],
    publisher: RedisEventPublisher,
    fleet_server: RedisServerProcess,
    fleet: FleetRedis,
) -> None:
    """An event left pending by a vanished consumer goes to a live worker after redeliver_after; once it was
    delivered more than max_deliveries times without an acknowledgement, it is dead-lettered instead."""
    with fleet_server.client() as client:
        client.xgroup_create("pysoa:events:{it.record}", "pool:ev", id="$", mkstream=True)
        first = publisher.publish("it.record", {"n": 1}, {}, None)
        client.xreadgroup("pool:ev", "vanished", {"pysoa:events:{it.record}": ">"})
        second = publisher.publish("it.record", {"n": 2}, {}, None)
        client.xreadgroup("pool:ev", "vanished", {"pysoa:events:{it.record}": ">"})
        # The second one crashed its workers twice already.
        for _ in range(2):
            client.xclaim("pysoa:events:{it.record}", "pool:ev", "vanished", 0, [second])
    worker = start_worker(max_deliveries=3)
    wait_for_event_handled(fleet, "it.record", first, service="ev", timeout=10)
    assert [(c[1], c[2]) for c in calls] == [({"n": 1}, 2)]
    with pytest.raises(EventDeadLetteredError, match="never acknowledged"):
        wait_for_event_handled(fleet, "it.record", second, service="ev", timeout=10)
    (dead,) = _dead(fleet_server, "it.record")
    assert dead["event_id"] == second and dead["deliveries"] == "3"
    assert _metrics(worker).get_count("server.events.dead_lettered") == 1


def test_a_long_handler_keeps_its_event(
    start_worker: Callable[..., FleetRuntime], publisher: RedisEventPublisher, fleet: FleetRedis
) -> None:
    """A handler running longer than redeliver_after keeps its event: no other worker gets it meanwhile."""
    start_worker()
    start_worker()
    event_id = publisher.publish("it.slow", {"seconds": 2.5}, {}, None)
    wait_for_event_handled(fleet, "it.slow", event_id, service="ev", timeout=10)
    assert [c[2] for c in calls] == [1]


def test_stopping_finishes_and_acknowledges_the_event_in_hand(
    start_worker: Callable[..., FleetRuntime], publisher: RedisEventPublisher, fleet: FleetRedis
) -> None:
    """stop() waits for the running handler, acknowledges its event, then removes the consumer."""
    worker = start_worker()
    event_id = publisher.publish("it.slow", {"seconds": 0.8}, {}, None)
    _wait(lambda: calls)
    started = time.monotonic()
    worker.stop(5)
    assert time.monotonic() - started >= 0.5
    wait_for_event_handled(fleet, "it.slow", event_id, service="ev", timeout=0.5)
    with fleet.client_for("pysoa:events:{it.slow}") as client:
        assert client.xinfo_consumers("pysoa:events:{it.slow}", "pool:ev") == []


def test_a_group_starts_at_new_events_unless_asked_for_the_earliest(
    start_worker: Callable[..., FleetRuntime], publisher: RedisEventPublisher, fleet: FleetRedis
) -> None:
    """Events published before a service's group exists are skipped, unless its handler says start_from earliest."""
    old_record = publisher.publish("it.record", {"n": "old"}, {}, None)
    old_earliest = publisher.publish("it.earliest", {"n": "old"}, {}, None)
    start_worker()
    wait_for_event_handled(fleet, "it.earliest", old_earliest, service="ev")
    new_record = publisher.publish("it.record", {"n": "new"}, {}, None)
    wait_for_event_handled(fleet, "it.record", new_record, service="ev")
    assert sorted((c[0], c[1]["n"]) for c in calls) == [("it.earliest", "old"), ("it.record", "new")]
    assert old_record < new_record


def test_events_trimmed_while_pending_are_dropped_with_a_warning(
    start_worker: Callable[..., FleetRuntime],
    publisher: RedisEventPublisher,
    fleet_server: RedisServerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A pending event deleted from the stream (retention) is acknowledged and logged, on Redis 6.2 and 7 alike."""
    with fleet_server.client() as client:
        client.xgroup_create("pysoa:events:{it.record}", "pool:ev", id="$", mkstream=True)
        gone = publisher.publish("it.record", {"n": 1}, {}, None)
        client.xreadgroup("pool:ev", "vanished", {"pysoa:events:{it.record}": ">"})
        client.xdel("pysoa:events:{it.record}", gone)
    start_worker()
    _wait(lambda: any(f"{gone} was trimmed from its stream" in r.getMessage() for r in caplog.records))
    with fleet_server.client() as client:
        _wait(lambda: client.xpending("pysoa:events:{it.record}", "pool:ev")["pending"] == 0)
    assert calls == []


def test_retention_trims_old_events(fleet: FleetRedis, fleet_server: RedisServerProcess) -> None:
    """Publishing trims entries older than the retention (approximately: whole stream nodes)."""
    publisher = RedisEventPublisher(fleet)
    for n in range(300):
        publisher.publish("it.retained", {"n": n}, {}, None, retention_seconds=3600)
    time.sleep(0.05)
    publisher.publish("it.retained", {"n": "last"}, {}, None, retention_seconds=0.01)
    with fleet_server.client() as client:
        assert client.xlen("pysoa:events:{it.retained}") < 100


def test_waiting_for_an_event_says_how_far_it_got(publisher: RedisEventPublisher, fleet: FleetRedis) -> None:
    """wait_for_event_handled times out with the group's view of the event."""
    event_id = publisher.publish("it.nobody", {}, {}, None)
    with pytest.raises(TimeoutError, match=r"not handled by pool:ghost within 0.2 s \(the group does not exist\)"):
        wait_for_event_handled(fleet, "it.nobody", event_id, service="ghost", timeout=0.2)


def test_a_failing_broadcast_handler_is_retried_in_place_then_dead_lettered(
    start_worker: Callable[..., FleetRuntime], publisher: RedisEventPublisher, fleet_server: RedisServerProcess
) -> None:
    """A broadcast event whose handler fails is retried by the same worker; after max_deliveries it is
    dead-lettered with no group (broadcast has none); one that succeeds on a retry is not."""
    worker = start_worker(max_deliveries=2)
    recovered = publisher.publish("it.broadcast", {"succeed_on": 2}, {}, None)
    lost = publisher.publish("it.broadcast", {"n": 2}, {}, None)
    (dead,) = _wait(lambda: _dead(fleet_server, "it.broadcast"))
    assert dead["event_id"] == lost and dead["group"] == "" and dead["reason"] == "RuntimeError: failure 2"
    assert [(c[1], c[2]) for c in calls] == [
        ({"succeed_on": 2}, 1),
        ({"succeed_on": 2}, 2),
        ({"n": 2}, 1),
        ({"n": 2}, 2),
    ]
    assert _metrics(worker).get_count("server.events.handled") == 1
    assert recovered < lost


def test_an_async_client_publishes_from_its_event_loop(
    start_worker: Callable[..., FleetRuntime], fleet_server: RedisServerProcess
) -> None:
    """AsyncClient.publish_event appends the event with the asyncio driver (no worker thread): it carries the
    client's context and is handled; a body the serializer cannot carry is refused before anything is sent."""
    start_worker()
    fleet_settings = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [fleet_server.url]}}

    async def publish() -> tuple[str, set[str]]:
        threads_before = {thread.name for thread in threading.enumerate()}
        async with AsyncClient({}, fleet=fleet_settings) as client:
            event_id = await client.publish_event("it.record", {"n": 1}, correlation_id="corr-async")
            with pytest.raises(InvalidEventError, match="cannot be serialized"):
                await client.publish_event("it.checked", {"n": object()})
        return event_id, {thread.name for thread in threading.enumerate()} - threads_before

    event_id, new_threads = asyncio.run(publish())
    assert not [name for name in new_threads if name.startswith("asyncio_")], new_threads
    _wait(lambda: calls)
    assert [(name, body) for name, body, _, _ in calls] == [("it.record", {"n": 1})]
    with fleet_server.client() as client:
        [(stored_id, fields_stored)] = client.xrange("pysoa:events:{it.record}")
    assert stored_id.decode() == event_id
    assert b"corr-async" in b"".join(fields_stored.values())
    with fleet_server.client() as client:
        assert client.xlen("pysoa:events:{it.checked}") == 0
