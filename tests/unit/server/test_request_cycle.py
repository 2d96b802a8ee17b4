"""The job pipeline: validation, dispatch, error mapping and middleware (PROTOCOL.md sections 7 and 8)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import attr

from pysoa_like.common.errors import Error
from pysoa_like.common.fields import Dictionary, Integer
from pysoa_like.common.transport.base import ReceivedMeta
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse, job_response_to_dict
from pysoa_like.server._request_cycle import empty_job_response
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.middleware import ServerMiddleware
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedJobRequest
from tests.unit.server._helpers import job, make_server, serve


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return dict(request.body)


class FailsWithActionError(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise ActionError([Error(code="NOPE", message="no", field="x")])


class FailsWithJobError(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise JobError([Error(code="JOB_NOPE", message="the job failed")])


class Explodes(Action):
    def run(self, request: Any) -> dict[str, Any]:
        raise ValueError("kaboom")


class BadResponse(Action):
    response_schema = Dictionary({"n": Integer()})

    def run(self, request: Any) -> dict[str, Any]:
        return {"n": "not an int"}


ACTIONS = {
    "echo": Echo,
    "action_error": FailsWithActionError,
    "job_error": FailsWithJobError,
    "explodes": Explodes,
    "bad_response": BadResponse,
}


def test_missing_correlation_id_is_a_job_error_with_pysoa_shape() -> None:
    """A missing context key gives PySOA's exact job-level MISSING error with an empty context and no actions."""
    body = job("echo")
    del body["context"]["correlation_id"]
    response = serve(make_server(ACTIONS), body)
    assert response == {
        "errors": [
            {
                "code": "MISSING",
                "message": "Missing key: correlation_id",
                "field": "context.correlation_id",
                "traceback": None,
                "variables": None,
                "denied_permissions": None,
                "is_caller_error": False,
            }
        ],
        "context": {},
        "actions": [],
    }


def test_extra_top_level_key_and_empty_actions_give_unknown_and_invalid() -> None:
    """Extra keys are UNKNOWN with no field and an empty action list is INVALID on ``actions``."""
    body = job()
    body["extra"] = 1
    errors = serve(make_server(ACTIONS), body)["errors"]
    assert {(e["code"], e["message"], e["field"]) for e in errors} == {
        ("INVALID", "List is shorter than 1", "actions"),
        ("UNKNOWN", "Extra keys present: extra", None),
    }
    assert all(e["is_caller_error"] is False for e in errors)


def test_non_integer_switch_is_invalid_on_its_pointer() -> None:
    """A non-integer switch is reported as INVALID on ``context.switches.0``."""
    errors = serve(make_server(ACTIONS), job("echo", context={"switches": ["a"]}))["errors"]
    assert [(e["code"], e["message"], e["field"]) for e in errors] == [
        ("INVALID", "Not an integer", "context.switches.0")
    ]


def test_success_reply_echoes_correlation_id_and_body() -> None:
    """A successful job returns the action body and the correlation id in the response context."""
    response = serve(make_server(ACTIONS), job({"action": "echo", "body": {"a": [1, 2]}}))
    assert response["errors"] == []
    assert response["context"] == {"correlation_id": "cid-1"}
    assert response["actions"] == [{"action": "echo", "errors": [], "body": {"a": [1, 2]}}]


def test_unknown_action_is_an_unknown_caller_error_on_field_action() -> None:
    """An unknown action gives PySOA's UNKNOWN error with field ``action`` and ``is_caller_error`` true."""
    response = serve(make_server(ACTIONS), job("nope"))
    assert response["actions"][0]["errors"] == [
        {
            "code": "UNKNOWN",
            "message": 'The action "nope" was not found on this server.',
            "field": "action",
            "traceback": None,
            "variables": None,
            "denied_permissions": None,
            "is_caller_error": True,
        }
    ]


def test_action_error_becomes_action_errors() -> None:
    """An ``ActionError`` raised by an action becomes that action's errors (caller errors by default)."""
    errors = serve(make_server(ACTIONS), job("action_error"))["actions"][0]["errors"]
    assert [(e["code"], e["field"], e["is_caller_error"]) for e in errors] == [("NOPE", "x", True)]


