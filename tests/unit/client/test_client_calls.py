"""Tests for the Client call family: construction, return values, errors, headers and timeouts."""

from __future__ import annotations

import inspect
import logging
import types
from typing import Any
from unittest.mock import ANY

import pytest

from pysoa_like.client.async_client import AsyncClient
from pysoa_like.client.client import CallOptions, Client, ServiceHandler
from pysoa_like.client.errors import CallActionError, CallJobError, ImproperlyConfigured
from pysoa_like.client.middleware import ClientMiddleware, SendRequestCallable
from pysoa_like.common.errors import Error
from pysoa_like.common.settings import SettingsError
from pysoa_like.common.transport.errors import MessageReceiveTimeout, MessageSendError
from pysoa_like.common.types import ActionRequest, ActionResponse, JobResponse
from tests.unit.client.conftest import MakeClient, transport_of
from tests.unit.client.fakes import FakeClientTransport, transport_config


def failing_responder(body: dict[str, Any]) -> dict[str, Any]:
    """Fail every action named 'bad' and every job containing an action named 'crash'."""
    if any(a["action"] == "crash" for a in body["actions"]):
        return {"errors": [{"code": "SERVER_ERROR", "message": "boom"}], "context": {}, "actions": []}
    return {
        "errors": [],
        "context": {},
        "actions": [
            {
                "action": a["action"],
                "errors": [{"code": "INVALID", "message": "nope", "field": "x"}] if a["action"] == "bad" else [],
                "body": a["body"],
            }
            for a in body["actions"]
        ],
    }


def test_client_class_attributes_and_aliases() -> None:
    """Client exposes PySOA's class attributes and exception aliases."""
    from pysoa_like.client.settings import ClientSettings

    assert Client.settings_class is ClientSettings
    assert Client.handler_class is ServiceHandler
    assert Client.CallActionError is CallActionError
    assert Client.JobError is CallJobError


def test_settings_are_validated_eagerly() -> None:
    """A bad service config fails when the Client is built, not on first call."""
    with pytest.raises(SettingsError):
        Client({"echo": {"transport": {"path": "no.such.module:Nothing"}}})


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
@pytest.mark.parametrize("config", [["calculator"], "calculator", 5])
def test_a_config_that_is_not_a_mapping_is_a_settings_error_saying_what_is_expected(
    client_class: type[Any], config: Any
) -> None:
    """``Client(["calculator"])`` (or the asyncio client) raises SettingsError asking for a dict of service name ->
    settings, not an AttributeError about ``items``."""
    with pytest.raises(SettingsError, match="expected a dict of service name -> client settings") as failure:
        client_class(config)
    assert type(config).__name__ in str(failure.value)


def test_unknown_service_raises_improperly_configured(make_client: MakeClient) -> None:
    """Calling a service with no settings raises ImproperlyConfigured."""
    with pytest.raises(ImproperlyConfigured, match="other"):
        make_client().call_action("other", "a")


def test_non_string_service_name_raises_value_error(make_client: MakeClient) -> None:
    """A non-str service name raises ValueError."""
    with pytest.raises(ValueError):
        make_client().call_action(b"echo", "a")  # type: ignore[arg-type]


def test_handlers_are_created_lazily_once_per_service(make_client: MakeClient) -> None:
    """No handler exists before the first call, and the same one is reused afterwards."""
    client = make_client()
    assert client.handlers == {}
    client.call_action("echo", "a")
    handler = client.handlers["echo"]
    client.call_action("echo", "b")
    assert client.handlers["echo"] is handler


def test_call_action_returns_the_action_response(make_client: MakeClient) -> None:
    """call_action returns the single ActionResponse; body defaults to {}."""
    client = make_client()
    assert client.call_action("echo", "a", {"x": 1}) == ActionResponse(action="a", body={"x": 1})
    assert client.call_action("echo", "b").body == {}


def test_call_action_raises_action_errors(make_client: MakeClient) -> None:
    """An action error raises CallActionError holding the failed action."""
    client = make_client({"echo": {"responder": failing_responder}})
    with pytest.raises(CallActionError) as info:
        client.call_action("echo", "bad")
    assert [a.action for a in info.value.actions] == ["bad"]


