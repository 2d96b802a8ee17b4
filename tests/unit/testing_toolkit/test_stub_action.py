"""stub_action: what a stub returns or raises, how it merges with real actions, and how it is activated."""

from __future__ import annotations

import asyncio
import unittest
from typing import Any

import pytest

from pysoa_like.client.client import Client, ServiceHandler
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured
from pysoa_like.common.errors import Error
from pysoa_like.common.transport.errors import MessageReceiveError, MessageReceiveTimeout
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.test.compatibility import mock
from pysoa_like.test.stub_service import (
    StubActionMock,
    get_stubbed_requests,
    get_stubbed_responses,
    reset_stubbed_contracts,
    stub_action,
)
from tests.unit.testing_toolkit._services import RAN


def test_context_manager_returns_a_recording_mock(echo_client: Client) -> None:
    """The mock records call_body and call_bodies, and the call never reaches the server."""
    with stub_action("echo", "echo", body={"stubbed": True}) as stub:
        assert isinstance(stub, StubActionMock)
        assert stub.call_body is None
        assert echo_client.call_action("echo", "echo", {"n": 1}).body == {"stubbed": True}
        echo_client.call_action("echo", "echo", {"n": 2})
    assert stub.call_body == {"n": 2}
    assert stub.call_bodies == ({"n": 1}, {"n": 2})
    stub.assert_called_with({"n": 2})
    assert RAN == []


def test_errors_argument_fails_the_action(echo_client: Client) -> None:
    """errors given as dicts become the action's errors; a missing message defaults to the code."""
    with stub_action("echo", "echo", errors=[{"code": "NOPE", "field": "x"}]), pytest.raises(CallActionError) as info:
        echo_client.call_action("echo", "echo")
    assert info.value.actions[0].errors[0] == Error(code="NOPE", message="NOPE", field="x")


def test_a_bad_error_is_refused() -> None:
    """An error that is neither an Error nor a dict with a code is refused at once."""
    with pytest.raises(TypeError, match="must be an Error or a dict with a 'code'"):
        stub_action("echo", "echo", errors=["oops"])


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"a": 1}, {"a": 1}),
        (ActionResponse(action="echo", body={"b": 2}), {"b": 2}),
        (JobResponse(actions=[ActionResponse(action="echo", body={"c": 3})]), {"c": 3}),
        (None, {}),
    ],
)
def test_side_effect_results_become_the_response(echo_client: Client, result: Any, expected: Any) -> None:
    """A dict, an ActionResponse, a JobResponse or None from the mock becomes the action's response."""
    with stub_action("echo", "echo", side_effect=lambda body: result):
        assert echo_client.call_action("echo", "echo").body == expected


def test_action_error_side_effect(echo_client: Client) -> None:
    """A raised ActionError becomes the action's errors."""
    with stub_action("echo", "echo", side_effect=ActionError([Error(code="E", message="m")])):
        response = echo_client.call_action("echo", "echo", raise_action_errors=False)
    assert [e.code for e in response.errors] == ["E"]


@pytest.mark.parametrize(
    "side_effect",
    [JobError([Error(code="JOB", message="m")]), lambda body: JobResponse(errors=[Error(code="JOB", message="m")])],
)
def test_job_errors_fail_the_job(echo_client: Client, side_effect: Any) -> None:
    """A raised JobError or a returned JobResponse with errors fails the whole job."""
    with stub_action("echo", "echo", side_effect=side_effect), pytest.raises(CallJobError) as info:
        echo_client.call_action("echo", "echo")
    assert [e.code for e in info.value.errors] == ["JOB"]


@pytest.mark.parametrize("error", [MessageReceiveError("down"), MessageReceiveTimeout("slow")])
def test_receive_errors_surface_when_the_response_is_collected(echo_client: Client, error: Exception) -> None:
    """Receive errors are raised by result(), not when the future is created."""
    with stub_action("echo", "echo", side_effect=error):
        future = echo_client.call_action_future("echo", "echo")
        with pytest.raises(type(error), match=str(error)):
            future.result()


def test_other_exceptions_are_raised_by_the_call(echo_client: Client) -> None:
    """An unexpected exception from a side effect is raised straight from the call."""
    with stub_action("echo", "echo", side_effect=ValueError("test bug")), pytest.raises(ValueError, match="test bug"):
        echo_client.call_action_future("echo", "echo")


def test_side_effect_sequence(echo_client: Client) -> None:
    """A side effect iterable answers successive calls."""
    with stub_action("echo", "echo") as stub:
        stub.side_effect = [{"n": 1}, ActionError([Error(code="SECOND", message="m")])]
        assert echo_client.call_action("echo", "echo").body == {"n": 1}
        with pytest.raises(CallActionError, match="SECOND"):
            echo_client.call_action("echo", "echo")


