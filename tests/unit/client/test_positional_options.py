"""Options given by position, in PySOA 1.4.9's order per call method, act as the same options given by keyword."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import Client
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.stub_service import AsyncStubClient, StubClient
from tests.unit.client.conftest import MakeClient, transport_of
from tests.unit.client.test_expansions import EXPANSION_CONFIG, author_service, books

# PySOA 1.4.9's signatures (its pysoa/client/client.py) past self: the arguments a test gives first, then the options
# in PySOA's order. Written out here, not read from the code under test.
ACTION_OPTIONS = [
    "expansions",
    "raise_job_errors",
    "raise_action_errors",
    "timeout",
    "switches",
    "correlation_id",
    "context",
    "control_extra",
]
ACTIONS_OPTIONS = [*ACTION_OPTIONS[:6], "continue_on_error", "context", "control_extra"]
PARALLEL_ACTIONS_OPTIONS = [*ACTION_OPTIONS[:3], "catch_transport_errors", *ACTION_OPTIONS[3:]]
JOBS_OPTIONS = [*PARALLEL_ACTIONS_OPTIONS[:7], "continue_on_error", "context", "control_extra"]

ONE_ACTION = ("echo", "echo", {"n": 1})
ACTIONS = ("echo", [{"action": "echo", "body": {"n": 1}}])
JOBS = ([{"service_name": "echo", "actions": [{"action": "echo", "body": {"n": 1}}]}],)

# method -> (its leading arguments, PySOA's options after them, the message of one argument too many)
METHODS: dict[str, tuple[tuple[Any, ...], list[str], str]] = {
    "call_action": (ONE_ACTION, ACTION_OPTIONS, "takes from 3 to 12 positional arguments but 13 were given"),
    "call_action_future": (ONE_ACTION, ACTION_OPTIONS, "takes from 3 to 12 positional arguments but 13 were given"),
    "call_actions": (ACTIONS, ACTIONS_OPTIONS, "takes from 3 to 12 positional arguments but 13 were given"),
    "call_actions_future": (ACTIONS, ACTIONS_OPTIONS, "takes from 3 to 12 positional arguments but 13 were given"),
    "call_actions_parallel": (
        ACTIONS,
        PARALLEL_ACTIONS_OPTIONS,
        "takes from 3 to 12 positional arguments but 13 were given",
    ),
    "call_actions_parallel_future": (
        ACTIONS,
        PARALLEL_ACTIONS_OPTIONS,
        "takes from 3 to 12 positional arguments but 13 were given",
    ),
    "call_jobs_parallel": (JOBS, JOBS_OPTIONS, "takes from 2 to 12 positional arguments but 13 were given"),
    "call_jobs_parallel_future": (JOBS, JOBS_OPTIONS, "takes from 2 to 12 positional arguments but 13 were given"),
}

# A value for every option, none of them its default but expansions (tested on its own).
OPTION_VALUES: dict[str, Any] = {
    "expansions": None,
    "raise_job_errors": True,
    "raise_action_errors": True,
    "catch_transport_errors": False,
    "timeout": 7,
    "switches": [3, 5],
    "correlation_id": "by-position",
    "continue_on_error": True,
    "context": {"who": "caller"},
    "control_extra": {"extra": 1},
}


def call(client: Client, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``method`` and return what its blocking form returns (a future's result, a generator as a list)."""
    result = getattr(client, method)(*args, **kwargs)
    if method.endswith("_future"):
        result = result.result()
    return list(result) if method.startswith("call_actions_parallel") else result


def first_result(method: str, result: Any) -> Any:
    """A call's result for its first (or only) job or action: a parallel call's first item."""
    return result[0] if "parallel" in method else result


def by_position(method: str, count: int | None = None) -> tuple[Any, ...]:
    """The leading arguments of ``method``, then the first ``count`` (default: all) options by position."""
    leading, names, _message = METHODS[method]
    return (*leading, *(OPTION_VALUES[name] for name in names[:count]))