def test_call_action_can_return_action_errors(make_client: MakeClient) -> None:
    """raise_action_errors=False returns the failed ActionResponse."""
    client = make_client({"echo": {"responder": failing_responder}})
    response = client.call_action("echo", "bad", raise_action_errors=False)
    assert response.errors[0].code == "INVALID"


def test_call_action_job_errors_raise_or_return_the_error_list(make_client: MakeClient) -> None:
    """Job errors raise CallJobError, or with raise_job_errors=False come back as the list of Errors."""
    client = make_client({"echo": {"responder": failing_responder}})
    with pytest.raises(CallJobError) as info:
        client.call_action("echo", "crash")
    assert info.value.errors[0].code == "SERVER_ERROR"
    returned = client.call_action("echo", "crash", raise_job_errors=False)
    assert returned == [Error(code="SERVER_ERROR", message="boom")]  # type: ignore[comparison-overlap]


def test_call_actions_returns_job_response_and_sends_continue_on_error(make_client: MakeClient) -> None:
    """call_actions sends one job with every action and returns its JobResponse."""
    client = make_client()
    response = client.call_actions(
        "echo", [ActionRequest("a"), {"action": "b", "body": {"y": 2}}], continue_on_error=True
    )
    assert isinstance(response, JobResponse)
    assert [a.action for a in response.actions] == ["a", "b"]
    body = transport_of(client).sent[0][2]
    assert body["control"]["continue_on_error"] is True
    assert len(transport_of(client).sent) == 1


def test_call_actions_with_job_errors_unraised_returns_response(make_client: MakeClient) -> None:
    """raise_job_errors=False makes call_actions return the JobResponse carrying the errors."""
    client = make_client({"echo": {"responder": failing_responder}})
    assert client.call_actions("echo", [{"action": "crash"}], raise_job_errors=False).errors[0].message == "boom"


def test_call_actions_parallel_is_a_generator_in_input_order(make_client: MakeClient) -> None:
    """Replies arriving in reverse order still come out in input order, from a generator."""
    client = make_client({"echo": {"hold": True}})
    future = client.call_actions_parallel_future("echo", [{"action": "a"}, {"action": "b"}, {"action": "c"}])
    transport_of(client).release([2, 1, 0])
    result = future.result()
    assert isinstance(result, types.GeneratorType)
    assert [r.action for r in result] == ["a", "b", "c"]


def test_call_actions_parallel_yields_error_lists_when_not_raising(make_client: MakeClient) -> None:
    """With raise_job_errors=False, a failed job yields its Error list in place."""
    client = make_client({"echo": {"responder": failing_responder}})
    results = list(client.call_actions_parallel("echo", [{"action": "a"}, {"action": "crash"}], raise_job_errors=False))
    assert results[0].action == "a"
    assert results[1] == [Error(code="SERVER_ERROR", message="boom")]  # type: ignore[comparison-overlap]


def test_call_actions_parallel_raises_every_failed_action(make_client: MakeClient) -> None:
    """CallActionError lists the failed actions of every parallel job."""
    client = make_client({"echo": {"responder": failing_responder}})
    with pytest.raises(CallActionError) as info:
        client.call_actions_parallel("echo", [{"action": "bad"}, {"action": "ok"}, {"action": "bad"}])
    assert len(info.value.actions) == 2


def test_call_jobs_parallel_across_services_in_input_order(make_client: MakeClient) -> None:
    """Jobs for different services come back as a list in input order."""
    client = make_client({"one": {"hold": True}, "two": {}})
    future = client.call_jobs_parallel_future(
        [
            {"service_name": "one", "actions": [{"action": "a1"}]},
            {"service_name": "two", "actions": [{"action": "b1"}, {"action": "b2"}]},
        ]
    )
    transport_of(client, "one").release()
    result = future.result()
    assert isinstance(result, list)
    assert [[a.action for a in r.actions] for r in result] == [["a1"], ["b1", "b2"]]