def test_job_error_from_an_action_fails_the_whole_job() -> None:
    """A ``JobError`` raised by an action becomes job-level errors and drops the action responses."""
    response = serve(make_server(ACTIONS), job("echo", "job_error", control={"continue_on_error": True}))
    assert [e["code"] for e in response["errors"]] == ["JOB_NOPE"]
    assert response["actions"] == []


def test_unexpected_exception_is_a_server_error_with_traceback() -> None:
    """An unexpected exception becomes SERVER_ERROR ``Internal server error: <exc>`` with a traceback."""
    error = serve(make_server(ACTIONS), job("explodes"))["actions"][0]["errors"][0]
    assert error["code"] == "SERVER_ERROR"
    assert error["message"] == "Internal server error: kaboom"
    assert "ValueError: kaboom" in error["traceback"]
    assert error["is_caller_error"] is False


def test_response_schema_failure_is_a_server_error() -> None:
    """A body rejected by the response schema becomes a SERVER_ERROR naming the field and code, as PySOA words it."""
    error = serve(make_server(ACTIONS), job("bad_response"))["actions"][0]["errors"][0]
    assert error["code"] == "SERVER_ERROR"
    assert "bad_response had an invalid response:\n\tn INVALID: Not an integer" in error["message"]


def test_job_stops_after_first_failed_action_without_continue_on_error() -> None:
    """Without ``continue_on_error`` the job stops after the first action with errors."""
    response = serve(make_server(ACTIONS), job("echo", "action_error", "echo"))
    assert [a["action"] for a in response["actions"]] == ["echo", "action_error"]


def test_continue_on_error_runs_every_action() -> None:
    """With ``continue_on_error`` every action runs despite earlier errors."""
    response = serve(make_server(ACTIONS), job("action_error", "explodes", "echo", control={"continue_on_error": True}))
    assert [a["action"] for a in response["actions"]] == ["action_error", "explodes", "echo"]
    assert response["actions"][2]["errors"] == []


class RecordingMiddleware(ServerMiddleware):
    calls: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name

    def job(self, process_job: Any) -> Any:
        def handler(request: Any) -> JobResponse:
            RecordingMiddleware.calls.append(f"{self.name}:job:before")
            response: JobResponse = process_job(request)
            RecordingMiddleware.calls.append(f"{self.name}:job:after")
            response.context["seen_by_" + self.name] = True
            response.context["correlation_id"] = "overwritten"
            return response

        return handler

    def action(self, process_action: Any) -> Any:
        def handler(request: Any) -> ActionResponse:
            RecordingMiddleware.calls.append(f"{self.name}:action:{request.action}")
            return process_action(request)  # type: ignore[no-any-return]

        return handler


def _middleware_settings() -> dict[str, Any]:
    path = f"{__name__}:RecordingMiddleware"
    return {"middleware": [{"path": path, "kwargs": {"name": "outer"}}, {"path": path, "kwargs": {"name": "inner"}}]}


def test_middleware_first_listed_is_outermost() -> None:
    """Job and action middleware wrap in onion order: the first listed sees the request first and the response last."""
    RecordingMiddleware.calls = []
    serve(make_server(ACTIONS, **_middleware_settings()), job("echo", "echo"))
    assert RecordingMiddleware.calls == [
        "outer:job:before",
        "inner:job:before",
        "outer:action:echo",
        "inner:action:echo",
        "outer:action:echo",
        "inner:action:echo",
        "inner:job:after",
        "outer:job:after",
    ]


def test_correlation_id_is_copied_after_job_middleware() -> None:
    """Job middleware may add context keys, but the request's correlation id wins in the response."""
    response = serve(make_server(ACTIONS, **_middleware_settings()), job("echo"))
    assert response["context"] == {"seen_by_inner": True, "seen_by_outer": True, "correlation_id": "cid-1"}


