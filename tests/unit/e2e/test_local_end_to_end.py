"""End to end over the local transport: the example services, nested calls, middleware on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from examples import demo
from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError, CallJobError
from pysoa_like.common.types import ActionResponse, JobResponse
from tests.unit.e2e import middleware

LOCAL = "pysoa_like.common.transport.local:LocalClientTransport"
SERVER_MIDDLEWARE = [
    {"path": "tests.unit.e2e.middleware:RecordingServerMiddleware", "kwargs": {"name": "outer"}},
    {"path": "tests.unit.e2e.middleware:RecordingServerMiddleware", "kwargs": {"name": "inner"}},
]
CLIENT_MIDDLEWARE = [
    {"path": "tests.unit.e2e.middleware:RecordingClientMiddleware", "kwargs": {"name": "first"}},
    {"path": "tests.unit.e2e.middleware:RecordingClientMiddleware", "kwargs": {"name": "second"}},
]


def _service(server_class: str, **server_settings: Any) -> dict[str, Any]:
    return {
        "transport": {"path": LOCAL, "kwargs": {"server_class": server_class, "server_settings": server_settings}},
        "middleware": CLIENT_MIDDLEWARE,
    }


CALCULATOR = _service("examples.services:CalculatorServer", middleware=SERVER_MIDDLEWARE)
REPORT = _service("examples.services:ReportServer", client_routing={"calculator": CALCULATOR})


@pytest.fixture
def client() -> Iterator[Client]:
    middleware.EVENTS.clear()
    yield Client({"calculator": CALCULATOR, "report": REPORT})
    middleware.EVENTS.clear()


def test_single_call_runs_both_middleware_stacks_in_onion_order(client: Client) -> None:
    """Client and server middleware wrap a call with the first listed outermost on each side."""
    response = client.call_action("calculator", "square", {"number": 9})
    assert response == ActionResponse("square", body={"square": 81})
    assert middleware.EVENTS == [
        "first:send",
        "second:send",
        "outer:job:in",
        "inner:job:in",
        "outer:action:square",
        "inner:action:square",
        "inner:job:out",
        "outer:job:out",
        "second:receive",
        "first:receive",
    ]


def test_serial_job_returns_every_action_and_the_middleware_context(client: Client) -> None:
    """call_actions returns one response per action, and job middleware can add response context."""
    job = client.call_actions(
        "calculator",
        [{"action": "square", "body": {"number": 2}}, {"action": "add", "body": {"numbers": [2, 3]}}],
        correlation_id="cid-serial",
    )
    assert [a.body for a in job.actions] == [{"square": 4}, {"sum": 5}]
    assert job.context == {"correlation_id": "cid-serial", "middleware": ["inner", "outer"]}


def test_errors_stop_the_job_unless_continue_on_error(client: Client) -> None:
    """An action error stops the job, unless continue_on_error asks for the remaining actions."""
    actions = [{"action": "add", "body": {"numbers": []}}, {"action": "square", "body": {"number": 3}}]
    stopped = client.call_actions("calculator", actions, raise_action_errors=False)
    assert [a.action for a in stopped.actions] == ["add"]
    assert stopped.actions[0].errors[0].code == "EMPTY"
    continued = client.call_actions("calculator", actions, raise_action_errors=False, continue_on_error=True)
    assert [a.action for a in continued.actions] == ["add", "square"]
    assert continued.actions[1].body == {"square": 9}


def test_caller_errors_are_raised_with_the_field(client: Client) -> None:
    """A request-schema failure comes back as a caller error on the offending field."""
    with pytest.raises(CallActionError) as info:
        client.call_action("calculator", "square", {"number": "x"})
    error = info.value.actions[0].errors[0]
    assert (error.code, error.field, error.is_caller_error) == ("INVALID", "number", True)


def test_unknown_service_action_is_reported(client: Client) -> None:
    """An action the server does not have is an UNKNOWN error on field 'action'."""
    with pytest.raises(CallActionError) as info:
        client.call_action("calculator", "cube", {"number": 1})
    assert (info.value.actions[0].errors[0].code, info.value.actions[0].errors[0].field) == ("UNKNOWN", "action")


def test_parallel_calls_and_jobs_keep_input_order(client: Client) -> None:
    """Parallel calls and multi-service parallel jobs return results in input order."""
    squares = client.call_actions_parallel(
        "calculator", [{"action": "square", "body": {"number": n}} for n in range(5)]
    )
    assert [r.body["square"] for r in squares] == [0, 1, 4, 9, 16]
    jobs = client.call_jobs_parallel(
        [
            {"service_name": "report", "actions": [{"action": "sum_of_squares", "body": {"numbers": [3, 4]}}]},
            {"service_name": "calculator", "actions": [{"action": "add", "body": {"numbers": [1, 1]}}]},
        ]
    )
    assert isinstance(jobs[0], JobResponse)
    assert jobs[0].actions[0].body["sum_of_squares"] == 25
    assert jobs[1].actions[0].body == {"sum": 2}


def test_futures_of_every_kind_resolve_out_of_order(client: Client) -> None:
    """All four future variants can be resolved in any order on one client."""
    f_action = client.call_action_future("calculator", "square", {"number": 5})
    f_actions = client.call_actions_future("calculator", [{"action": "add", "body": {"numbers": [4, 4]}}])
    f_parallel = client.call_actions_parallel_future("calculator", [{"action": "square", "body": {"number": 6}}])
    f_jobs = client.call_jobs_parallel_future(
        [{"service_name": "calculator", "actions": [{"action": "square", "body": {"number": 7}}]}]
    )
    assert f_jobs.result()[0].actions[0].body == {"square": 49}
    assert [r.body for r in f_parallel.result()] == [{"square": 36}]
    assert f_actions.result().actions[0].body == {"sum": 8}
    assert f_action.result().body == {"square": 25}
    assert f_action.done()


def test_send_request_and_get_all_responses(client: Client) -> None:
    """The low-level pair sends without waiting and later yields each response with its id."""
    ids = [client.send_request("calculator", [{"action": "square", "body": {"number": n}}]) for n in (2, 3)]
    responses = dict(client.get_all_responses("calculator"))
    assert sorted(responses) == sorted(ids)
    assert responses[ids[1]].actions[0].body == {"square": 9}


def test_nested_calls_chain_correlation_id_switches_and_caller(client: Client) -> None:
    """A nested call from inside an action carries the caller's correlation id."""
    response = client.call_action(
        "report", "sum_of_squares", {"numbers": [1, 2]}, correlation_id="chain-1", switches=[5]
    )
    assert response.body["correlation_id"] == "chain-1"
    assert response.body["calculator_correlation_id"] == "chain-1"


def test_job_errors_are_raised_or_returned(client: Client) -> None:
    """A job-level error raises CallJobError, or comes back in the JobResponse with raise_job_errors=False."""
    with pytest.raises(CallJobError) as info:
        client.call_actions("calculator", [])
    assert [(e.code, e.field) for e in info.value.errors] == [("INVALID", "actions")]
    job = client.call_actions("calculator", [], raise_job_errors=False)
    assert [e.code for e in job.errors] == ["INVALID"]
    assert job.actions == []


def test_demo_prints_every_call(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo's in-process mode runs every kind of call and shows the chained correlation id."""
    demo.main(["--local"])
    out = capsys.readouterr().out
    assert "{'square': 49}" in out
    assert "EMPTY on field 'numbers'" in out
    assert out.count("demo-correlation-1") == 3