def test_catch_transport_errors_puts_send_errors_in_place(make_client: MakeClient) -> None:
    """A send failure appears in place of its job's response with catch_transport_errors."""
    client = make_client({"good": {}, "bad": {"fail_sends": True}})
    jobs = [
        {"service_name": "bad", "actions": [{"action": "x"}]},
        {"service_name": "good", "actions": [{"action": "y"}]},
    ]
    result: list[Any] = client.call_jobs_parallel(jobs, catch_transport_errors=True)
    assert isinstance(result[0], MessageSendError)
    assert result[1].actions[0].action == "y"
    with pytest.raises(MessageSendError):
        client.call_jobs_parallel(jobs)


def test_catch_transport_errors_puts_receive_timeouts_in_place(make_client: MakeClient) -> None:
    """A job whose reply never comes yields its MessageReceiveTimeout in place."""
    client = make_client(
        {
            "echo": {
                "responder": lambda body: None if body["actions"][0]["action"] == "lost" else failing_responder(body)
            }
        }
    )
    results: list[Any] = list(
        client.call_actions_parallel(
            "echo", [{"action": "lost"}, {"action": "ok"}], catch_transport_errors=True, timeout=1
        )
    )
    assert isinstance(results[0], MessageReceiveTimeout)
    assert results[1].action == "ok"


def test_timeout_sets_expiry_control_and_receive_wait(make_client: MakeClient) -> None:
    """timeout=2.5 becomes the message expiry, control.timeout=3 and the receive wait."""
    client = make_client()
    client.call_action("echo", "a", timeout=2.5)
    transport = transport_of(client)
    _rid, _meta, body, expiry = transport.sent[0]
    assert expiry == 2.5
    assert body["control"]["timeout"] == 3
    assert 0 < transport.receive_timeouts[0] <= 2.5


def test_no_timeout_uses_transport_defaults(make_client: MakeClient) -> None:
    """Without a timeout, no expiry, no control.timeout and no receive wait are passed."""
    client = make_client()
    client.call_action("echo", "a")
    transport = transport_of(client)
    assert transport.sent[0][3] is None
    assert "timeout" not in transport.sent[0][2]["control"]
    assert transport.receive_timeouts == [None]


def test_message_expiry_overrides_timeout_for_the_expiry(make_client: MakeClient) -> None:
    """message_expiry_in_seconds is used as the expiry when given."""
    client = make_client()
    client.call_action("echo", "a", timeout=2, message_expiry_in_seconds=9)
    assert transport_of(client).sent[0][3] == 9


def test_headers_from_base_context_arguments_and_control_extra(make_client: MakeClient) -> None:
    """Base context, correlation id, switches, extra context and control_extra all reach the wire."""
    client = make_client(context={"switches": [1], "auth": "tok", "correlation_id": "base-cid"})
    client.call_action("echo", "a", switches=[2], context={"switches": [3], "locale": "fr"}, control_extra={"foo": 1})
    body = transport_of(client).sent[0][2]
    assert body["context"] == {"switches": [1, 2, 3], "auth": "tok", "correlation_id": "base-cid", "locale": "fr"}
    assert body["control"] == {"continue_on_error": False, "suppress_response": False, "foo": 1}


def test_parallel_jobs_all_get_switches_and_context_is_not_mutated(make_client: MakeClient) -> None:
    """Every parallel job carries the context switches and the caller's dict is unchanged (PySOA bug 5)."""
    client = make_client()
    context = {"switches": [5, 6], "x": 1}
    list(client.call_actions_parallel("echo", [{"action": "a"}, {"action": "b"}, {"action": "c"}], context=context))
    assert context == {"switches": [5, 6], "x": 1}
    sent = transport_of(client).sent
    assert [body["context"]["switches"] for _, _, body, _ in sent] == [[5, 6]] * 3
    assert len({body["context"]["correlation_id"] for _, _, body, _ in sent}) == 1


def test_send_request_and_get_all_responses(make_client: MakeClient) -> None:
    """send_request returns the id that get_all_responses later yields with the JobResponse."""
    client = make_client()
    first = client.send_request("echo", [{"action": "a"}])
    second = client.send_request("echo", [{"action": "b"}], message_expiry_in_seconds=4)
    responses = dict(client.get_all_responses("echo"))
    assert set(responses) == {first, second}
    assert responses[second].actions[0].action == "b"
    assert transport_of(client).sent[1][3] == 4