def by_keyword(method: str, count: int | None = None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The same call as :func:`by_position`, its options by keyword."""
    leading, names, _message = METHODS[method]
    return leading, {name: OPTION_VALUES[name] for name in names[:count]}


def sent_job(client: Client) -> tuple[dict[str, Any], dict[str, Any], float | None]:
    """The control and context headers, and the expiry, of the last job sent to ``echo``."""
    _request_id, _meta, body, expiry = transport_of(client).sent[-1]
    return body["control"], body["context"], expiry


def job_error_responder(body: dict[str, Any]) -> dict[str, Any]:
    return {"errors": [{"code": "JOB_BROKE", "message": "the job failed"}], "context": body["context"], "actions": []}


def action_error_responder(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "errors": [],
        "context": body["context"],
        "actions": [
            {"action": a["action"], "errors": [{"code": "NOPE", "message": "failed"}], "body": {}}
            for a in body["actions"]
        ],
    }


@pytest.mark.parametrize("method", list(METHODS))
def test_every_option_by_position_sends_the_job_the_same_options_by_keyword_send(
    make_client: MakeClient, method: str
) -> None:
    """All of PySOA's options by position, in its order, give the job the headers and expiry they give by keyword."""
    client = make_client()
    leading, keywords = by_keyword(method)
    call(client, method, *leading, **keywords)
    control, context, expiry = sent_job(client)

    call(client, method, *by_position(method))

    assert sent_job(client) == (control, context, expiry)
    assert expiry == 7
    assert control["timeout"] == 7
    assert control["extra"] == 1
    assert context["switches"] == [3, 5]
    assert context["correlation_id"] == "by-position"
    assert context["who"] == "caller"
    assert control["continue_on_error"] is ("continue_on_error" in METHODS[method][1])


@pytest.mark.parametrize("method", list(METHODS))
def test_raise_job_errors_false_by_position_returns_the_job_errors(make_client: MakeClient, method: str) -> None:
    """``(expansions, raise_job_errors)`` = ``(None, False)`` returns a failed job's errors instead of raising."""
    client = make_client({"echo": {"responder": job_error_responder}})

    result = call(client, method, *by_position(method, 1), False)

    job_errors = first_result(method, result)
    errors = job_errors.errors if isinstance(job_errors, JobResponse) else job_errors
    assert [error.code for error in errors] == ["JOB_BROKE"]


@pytest.mark.parametrize("method", list(METHODS))
def test_raise_action_errors_false_by_position_returns_the_failed_actions(make_client: MakeClient, method: str) -> None:
    """The third option, ``raise_action_errors=False``, returns the actions with their errors instead of raising."""
    client = make_client({"echo": {"responder": action_error_responder}})

    result = call(client, method, *by_position(method, 2), False)

    first = first_result(method, result)
    action = first.actions[0] if isinstance(first, JobResponse) else first
    assert isinstance(action, ActionResponse)
    assert [error.code for error in action.errors] == ["NOPE"]


@pytest.mark.parametrize(
    "method",
    ["call_actions_parallel", "call_actions_parallel_future", "call_jobs_parallel", "call_jobs_parallel_future"],
)
def test_catch_transport_errors_by_position_returns_the_send_error_in_place(
    make_client: MakeClient, method: str
) -> None:
    """A parallel call's fourth option, ``catch_transport_errors=True``, puts the send error in place of the reply."""
    client = make_client({"echo": {"fail_sends": True}})

    result = call(client, method, *by_position(method, 3), True)

    assert [type(item) for item in result] == [MessageSendError]


@pytest.mark.parametrize("method", ["call_action", "call_actions_future", "call_jobs_parallel"])
def test_timeout_by_position_bounds_the_wait_for_the_reply(make_client: MakeClient, method: str) -> None:
    """The ``timeout`` given by position is the wait for the reply (the fake's default is no timeout at all)."""
    client = make_client({"echo": {"responder": lambda body: None}})
    names = METHODS[method][1]
    before_timeout = by_position(method, names.index("timeout"))

    with pytest.raises(MessageReceiveTimeout):
        call(client, method, *before_timeout, 7)

    waits = transport_of(client).receive_timeouts
    assert waits
    assert all(wait is not None and 0 < wait <= 7 for wait in waits)


@pytest.mark.parametrize("method", ["call_action", "call_action_future", "call_jobs_parallel_future"])
def test_expansions_by_position_are_performed(make_client: MakeClient, method: str) -> None:
    """The first option, ``expansions``, expands the response as ``expansions=`` does."""
    client = make_client({"books": {}, "authors": {"responder": author_service}}, expansion_config=EXPANSION_CONFIG)
    leading: tuple[Any, ...] = (
        ([{"service_name": "books", "actions": [{"action": "list", "body": books(1)}]}],)
        if method.startswith("call_jobs")
        else ("books", "list", books(1))
    )

    result = call(client, method, *leading, {"book": ["author"]})

    first = first_result(method, result)
    action = first.actions[0] if isinstance(first, JobResponse) else first
    assert action.body["books"][0]["author"]["name"] == "Ann"


@pytest.mark.parametrize("method", list(METHODS))
def test_more_options_by_position_than_pysoa_took_is_a_type_error_naming_the_method(
    make_client: MakeClient, method: str
) -> None:
    """One positional argument past PySOA's signature: Python's own message for it, and nothing is sent."""
    client = make_client()

    with pytest.raises(TypeError) as caught:
        call(client, method, *by_position(method), "one too many")

    assert str(caught.value) == f"Client.{method}() {METHODS[method][2]}"
    assert transport_of(client).sent == []


@pytest.mark.parametrize("method", list(METHODS))
def test_an_option_by_position_and_by_keyword_is_a_type_error_naming_it(make_client: MakeClient, method: str) -> None:
    """``raise_job_errors`` both by position and by keyword: Python's "multiple values" message, nothing sent."""
    client = make_client()

    with pytest.raises(TypeError) as caught:
        call(client, method, *by_position(method, 2), raise_job_errors=False)

    assert str(caught.value) == f"Client.{method}() got multiple values for argument 'raise_job_errors'"
    assert transport_of(client).sent == []


def test_a_pysoa_style_future_override_gets_the_options_given_by_position(make_client: MakeClient) -> None:
    """A subclass replacing call_action_future with PySOA's signature gets by name what call_action got by position."""
    received: list[dict[str, Any]] = []

    class PySOAStyleClient(Client):
        def call_action_future(  # type: ignore[override]
            self,
            service_name: str,
            action: str,
            body: dict[str, Any] | None = None,
            expansions: Any = None,
            raise_job_errors: bool = True,
            raise_action_errors: bool = True,
            timeout: float | None = None,
            **rest: Any,
        ) -> Any:
            received.append({"raise_job_errors": raise_job_errors, "timeout": timeout})
            return super().call_action_future(
                service_name,
                action,
                body,
                expansions=expansions,
                raise_job_errors=raise_job_errors,
                raise_action_errors=raise_action_errors,
                timeout=timeout,
                **rest,
            )

    client = PySOAStyleClient(make_client().config)

    client.call_action("echo", "echo", {}, None, False, True, 7)

    assert received == [{"raise_job_errors": False, "timeout": 7}]


def test_stub_client_takes_options_by_position_as_client_does() -> None:
    """StubClient shares Client's call methods: raise_action_errors=False by position, and the same TypeErrors."""
    client = StubClient({"user": {"get_user": {"errors": [{"code": "DENIED", "message": "No"}]}}})

    denied = client.call_action("user", "get_user", {}, None, True, False)
    jobs = client.call_jobs_parallel([{"service_name": "user", "actions": [{"action": "get_user"}]}], None, True, False)

    assert [error.code for error in denied.errors] == ["DENIED"]
    assert [error.code for error in jobs[0].actions[0].errors] == ["DENIED"]
    with pytest.raises(TypeError, match=r"^Client\.call_action\(\) got multiple values for argument 'expansions'$"):
        client.call_action("user", "get_user", {}, None, expansions=None)


AsyncCall = Callable[[AsyncClient], Any]


@pytest.mark.parametrize(
    "make_call",
    [
        lambda client: client.call_action("user", "get_user", {}, None, True, False),
        lambda client: client.call_actions("user", [{"action": "get_user"}], None, True, False),
        lambda client: client.call_actions_parallel("user", [{"action": "get_user"}], None, True, False),
        lambda client: client.call_jobs_parallel(
            [{"service_name": "user", "actions": [{"action": "get_user"}]}], None, True, False
        ),
    ],
    ids=["call_action", "call_actions", "call_actions_parallel", "call_jobs_parallel"],
)
def test_async_client_takes_options_by_position_in_clients_order(make_call: AsyncCall) -> None:
    """AsyncClient's calls take options by position in Client's (PySOA's) order: raise_action_errors=False here."""
    client = AsyncStubClient({"user": {"get_user": {"errors": [{"code": "DENIED", "message": "No"}]}}})

    async def run() -> Any:
        try:
            return await make_call(client)
        finally:
            await client.aclose()

    result = asyncio.run(run())

    first = next(iter(result)) if not isinstance(result, ActionResponse | JobResponse) else result
    action = first.actions[0] if isinstance(first, JobResponse) else first
    assert [error.code for error in action.errors] == ["DENIED"]


def test_async_client_refuses_too_many_options_by_position_naming_the_method() -> None:
    """One positional argument past PySOA's call_action: the TypeError names AsyncClient.call_action."""
    client = AsyncStubClient({"user": {"get_user": {"body": {}}}})
    too_many = (None, True, True, None, None, None, None, None, "one too many")

    async def run() -> Any:
        try:
            return await client.call_action("user", "get_user", {}, *too_many)
        finally:
            await client.aclose()

    with pytest.raises(TypeError) as caught:
        asyncio.run(run())

    assert str(caught.value) == "AsyncClient.call_action() takes from 3 to 12 positional arguments but 13 were given"
