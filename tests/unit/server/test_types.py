"""Switch sets and enriched requests (``call_local_action``)."""

from __future__ import annotations

import enum
from typing import Any

import attr
import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.internal.types import RequestSwitchSet, get_switch, is_switch
from pysoa_like.server.types import EnrichedActionRequest, EnrichedJobRequest, JobClients
from tests.unit.server._helpers import job, make_server, serve


class Color(enum.Enum):
    RED = 3


class Size(enum.IntEnum):
    BIG = 7


def test_switch_helpers_accept_ints_int_likes_and_value_objects() -> None:
    """``get_switch``/``is_switch`` accept ints, IntEnums and objects whose value is an int."""
    assert [get_switch(s) for s in (0, Size.BIG, Color.RED)] == [0, 7, 3]
    assert is_switch(Color.RED) and not is_switch("x") and not is_switch(True)
    with pytest.raises(TypeError):
        get_switch("x")


def test_request_switch_set_membership_with_constants() -> None:
    """``RequestSwitchSet`` holds ints and answers ``in``/``is_active`` for switch constants, zero included."""
    switches = RequestSwitchSet([0, Size.BIG, Color.RED])
    assert switches == frozenset({0, 3, 7})
    assert switches.is_active(0) and Color.RED in switches and Size.BIG in switches
    assert 4 not in switches and "x" not in switches


def test_job_request_context_switches_reach_actions() -> None:
    """``request.switches`` is a ``RequestSwitchSet`` of the job's ``context.switches``."""
    seen: list[Any] = []

    class Records(Action):
        def run(self, request: EnrichedActionRequest) -> None:
            seen.append(request.switches)

    serve(make_server({"r": Records}), job("r", context={"switches": [1, 2]}))
    assert seen == [RequestSwitchSet([1, 2])] and isinstance(seen[0], RequestSwitchSet)


class Inner(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        if request.body.get("fail"):
            raise ActionError([Error(code="BAD", message="bad")])
        return {"context": dict(request.context), "tag": getattr(request, "tag", None)}


@attr.s
class TaggedRequest(EnrichedActionRequest):
    tag: str = attr.ib(default="none")


class Outer(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        mode = request.body.get("mode")
        if mode == "ok":
            return request.call_local_action("inner", {}, context={"extra": 1}).body
        if mode == "raise":
            request.call_local_action("inner", {"fail": True}, is_caller_error=True)
        if mode == "unknown":
            request.call_local_action("missing", {})
        response = request.call_local_action("inner", {"fail": True}, raise_action_errors=False)
        return {"codes": [e.code for e in response.errors]}


def _outer(mode: str) -> dict[str, Any]:
    server = make_server({"outer": Outer, "inner": Inner})
    type(server).request_class = TaggedRequest
    return serve(server, job({"action": "outer", "body": {"mode": mode}}))["actions"][0]  # type: ignore[no-any-return]


def test_call_local_action_merges_context_and_keeps_subclass_fields() -> None:
    """``call_local_action`` runs another action with merged context and the request subclass's fields."""
    body = _outer("ok")["body"]
    assert body["context"]["extra"] == 1 and body["context"]["correlation_id"] == "cid-1"
    assert body["tag"] == "none"


def test_call_local_action_raises_with_the_caller_flag() -> None:
    """Errors are raised as ``ActionError`` with ``is_caller_error`` set as requested."""
    errors = _outer("raise")["errors"]
    assert [(e["code"], e["is_caller_error"]) for e in errors] == [("BAD", True)]


def test_call_local_action_unknown_action_is_not_a_caller_error() -> None:
    """An unknown local action raises UNKNOWN, not a caller error."""
    errors = _outer("unknown")["errors"]
    assert [(e["code"], e["field"], e["is_caller_error"]) for e in errors] == [("UNKNOWN", "action", False)]


def test_call_local_action_can_return_errors() -> None:
    """With ``raise_action_errors=False`` errors come back in the response."""
    assert _outer("return")["body"] == {"codes": ["BAD"]}


def test_enriched_job_request_converts_actions() -> None:
    """``EnrichedJobRequest`` converts action dicts and carries client and run_coroutine."""
    request = EnrichedJobRequest(actions=[{"action": "a"}], client="c")
    assert request.actions[0].action == "a" and request.actions[0].body == {}
    assert request.client == "c" and request.run_coroutine is None


def test_base_server_is_the_server_class() -> None:
    """``pysoa_like.server.BaseServer`` and ``Server`` are ``pysoa_like.server.server.Server``."""
    import pysoa_like.server
    from pysoa_like.server.server import Server

    assert pysoa_like.server.BaseServer is Server and pysoa_like.server.Server is Server
    assert Server.client_class is Client


class _ClientMaker:
    """Stands for the server behind a job's clients: counts the clients it makes."""

    nested_call_margin_seconds = 0.5

    def __init__(self) -> None:
        self.made: list[Any] = []

    def make_client(self, context: Any) -> Client:
        self.made.append(context)
        return Client({}, context=dict(context))

    def make_async_client(self, context: Any) -> Any:
        raise AssertionError("no asyncio client was asked for")


def test_a_jobs_client_is_made_once_on_first_use_and_bounded_by_its_deadline() -> None:
    """``request.client`` is made when first read, shared by the job's requests and bounded by the job's deadline."""
    maker = _ClientMaker()
    clients = JobClients(maker, {"correlation_id": "c"}, 1_000.0)
    job_request = EnrichedJobRequest(actions=[{"action": "a"}], context={"correlation_id": "c"}, job_clients=clients)
    first = EnrichedActionRequest(action="a", job_clients=clients)
    second = EnrichedActionRequest(action="b", job_clients=clients)
    assert maker.made == []
    assert first.client is second.client is job_request.client
    assert maker.made == [{"correlation_id": "c"}]
    assert first.client.deadline == 999.5


def test_a_client_given_or_set_is_used_instead_of_the_jobs() -> None:
    """A ``client`` passed to the request, or set on it (by a job middleware, say), wins over the job's own."""
    maker = _ClientMaker()
    clients = JobClients(maker, {}, None)
    given = EnrichedActionRequest(action="a", client="given", job_clients=clients)
    job_request = EnrichedJobRequest(actions=[{"action": "a"}], job_clients=clients)
    job_request.client = "set"
    assert given.client == "given" and job_request.client == "set" and maker.made == []
    assert EnrichedActionRequest(action="a").client is None