def test_suppress_response_returns_none_without_waiting(make_client: MakeClient) -> None:
    """With suppress_response the call sends the flag and returns None at once."""
    client = make_client()
    assert client.call_action("echo", "a", suppress_response=True) is None
    assert transport_of(client).sent[0][2]["control"]["suppress_response"] is True
    assert transport_of(client).receive_timeouts == []


def test_future_send_errors_are_raised_at_once(make_client: MakeClient) -> None:
    """A future raises a send error when created, not on result()."""
    client = make_client({"echo": {"fail_sends": True}})
    with pytest.raises(MessageSendError):
        client.call_action_future("echo", "a")


_PYSOA_DEFAULTS = {
    "expansions": None,
    "raise_job_errors": True,
    "raise_action_errors": True,
    "catch_transport_errors": False,
    "timeout": None,
    "switches": None,
    "correlation_id": None,
    "continue_on_error": False,
    "context": None,
    "control_extra": None,
    "message_expiry_in_seconds": None,
    "suppress_response": False,
}


def test_call_keywords_have_pysoa_defaults() -> None:
    """The call options and send_request's keywords default to PySOA's values."""
    options = inspect.signature(CallOptions).parameters
    send = inspect.signature(Client.send_request).parameters
    defaults = {name: (options[name] if name in options else send[name]).default for name in _PYSOA_DEFAULTS}
    assert defaults == _PYSOA_DEFAULTS


def test_every_call_method_takes_every_pysoa_keyword(make_client: MakeClient) -> None:
    """Each call method accepts every PySOA keyword (at its default), and refuses a keyword none takes."""
    client = make_client()
    single = {name: value for name, value in _PYSOA_DEFAULTS.items() if name != "catch_transport_errors"}
    assert client.call_action("echo", "a", {"n": 1}, **single).body == {"n": 1}
    assert client.call_actions("echo", [{"action": "a"}], **single).actions[0].action == "a"
    assert client.call_action_future("echo", "a", **single).result().action == "a"
    assert [r.action for r in client.call_actions_parallel("echo", [{"action": "a"}], **_PYSOA_DEFAULTS)] == ["a"]
    jobs = [{"service_name": "echo", "actions": [{"action": "b"}]}]
    assert [j.actions[0].action for j in client.call_jobs_parallel(jobs, **_PYSOA_DEFAULTS)] == ["b"]
    with pytest.raises(TypeError, match="no_such_option"):
        client.call_action("echo", "a", no_such_option=1)  # type: ignore[call-arg]


def test_failed_parallel_send_forgets_jobs_already_sent(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """When a later job of a parallel call cannot be sent, the replies of earlier jobs are dropped, not kept."""
    client = make_client({"good": {}, "bad": {"fail_sends": True}})
    jobs = [
        {"service_name": "good", "actions": [{"action": "y"}]},
        {"service_name": "bad", "actions": [{"action": "x"}]},
    ]
    with pytest.raises(MessageSendError):
        client.call_jobs_parallel(jobs)
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        assert client.call_action("good", "z").action == "z"
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dropped a reply")] == [
        "Dropped a reply from service good for request "
        + f"{client.handlers['good'].request_counter - 2} that no call is waiting for (late or duplicate)"
    ]


class _AnswerEveryJobClient(Client):
    """Takes ``suppress_response`` off every job it sends: the service answers even a call that asked for no reply."""

    def send_request(self, service_name: str, actions: Any, **kwargs: Any) -> int:  # type: ignore[override]
        kwargs.pop("suppress_response", None)
        return super().send_request(service_name, actions, **kwargs)


def test_reply_to_a_call_that_asked_for_none_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """A call method's job awaits a reply as its options say: an unasked reply is dropped, never kept or returned."""
    # Given a send_request that makes the service answer a call made with suppress_response
    client = _AnswerEveryJobClient({"echo": {"transport": transport_config(FakeClientTransport)}})
    assert client.call_action("echo", "quiet", suppress_response=True) is None
    # When the next call reads the reply channel
    with caplog.at_level(logging.INFO, logger="pysoa_like.client"):
        assert client.call_action("echo", "loud").action == "loud"
    # Then the unasked reply was dropped on the way
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("Dropped a reply")] == [
        "Dropped a reply from service echo for request "
        + f"{client.handlers['echo'].request_counter - 2} that no call is waiting for (late or duplicate)"
    ]