def test_unstubbed_actions_of_the_job_run_for_real_in_order(echo_client: Client) -> None:
    """Real and stubbed responses are merged in request order."""
    actions = [
        {"action": "echo", "body": {"i": 0}},
        {"action": "echo2", "body": {"i": 1}},
        {"action": "echo", "body": {"i": 2}},
    ]
    with stub_action("echo", "echo2", body={"stub": True}):
        job = echo_client.call_actions("echo", actions)
    assert [a.body for a in job.actions] == [{"i": 0}, {"stub": True}, {"i": 2}]
    assert RAN == ["echo", "echo"]
    assert "correlation_id" in job.context


def test_a_failing_stub_stops_the_job(echo_client: Client) -> None:
    """Without continue_on_error, actions after a failing stub are neither run nor returned."""
    actions = [{"action": "echo"}, {"action": "echo2"}, {"action": "echo"}]
    with stub_action("echo", "echo2", errors=[{"code": "STOP", "message": "m"}]):
        job = echo_client.call_actions("echo", actions, raise_action_errors=False)
    assert [a.action for a in job.actions] == ["echo", "echo2"]
    assert RAN == ["echo"]


def test_continue_on_error_runs_everything(echo_client: Client) -> None:
    """With continue_on_error, every action runs and is returned."""
    actions = [{"action": "echo2"}, {"action": "fail"}, {"action": "echo"}]
    with stub_action("echo", "echo2", errors=[{"code": "STOP", "message": "m"}]):
        job = echo_client.call_actions("echo", actions, raise_action_errors=False, continue_on_error=True)
    assert [a.action for a in job.actions] == ["echo2", "fail", "echo"]
    assert RAN == ["fail", "echo"]


def test_a_failing_real_action_drops_later_stub_responses(echo_client: Client) -> None:
    """When a real action fails first, the responses after it are cut, as a server would."""
    with stub_action("echo", "echo2", body={"x": 1}):
        job = echo_client.call_actions("echo", [{"action": "fail"}, {"action": "echo2"}], raise_action_errors=False)
    assert [a.action for a in job.actions] == ["fail"]


def test_request_client_inside_actions_is_stubbed(echo_client: Client) -> None:
    """Nested calls through request.client reach the stub, even to a service with no client settings."""
    with stub_action("other", "thing", body={"answer": 42}) as stub:
        assert echo_client.call_action("echo", "call_other").body == {"other": {"answer": 42}}
    assert stub.call_body == {"from": "echo"}


def test_unstubbed_action_of_an_unconfigured_service_explains_itself() -> None:
    """Calling a real action on a service known only through stubs names the service and actions."""
    with stub_action("ghost", "known"), pytest.raises(ImproperlyConfigured, match=r'"ghost".*\[\'unknown\'\]'):
        Client({}).call_action("ghost", "unknown")


def test_parallel_calls_and_futures_get_their_own_responses(echo_client: Client) -> None:
    """Stubbed and real jobs in flight together are routed by request id."""
    with stub_action("echo", "echo2", side_effect=lambda body: {"stub": body["i"]}):
        futures = [echo_client.call_action_future("echo", "echo2" if i % 2 else "echo", {"i": i}) for i in range(4)]
        parallel = list(
            echo_client.call_actions_parallel("echo", [{"action": "echo2", "body": {"i": 9}}, {"action": "echo"}])
        )
        jobs = echo_client.call_jobs_parallel(
            [
                {"service_name": "echo", "actions": [{"action": "echo2", "body": {"i": 7}}]},
                {"service_name": "echo", "actions": [{"action": "echo", "body": {"i": 8}}]},
            ]
        )
        results = [f.result().body for f in reversed(futures)]
    assert results == [{"stub": 3}, {"i": 2}, {"stub": 1}, {"i": 0}]
    assert [r.body for r in parallel] == [{"stub": 9}, {}]
    assert [j.actions[0].body for j in jobs] == [{"stub": 7}, {"i": 8}]


def test_send_request_and_get_all_responses(echo_client: Client) -> None:
    """The low-level send_request/get_all_responses pair yields stubbed, mixed and real jobs."""
    with stub_action("echo", "echo2", body={"stub": True}):
        ids = [
            echo_client.send_request("echo", [{"action": "echo2"}]),
            echo_client.send_request("echo", [{"action": "echo", "body": {"r": 1}}, {"action": "echo2"}]),
            echo_client.send_request("echo", [{"action": "echo", "body": {"r": 2}}]),
        ]
        responses = dict(echo_client.get_all_responses("echo"))
    assert sorted(responses) == sorted(ids)
    assert [a.body for a in responses[ids[0]].actions] == [{"stub": True}]
    assert [a.body for a in responses[ids[1]].actions] == [{"r": 1}, {"stub": True}]
    assert [a.body for a in responses[ids[2]].actions] == [{"r": 2}]


