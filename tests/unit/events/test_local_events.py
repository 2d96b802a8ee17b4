"""Events without Redis: publishing from clients and actions on the local transport, and running handlers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common import fields
from pysoa_like.common.transport.base import ClientTransport
from pysoa_like.events import BROADCAST, Event, EventHandler, EventType
from pysoa_like.events.testing import LocalEventBus, handle_event, local_event_bus
from pysoa_like.fleet.errors import FleetNotConfiguredError, InvalidEventError
from pysoa_like.server.action.base import Action
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from pysoa_like.test.server import close_client, local_client_settings

LOCAL_SETTINGS: dict[str, Any] = {"transport": {"path": "pysoa_like.common.transport.local:LocalServerTransport"}}
ORDER_PAID = EventType("local.order_paid", schema=fields.Dictionary({"order_id": fields.Integer()}))
handled: list[tuple[str, Any]] = []


class PayAction(Action):
    """Publishes order_paid with the request's context chained."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        event_id = request.publish_event(ORDER_PAID, {"order_id": request.body["order_id"]}, context={"extra": 1})
        return {"event_id": event_id}


def on_paid(event: Event) -> None:
    handled.append(("function", event.body))


async def on_paid_async(event: Event) -> None:
    handled.append(("coroutine", event.body))


class ShopServer(Server):
    service_name = "shop"
    action_class_map = {"pay": PayAction}
    event_handlers = {
        ORDER_PAID: on_paid,
        "local.async": on_paid_async,
        "local.method": EventHandler("on_method", mode=BROADCAST),
        "local.checked": EventHandler(on_paid, schema=fields.Dictionary({"n": fields.Integer()})),
    }

    def on_method(self, event: Event) -> None:
        handled.append(("method", event.body))
        assert event.server is self and event.client is not None


@pytest.fixture
def client(event_bus: LocalEventBus) -> Iterator[Client]:
    handled.clear()
    client = Client(local_client_settings(ShopServer, LOCAL_SETTINGS))
    yield client
    close_client(client)


def test_an_action_publishes_with_the_request_context(client: Client, event_bus: LocalEventBus) -> None:
    """request.publish_event records the event with the job's correlation id, switches and extra keys."""
    event_id = client.call_action("shop", "pay", {"order_id": 7}, correlation_id="cid-1", switches=[4]).body["event_id"]
    event = event_bus.assert_published(ORDER_PAID, {"order_id": 7}, count=1)
    assert event.id == event_id
    assert event.publisher == "shop"
    assert (
        event.context["correlation_id"] == "cid-1" and event.context["switches"] == [4] and event.context["extra"] == 1
    )


def test_a_client_on_the_local_transport_publishes_to_the_local_bus(client: Client, event_bus: LocalEventBus) -> None:
    """Client.publish_event with only local services goes to the process's bus, with a correlation id."""
    assert local_event_bus() is event_bus
    client.publish_event("local.async", {"x": 1}, correlation_id="c2")
    (event,) = event_bus.published("local.async")
    assert event.body == {"x": 1} and event.context["correlation_id"] == "c2" and event.publisher is None


def test_a_client_can_be_given_its_own_bus() -> None:
    """Client(fleet=LocalEventBus()) publishes there, and has no Redis to list services from."""
    bus = LocalEventBus()
    client = Client({}, fleet=bus)
    client.publish_event("local.anything", {"a": 1})
    assert [e.name for e in bus.published()] == ["local.anything"]
    with pytest.raises(FleetNotConfiguredError, match="in-memory event bus"):
        client.list_services()


def test_publishing_refuses_bad_events(client: Client) -> None:
    """A body failing the declared schema, or one msgpack cannot carry, is refused before anything is recorded."""
    with pytest.raises(InvalidEventError, match=r"order_id: Not an integer"):
        client.publish_event("local.order_paid", {"order_id": "seven"})
    with pytest.raises(InvalidEventError, match="cannot be serialized"):
        client.publish_event("local.other", {"thing": object()})
    assert local_event_bus().published() == []


def test_assertions_say_what_was_published(event_bus: LocalEventBus) -> None:
    """assert_published lists what was published when nothing matches; assert_not_published shows the bodies."""
    event_bus.publish("local.a", {"n": 1}, {}, None)
    with pytest.raises(
        AssertionError, match=r"Expected event local\.a with body \{'n': 2\} to be published; published: "
    ):
        event_bus.assert_published("local.a", {"n": 2})
    with pytest.raises(AssertionError, match=r"published 2 times, not 1"):
        event_bus.assert_published("local.a", count=2)
    with pytest.raises(AssertionError, match=r"Expected no local\.a event, got \[\{'n': 1\}\]"):
        event_bus.assert_not_published("local.a")
    event_bus.assert_not_published("local.b")


def test_deliver_runs_the_handlers_as_a_worker_would(client: Client, event_bus: LocalEventBus) -> None:
    """Recorded events reach the server's function, coroutine and method handlers, in order; others are skipped."""
    client.call_action("shop", "pay", {"order_id": 1})
    client.publish_event("local.async", {"n": 2})
    client.publish_event("local.unhandled", {"n": 3})
    client.publish_event("local.method", {"n": 4})
    server = ShopServer(LOCAL_SETTINGS)
    delivered = event_bus.deliver(server)
    assert [e.name for e in delivered] == ["local.order_paid", "local.async", "local.method"]
    assert handled == [("function", {"order_id": 1}), ("coroutine", {"n": 2}), ("method", {"n": 4})]
    assert delivered[2].mode == BROADCAST


def test_handle_event_checks_the_handler_schema() -> None:
    """handle_event refuses a body the handler's schema rejects, and a name the server does not handle."""
    server = ShopServer(LOCAL_SETTINGS)
    with pytest.raises(InvalidEventError, match="n: Missing key: n"):
        handle_event(server, "local.checked", {})
    with pytest.raises(KeyError, match=r"no handler for event 'local\.nothing'"):
        handle_event(server, "local.nothing", {})
    assert handle_event(server, "local.checked", {"n": 1}, context={"correlation_id": "z"}).correlation_id == "z"


def test_servers_declare_their_events(client: Client) -> None:
    """served_events lists each handled event with its mode (the registry publishes it)."""
    assert ShopServer(LOCAL_SETTINGS).served_events() == [
        ("local.order_paid", "pool"),
        ("local.async", "pool"),
        ("local.method", "broadcast"),
        ("local.checked", "pool"),
    ]


def test_bad_handler_declarations_fail_when_the_server_is_built() -> None:
    """A handler naming a missing method, or an invalid event name, fails at startup."""

    class MissingMethod(Server):
        service_name = "broken"
        event_handlers = {"local.x": "no_such_method"}

    class BadName(Server):
        service_name = "broken"
        event_handlers = {"bad name": on_paid}

    with pytest.raises(AttributeError, match="has no method 'no_such_method' to handle events"):
        MissingMethod(LOCAL_SETTINGS)
    with pytest.raises(InvalidEventError, match="Invalid event name 'bad name'"):
        BadName(LOCAL_SETTINGS)


class OtherTransport(ClientTransport):
    """A transport that is neither Redis nor local."""

    def send_request_message(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def receive_response_message(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def test_a_client_without_redis_or_local_services_cannot_publish() -> None:
    """Publishing needs the fleet's Redis: a client with neither Redis nor local services says how to give one."""
    client = Client({"elsewhere": {"transport": {"path": f"{__name__}:OtherTransport"}}})
    with pytest.raises(FleetNotConfiguredError, match="pass fleet="):
        client.publish_event("local.x", {})