def _outcome(call: Any) -> Any:
    """What a call returned, or the type and details of what it raised."""
    try:
        result = call()
    except (CallActionError, CallJobError) as exc:
        return type(exc), getattr(exc, "actions", None), getattr(exc, "errors", None)
    if isinstance(result, JobResponse):
        return result.errors, result.actions  # the context holds a fresh correlation id per call
    return result


@pytest.mark.parametrize(
    ("actions", "kwargs"),
    [
        ([{"action": "a", "body": {"x": 1}}], {}),
        ([{"action": "bad", "body": {}}], {}),
        ([{"action": "bad", "body": {}}], {"raise_action_errors": False}),
        ([{"action": "crash"}], {}),
        ([{"action": "crash"}], {"raise_job_errors": False}),
        ([{"action": "a"}], {"suppress_response": True}),
        ([{"action": "a"}, {"action": "bad"}], {"continue_on_error": True, "raise_action_errors": False}),
    ],
    ids=["success", "action-error", "action-error-returned", "job-error", "job-error-returned", "suppressed", "two"],
)
def test_blocking_calls_give_what_their_futures_give(
    make_client: MakeClient, actions: list[dict[str, Any]], kwargs: dict[str, Any]
) -> None:
    """call_action and call_actions (which skip the futures) return and raise exactly what future.result() does."""
    client = make_client({"echo": {"responder": failing_responder}})
    first = actions[0]
    assert _outcome(lambda: client.call_action("echo", first["action"], first.get("body"), **kwargs)) == _outcome(
        lambda: client.call_action_future("echo", first["action"], first.get("body"), **kwargs).result()
    )
    assert _outcome(lambda: client.call_actions("echo", actions, **kwargs)) == _outcome(
        lambda: client.call_actions_future("echo", actions, **kwargs).result()
    )
    sent = transport_of(client).sent
    assert [body for _, _, body, _ in sent[0::2]] == [
        {**body, "context": {**body["context"], "correlation_id": ANY}} for _, _, body, _ in sent[1::2]
    ]


def test_blocking_calls_reject_unknown_keywords(make_client: MakeClient) -> None:
    """An unknown keyword argument is a TypeError on the direct path too, before anything is sent."""
    client = make_client()
    with pytest.raises(TypeError, match="bogus"):
        client.call_action("echo", "a", bogus=1)
    with pytest.raises(TypeError, match="bogus"):
        client.call_actions("echo", [{"action": "a"}], bogus=1)
    assert transport_of(client).sent == []


def test_blocking_calls_go_through_overridden_future_methods(make_client: MakeClient) -> None:
    """A subclass or an instance patch of the future methods still sees every blocking call, as in PySOA."""
    seen: list[str] = []

    class Tracing(Client):
        def call_actions_future(self, *args: Any, **kwargs: Any) -> Any:
            seen.append("call_actions_future")
            return super().call_actions_future(*args, **kwargs)

    client = make_client()
    tracing = Tracing(client.config)
    assert tracing.call_action("echo", "a", {"n": 1}).body == {"n": 1}
    assert tracing.call_actions("echo", [{"action": "a"}]).actions[0].action == "a"
    assert seen == ["call_actions_future", "call_actions_future"]

    original = client.call_action_future

    def patched(*args: Any, **kwargs: Any) -> Any:
        seen.append("call_action_future")
        return original(*args, **kwargs)

    client.call_action_future = patched  # type: ignore[method-assign]
    assert client.call_action("echo", "a", {"n": 2}).body == {"n": 2}
    assert seen[-1] == "call_action_future"