def test_suppressed_responses_still_call_the_stub(echo_client: Client) -> None:
    """With suppress_response the stub is called and nothing waits for a reply."""
    with stub_action("echo", "echo") as stub:
        assert echo_client.call_action("echo", "echo", {"x": 1}, suppress_response=True) is None
    assert stub.call_body == {"x": 1}


def test_latest_stub_wins_and_stopping_restores(echo_client: Client) -> None:
    """Nested stubs of one action: the inner one answers until stopped; afterwards the methods are original."""
    original = ServiceHandler.__dict__["send_request"]
    outer = stub_action("echo", "echo", body={"who": "outer"})
    outer.start()
    with stub_action("echo", "echo", body={"who": "inner"}):
        assert echo_client.call_action("echo", "echo").body == {"who": "inner"}
    assert echo_client.call_action("echo", "echo").body == {"who": "outer"}
    outer.stop()
    outer.stop()
    assert ServiceHandler.__dict__["send_request"] is original
    assert echo_client.call_action("echo", "echo", {"real": 1}).body == {"real": 1}


def test_start_is_idempotent() -> None:
    """Starting an active stub returns the same mock."""
    stub = stub_action("echo", "echo")
    try:
        assert stub.start() is stub.start()
        assert stub.enabled
    finally:
        stub.stop()
    assert not stub.enabled


def test_exit_without_arguments_stops_the_stub_as_a_cleanup(echo_client: Client) -> None:
    """__exit__() takes optional arguments, so addCleanup(stub.__exit__) stops the stub later."""

    stub = stub_action("echo", "echo", body={"stubbed": True})

    class Case(unittest.TestCase):
        def test_stubbed(self) -> None:
            stub.__enter__()
            self.addCleanup(stub.__exit__)
            assert echo_client.call_action("echo", "echo").body == {"stubbed": True}

    result = unittest.TestResult()
    try:
        Case("test_stubbed").run(result)
        assert not stub.enabled
    finally:
        stub.stop()  # without the fix the cleanup fails and would leave the stub active for later tests
    assert result.errors == [] and result.failures == []
    assert echo_client.call_action("echo", "echo", {"real": 1}).body == {"real": 1}


@stub_action("echo", "echo", body={"first": True})
@stub_action("echo", "echo2", body={"second": True})
def test_stacked_decorators_pass_mocks_bottom_up(echo2: Any, echo: Any) -> None:
    """Like mock.patch, the decorator nearest the function gives the first mock."""
    assert echo._mock_name == "echo.echo"
    assert echo2._mock_name == "echo.echo2"


@mock.patch("pysoa_like.test._stub_action.threading")
@stub_action("echo", "echo")
@mock.patch("pysoa_like.test._stub_action.inspect")
def test_mixes_with_mock_patch(inspect_mock: Any, echo: Any, threading_mock: Any) -> None:
    """stub_action and mock.patch decorators share one ordered list of mocks."""
    assert isinstance(echo, StubActionMock)
    assert not isinstance(inspect_mock, StubActionMock)
    assert not isinstance(threading_mock, StubActionMock)


@stub_action("echo", "echo", body={"cls": True})
class TestClassDecorator:
    """A class decorator stubs every test method and passes the mock last."""

    def test_method(self, stub: Any, echo_client: Client) -> None:
        """The stub is active during the method and fixtures still arrive."""
        assert echo_client.call_action("echo", "echo").body == {"cls": True}
        assert stub.call_count == 1

    @stub_action("echo", "echo2")
    def test_with_method_decorator(self, echo2: Any, echo: Any) -> None:
        """Method decorators come before the class decorator's mock."""
        assert echo2._mock_name == "echo.echo2"
        assert echo._mock_name == "echo.echo"


def test_async_functions_can_be_decorated(echo_client: Client) -> None:
    """A decorated coroutine function is awaited with the stub active."""

    @stub_action("echo", "echo", body={"async": True})
    async def check(stub: Any) -> Any:
        return echo_client.call_action("echo", "echo").body, stub.call_count

    assert asyncio.run(check()) == ({"async": True}, 1)


def test_contracts_are_recorded_unless_disabled(echo_client: Client) -> None:
    """Requests and successful responses are recorded per stub flag; reset empties both lists."""
    reset_stubbed_contracts()
    with stub_action("echo", "echo", body={"out": 1}):
        echo_client.call_action("echo", "echo", {"in": 1})
    with stub_action("echo", "echo", register_request_schema_contract=False, register_response_schema_contract=False):
        echo_client.call_action("echo", "echo", {"in": 2})
    assert get_stubbed_requests() == [{"service": "echo", "action": "echo", "body": {"in": 1}}]
    assert get_stubbed_responses() == [{"service": "echo", "action": "echo", "body": {"out": 1}}]
    reset_stubbed_contracts()
    assert get_stubbed_requests() == get_stubbed_responses() == []