def test_make_middleware_stack_composes_outermost_first() -> None:
    """``make_middleware_stack`` applies the first wrapper last, so it runs first."""
    order: list[str] = []

    def wrapper(name: str) -> Any:
        def wrap(inner: Any) -> Any:
            def run(value: str) -> str:
                order.append(name)
                return str(inner(value)) + name

            return run

        return wrap

    stack = Server.make_middleware_stack([wrapper("a"), wrapper("b")], lambda value: value)
    assert stack("x") == "xba"
    assert order == ["a", "b"]


def test_exception_in_job_middleware_is_a_job_server_error() -> None:
    """An exception raised in job middleware becomes a job-level SERVER_ERROR."""
    server = make_server(ACTIONS)

    def broken(request: Any) -> JobResponse:
        raise RuntimeError("middleware broke")

    server._job_stack = broken
    response = serve(server, job("echo"))
    assert response["errors"][0]["code"] == "SERVER_ERROR"
    assert response["errors"][0]["message"] == "Internal server error: middleware broke"


def test_handle_unhandled_exception_formats_variables_as_reprs() -> None:
    """``handle_unhandled_exception`` builds the requested response type with variable reprs."""
    server = make_server(ACTIONS)
    response = server.handle_unhandled_exception(KeyError("k"), ActionResponse, variables={"a": [1]}, action="x")
    assert response.action == "x"
    assert response.errors[0].variables == {"a": "[1]"}
    assert response.errors[0].message == "Internal server error: 'k'"


def test_missing_service_name_is_a_clear_error() -> None:
    """A server subclass without ``service_name`` cannot be built."""
    server_class = type("Nameless", (Server,), {})
    try:
        server_class({"transport": {"path": "tests.unit.server._helpers:QueueServerTransport"}})
    except AttributeError as exc:
        assert "service_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


class _KeepsTheJob(ServerMiddleware):
    """Keeps the job it is given (for a test to look at), then runs it."""

    seen: ClassVar[list[EnrichedJobRequest]] = []

    def job(self, process_job: Any) -> Any:
        def handler(job_request: EnrichedJobRequest) -> Any:
            _KeepsTheJob.seen.append(job_request)
            return process_job(job_request)

        return handler


def test_job_middleware_receives_a_complete_enriched_job() -> None:
    """The job the job middleware receives equals the one its constructor makes from the request: its headers, its
    actions as ``ActionRequest`` objects, ``run_coroutine`` and the deadline; it has the job's clients, a printable
    form and copies (``attr.evolve``)."""
    _KeepsTheJob.seen = []
    server = make_server(ACTIONS, middleware=[{"path": f"{__name__}:_KeepsTheJob"}])
    request = job("echo", {"action": "echo", "body": {"x": 1}})
    serve(server, request, meta=ReceivedMeta({"__expiry__": time.time() + 30}, (1, 5, 0)))
    (seen,) = _KeepsTheJob.seen
    expected = EnrichedJobRequest(
        control=request["control"],
        context=request["context"],
        actions=[ActionRequest("echo", {}), ActionRequest("echo", {"x": 1})],
        run_coroutine=seen.run_coroutine,
        deadline=seen.deadline,
    )
    assert seen == expected and seen.run_coroutine is not None and seen.deadline is not None
    assert seen.client is not None  # the job's own, made by the server (one made by hand has none)
    assert "EnrichedJobRequest(" in repr(seen)
    assert attr.evolve(seen, context={}) == attr.evolve(expected, context={})


def test_empty_job_response_is_what_the_constructor_makes() -> None:
    """The server's ``empty_job_response()`` (which skips the converters) equals ``JobResponse()``, and each holds
    its own new lists and dict."""
    first, second = empty_job_response(), empty_job_response()
    assert first == JobResponse() == second
    first.actions.append(ActionResponse("a"))
    first.errors.append(Error("X", "m"))
    first.context["k"] = 1
    assert second == JobResponse()
    assert job_response_to_dict(first) == job_response_to_dict(JobResponse(**attr.asdict(first, recurse=False)))