class _AnnouncedTransport(FakeClientTransport):
    """Records what the client announces before each send: the receive that follows, or that none does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.announced: list[float | None] = []
        self.at_send: list[float | None] = []
        self._announcement: float | None = None

    def receive_follows(self, receive_timeout_in_seconds: float | None) -> None:
        self.announced.append(receive_timeout_in_seconds)
        self._announcement = receive_timeout_in_seconds

    def send_request_message(self, *args: Any, **kwargs: Any) -> None:
        self.at_send.append(self._announcement)
        self._announcement = None
        super().send_request_message(*args, **kwargs)


def test_a_blocking_call_announces_that_its_receive_follows_the_send(make_client: MakeClient) -> None:
    """So a transport can start waiting for the reply with the send; futures and send-and-forget do not."""
    client = make_client(transport_class=_AnnouncedTransport)
    transport = transport_of(client)
    client.call_action("echo", "a", timeout=3)
    client.call_action("echo", "a")
    client.call_action_future("echo", "a").result()
    client.call_action("echo", "a", suppress_response=True)
    assert transport.at_send == [3, 0.0, None, None]


def test_an_announcement_never_reaches_another_send_than_its_own(make_client: MakeClient) -> None:
    """A blocking call that fails before its send announces nothing, so the thread's next send (a future's) is not
    taken for one whose receive follows."""
    client = make_client(transport_class=_AnnouncedTransport)
    transport = transport_of(client)
    with pytest.raises(TypeError):
        client.call_action("echo", "a", switches="not a list")  # type: ignore[arg-type]
    client.call_action_future("echo", "a").result()
    assert transport.at_send == [None]


class SuppressInPlace(ClientMiddleware):
    """Sets ``suppress_response`` in the job's control in place: on for a job of ``quiet`` actions, off for ``loud``."""

    def request(self, send_request: SendRequestCallable) -> SendRequestCallable:
        def handler(request_id: int, meta: dict[str, Any], job_request: Any, expiry: float | None) -> None:
            action = job_request.actions[0].action
            if action in ("quiet", "loud"):
                job_request.control["suppress_response"] = action == "quiet"
            send_request(request_id, meta, job_request, expiry)

        return handler


def _client_with_suppress_in_place(recorder: str | None, **transport_kwargs: Any) -> Client:
    settings: dict[str, Any] = {
        "transport": transport_config(**transport_kwargs),
        "middleware": [{"path": f"{__name__}:SuppressInPlace"}],
    }
    if recorder:
        settings["metrics"] = {"path": "pysoa_like.common.metrics:CountingMetricsRecorder"}
    return Client({"echo": settings})


@pytest.mark.parametrize("recorder", [None, "counting"])
def test_a_request_middleware_suppressed_in_place_is_not_waited_for(recorder: str | None) -> None:
    """A request middleware that sets ``suppress_response`` in the job's control is honoured (PySOA reads it after
    the send): collecting the open replies does not wait for that request, even while another reply is due."""
    client = _client_with_suppress_in_place(recorder, hold=True)
    # Given a future whose reply has not come yet (the fake holds it: a receive now times out)
    future = client.call_action_future("echo", "slow")
    # When a request is sent that the middleware suppresses, and the open replies are collected
    client.send_request("echo", [{"action": "quiet"}])
    assert list(client.get_all_responses("echo")) == []
    # Then the service got the job, flagged, and the future still gets its own reply
    body = transport_of(client).sent[1][2]
    assert (body["actions"][0]["action"], body["control"]["suppress_response"]) == ("quiet", True)
    transport_of(client).release()
    assert future.result().action == "slow"
    if recorder:
        # And each request's call timer was stopped once: the suppressed one when it was sent, the future's at its reply
        assert len(client.handlers["echo"].metrics.get_values("timer", "client.call")) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("recorder", [None, "counting"])
def test_a_request_middleware_unsuppressed_in_place_is_waited_for(recorder: str | None) -> None:
    """A request middleware that clears ``suppress_response`` in the job's control gets the reply collected."""
    client = _client_with_suppress_in_place(recorder)
    request_id = client.send_request("echo", [{"action": "loud"}], suppress_response=True)
    responses = list(client.get_all_responses("echo"))
    assert [(rid, response.actions[0].action) for rid, response in responses] == [(request_id, "loud")]
    if recorder:
        # And its call timer ran until the reply came (kept for it when the request became awaited)
        assert len(client.handlers["echo"].metrics.get_values("timer", "client.call")) == 1  # type: ignore[attr-defined]
