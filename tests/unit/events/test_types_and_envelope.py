"""Event types, handler declarations, the stored envelope and the checks made before publishing (no Redis)."""

from __future__ import annotations

import datetime
import decimal

import pytest

from pysoa_like.common import fields
from pysoa_like.common.serializer import JSONSerializer
from pysoa_like.events import BROADCAST, Event, EventHandler, EventType, declared_event_type
from pysoa_like.events.consumer import Subscription, plan_reads
from pysoa_like.events.envelope import decode_event, encode_event
from pysoa_like.events.publisher import check_event
from pysoa_like.fleet.errors import InvalidEventError

AMOUNT = EventType("unit.amount", schema=fields.Dictionary({"cents": fields.Integer(gte=0)}))


def test_declared_types_are_in_the_process_catalog() -> None:
    """An EventType is found by name; declaring it again with the same schema is fine, another is an error."""
    found = declared_event_type("unit.amount")
    assert found is not None and found.schema is AMOUNT.schema
    assert EventType("unit.amount", schema=AMOUNT.schema).schema is AMOUNT.schema
    with pytest.raises(ValueError, match="already declared with another schema"):
        EventType("unit.amount", schema=fields.Dictionary({}))
    with pytest.raises(ValueError, match="Invalid event name"):
        EventType("bad name")


def test_publish_checks_name_body_and_declared_schema() -> None:
    """Bodies are dicts; a declared schema refuses bad ones with each problem named, whether given by name or type."""
    name, declared = check_event("unit.amount", {"cents": 5})
    assert name == "unit.amount" and declared is not None and declared.schema is AMOUNT.schema
    assert check_event("unit.undeclared", {"any": 1}) == ("unit.undeclared", None)
    with pytest.raises(InvalidEventError, match=r"Invalid body for event unit\.amount: cents: Value not >= 0"):
        check_event(AMOUNT, {"cents": -1})
    with pytest.raises(InvalidEventError, match="must be a dict, not list"):
        check_event("unit.amount", [1])  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError, match="Invalid event name"):
        check_event("no spaces", {})


def test_handler_declarations_are_checked() -> None:
    """Unknown modes, start positions and delivery counts are refused when declared."""
    with pytest.raises(ValueError, match="Invalid delivery mode 'everyone'"):
        EventHandler(print, mode="everyone")
    with pytest.raises(ValueError, match="Invalid start_from"):
        EventHandler(print, start_from="middle")
    with pytest.raises(ValueError, match="max_deliveries must be at least 1"):
        EventHandler(print, max_deliveries=0)
    assert EventHandler(print).mode == "pool"


def test_envelope_round_trips_action_types() -> None:
    """The stored event keeps the body's types (msgpack, as actions), its context, publisher and time."""
    body = {"when": datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc), "price": decimal.Decimal("9.99")}
    fields_ = encode_event("unit.types", body, {"correlation_id": "c1", "switches": [3]}, "orders", published_at=12.5)
    assert fields_[b"ct"] == b"application/msgpack"
    assert decode_event(fields_) == {
        "name": "unit.types",
        "body": body,
        "context": {"correlation_id": "c1", "switches": [3]},
        "published_at": 12.5,
        "publisher": "orders",
    }


def test_envelope_can_use_json() -> None:
    """An entry written with the JSON serializer names its content type and reads back."""
    fields_ = encode_event("unit.json", {"a": [1, 2]}, {}, None, serializer=JSONSerializer())
    assert fields_[b"ct"] == b"application/json"
    assert decode_event({k.decode(): v for k, v in fields_.items()})["body"] == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "no event envelope"),
        ({b"ct": b"text/nonsense", b"e": b"x"}, "unknown event content type 'text/nonsense'"),
        ({b"e": b"\xc1"}, "cannot be decoded"),
        ({b"e": JSONSerializer().dict_to_blob({"v": 1}), b"ct": b"application/json"}, "not a map with a name"),
        ({b"e": JSONSerializer().dict_to_blob({"name": "x", "body": 1}), b"ct": b"application/json"}, "not a map"),
    ],
)
def test_entries_that_are_not_events_are_refused(entry: dict[bytes, bytes], message: str) -> None:
    """decode_event says why an entry is not an event (such entries are dead-lettered)."""
    with pytest.raises(InvalidEventError, match=message):
        decode_event(entry)


def test_event_exposes_its_context() -> None:
    """An event's correlation id and switches come from its context; without a server it has no client."""
    event = Event("unit.x", {}, context={"correlation_id": "abc", "switches": [1, 5]})
    assert event.correlation_id == "abc" and event.switches == [1, 5]
    with pytest.raises(RuntimeError, match="not being handled by a server"):
        _ = event.client
    with pytest.raises(RuntimeError, match="publish through a client"):
        event.publish_event("unit.y", {})


def _subscription(name: str, group: str | None) -> Subscription:
    return Subscription(name=name, mode="pool" if group else BROADCAST, group=group, stream=f"s:{name}", handle=print)


def test_reads_are_planned_per_redis_and_group() -> None:
    """Streams on one Redis read by one group share a blocking read; another group or Redis gets its own."""
    subscriptions = [
        _subscription("a", "pool:x"),
        _subscription("b", "pool:x"),
        _subscription("c", "singleton"),
        _subscription("d", None),
        _subscription("e", "pool:x"),
    ]
    plans = plan_reads(subscriptions, lambda stream: 1 if stream == "s:e" else 0)
    assert [(p.index, p.group, [s.name for s in p.subscriptions]) for p in plans] == [
        (0, "pool:x", ["a", "b"]),
        (0, "singleton", ["c"]),
        (0, None, ["d"]),
        (1, "pool:x", ["e"]),
    ]
