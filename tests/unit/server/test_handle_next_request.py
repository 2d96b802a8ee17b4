"""Receiving, answering and surviving: ``handle_next_request`` and ``run``."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from pysoa_like.common.serializer.errors import InvalidField, InvalidMessage
from pysoa_like.common.transport.base import ReceivedMeta
from pysoa_like.common.transport.errors import InvalidMessageError, MessageSendError, MessageTooLarge
from pysoa_like.common.transport.local import LocalClientTransport
from pysoa_like.server.action import Action
from pysoa_like.server.middleware import ServerMiddleware
from pysoa_like.server.server import Server
from tests.unit.server._helpers import job, make_server, serve


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return dict(request.body)


def test_is_caller_error_is_omitted_for_clients_older_than_0_70() -> None:
    """Clients older than 0.70.0 do not receive ``is_caller_error``."""
    error = serve(make_server(), job("nope"), meta={"client_version": [0, 69, 9]})["actions"][0]["errors"][0]
    assert "is_caller_error" not in error


def test_is_caller_error_is_omitted_when_client_version_is_missing() -> None:
    """A missing ``client_version`` counts as 0.40.0."""
    error = serve(make_server(), job("nope"), meta={})["actions"][0]["errors"][0]
    assert list(error) == ["code", "message", "field", "traceback", "variables", "denied_permissions"]


def test_is_caller_error_is_sent_to_clients_from_0_70() -> None:
    """Clients at 0.70.0 or later receive ``is_caller_error``."""
    error = serve(make_server(), job("nope"), meta={"client_version": [0, 70, 0]})["actions"][0]["errors"][0]
    assert error["is_caller_error"] is True


def test_malformed_client_version_is_treated_as_old_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A string ``client_version`` (which crashed PySOA) is logged and treated as an old client."""
    with caplog.at_level(logging.WARNING, logger="pysoa_like.server"):
        error = serve(make_server(), job("nope"), meta={"client_version": ["1", "x"]})["actions"][0]["errors"][0]
    assert "is_caller_error" not in error
    assert "malformed client_version" in caplog.text


def test_the_client_version_a_transport_hands_over_is_used_as_it_is(caplog: pytest.LogCaptureFixture) -> None:
    """A meta that carries the client's version (``ReceivedMeta``) is not read again: the transport reported it."""
    meta = ReceivedMeta({"client_version": ["1", "x"]}, (0, 70, 0))
    with caplog.at_level(logging.WARNING, logger="pysoa_like.server"):
        error = serve(make_server(), job("nope"), meta=meta)["actions"][0]["errors"][0]
    assert error["is_caller_error"] is True
    assert "client_version" not in caplog.text


def test_the_deadline_a_transport_hands_over_is_the_jobs() -> None:
    """A ``ReceivedMeta`` reads the request's deadline from its ``__expiry__`` once; actions see that deadline."""

    class Deadline(Action):
        def run(self, request: Any) -> dict[str, Any]:
            return {"deadline": request.deadline}

    expiry = time.time() + 30
    meta = ReceivedMeta({"__expiry__": expiry}, (0, 70, 0))
    assert meta.deadline == expiry
    assert serve(make_server({"deadline": Deadline}), job("deadline"), meta=meta)["actions"][0]["body"] == {
        "deadline": expiry
    }
    assert ReceivedMeta({}, (0, 70, 0)).deadline is None


def test_suppress_response_runs_the_job_but_sends_nothing() -> None:
    """With ``suppress_response`` the action runs but no reply is sent."""
    ran: list[bool] = []

    class Records(Action):
        def run(self, request: Any) -> None:
            ran.append(True)

    server = make_server({"records": Records})
    server.transport.add_request(job("records", control={"suppress_response": True}))
    server.handle_next_request()
    assert ran == [True]
    assert server.transport.responses == []
    assert len(server.transport.suppressed) == 1
    # A job answered is not reported as suppressed
    server.transport.add_request(job("records"))
    server.handle_next_request()
    assert len(server.transport.responses) == 1
    assert len(server.transport.suppressed) == 1


class SuppressesResponse(ServerMiddleware):
    """Job middleware asking, in the job's own control header, for no response."""

    def job(self, process_job: Any) -> Any:
        def handler(job_request: Any) -> Any:
            job_request.control["suppress_response"] = True
            return process_job(job_request)

        return handler


class SuppressesItsResponse(Action):
    """An action asking, in its request's control header (the job's), for no response."""

    def run(self, request: Any) -> dict[str, Any]:
        request.control["suppress_response"] = True
        return {}


_SUPPRESSING_MIDDLEWARE = [{"path": f"{__name__}:SuppressesResponse"}]


@pytest.mark.parametrize("meta", [{}, ReceivedMeta({}, (0, 70, 0))], ids=["plain meta", "transport's meta"])
def test_suppress_response_set_by_job_middleware_or_action_is_honoured(meta: dict[str, Any]) -> None:
    """The server decides whether to answer when the response is due, from the job's control header as the job
    middleware and the actions left it (as PySOA does), not as it was received."""
    server = make_server({"echo": Echo}, middleware=_SUPPRESSING_MIDDLEWARE)
    server.transport.add_request(job("echo"), meta=meta)
    server.handle_next_request()
    assert server.transport.responses == []
    assert server.transport.suppressed == [meta]  # the transport learns the request is done
    server = make_server({"quiet": SuppressesItsResponse})
    server.transport.add_request(job("quiet"), meta=meta)
    server.handle_next_request()
    assert server.transport.responses == []
    assert server.transport.suppressed == [meta]


def test_suppress_response_set_by_job_middleware_is_honoured_over_the_local_transport() -> None:
    """Over the local transport, a job whose middleware asks for no response leaves no reply to receive."""
    server_class = type("QuietServer", (Server,), {"service_name": "quiet", "action_class_map": {"echo": Echo}})
    for middleware, replies in (([], 1), (_SUPPRESSING_MIDDLEWARE, 0)):
        transport = LocalClientTransport("quiet", server_class=server_class, server_settings={"middleware": middleware})
        try:
            transport.send_request_message(1, {}, job("echo"))
            received = [transport.receive_response_message(), transport.receive_response_message()]
            assert [message.request_id for message in received] == [1] * replies + [None] * (2 - replies)
        finally:
            transport.close()


def test_unserializable_response_becomes_response_not_serializable_with_correlation_id() -> None:
    """A send failing with ``InvalidField`` is answered with RESPONSE_NOT_SERIALIZABLE keeping the correlation id."""
    server = make_server({"echo": Echo})
    server.transport.send_errors.append(InvalidField("bad value at body.x"))
    response = serve(server, job("echo"))
    assert response == {
        "errors": [
            {
                "code": "RESPONSE_NOT_SERIALIZABLE",
                "message": "Could not send the response because it failed to serialize",
                "field": None,
                "traceback": None,
                "variables": None,
                "denied_permissions": None,
                "is_caller_error": False,
            }
        ],
        "context": {"correlation_id": "cid-1"},
        "actions": [],
    }


def test_too_large_response_becomes_response_too_large() -> None:
    """A send failing with ``MessageTooLarge`` is answered with RESPONSE_TOO_LARGE keeping the correlation id."""
    server = make_server({"echo": Echo})
    server.transport.send_errors.append(MessageTooLarge(999, "too big"))
    response = serve(server, job("echo"))
    assert [(e["code"], e["message"]) for e in response["errors"]] == [
        ("RESPONSE_TOO_LARGE", "Could not send the response because it was too large")
    ]
    assert response["context"] == {"correlation_id": "cid-1"}


@pytest.mark.parametrize(
    "error", [InvalidMessage("cannot decode"), InvalidMessageError("no request id")], ids=["undecodable", "invalid"]
)
def test_undecodable_message_is_skipped_and_the_server_goes_on(error: Exception) -> None:
    """A message the transport cannot decode is logged and skipped; the next request is still served."""
    server = make_server({"echo": Echo})
    server.transport.requests.append(error)
    server.handle_next_request()
    assert serve(server, job("echo"))["actions"][0]["errors"] == []


def test_non_dict_body_is_answered_with_validation_errors() -> None:
    """A body that is not a dict is answered with job-level validation errors instead of crashing."""
    response = serve(make_server(), ["not", "a", "dict"])
    assert response["errors"][0]["code"] == "INVALID"
    assert response["actions"] == []


def test_failing_pre_request_hook_is_answered_with_a_server_error() -> None:
    """An exception raised outside the job pipeline is logged and answered with a job-level SERVER_ERROR."""
    server = make_server({"echo": Echo})

    def broken() -> None:
        raise RuntimeError("pre hook broke")

    server.perform_pre_request_actions = broken
    response = serve(server, job("echo"))
    assert [(e["code"], e["message"]) for e in response["errors"]] == [
        ("SERVER_ERROR", "Internal server error: pre hook broke")
    ]
    assert response["context"] == {"correlation_id": "cid-1"}


def test_failing_post_request_hook_does_not_escape() -> None:
    """An exception raised after the reply was sent is logged, never raised out of ``handle_next_request``."""
    server = make_server({"echo": Echo})

    def broken() -> None:
        raise RuntimeError("post hook broke")

    server.perform_post_request_actions = broken
    server.transport.add_request(job("echo"))
    server.handle_next_request()
    assert server.transport.responses[0][2]["errors"] == []


def test_receive_timeout_runs_idle_actions() -> None:
    """A receive timeout runs ``perform_idle_actions`` and nothing else."""
    server = make_server()
    calls: list[str] = []
    server.perform_idle_actions = lambda: calls.append("idle")
    server.perform_pre_request_actions = lambda: calls.append("pre")
    server.handle_next_request()
    assert calls == ["idle"]


def test_pre_and_post_request_hooks_wrap_each_job() -> None:
    """``perform_pre_request_actions`` and ``perform_post_request_actions`` run around each job."""
    calls: list[str] = []

    class Records(Action):
        def run(self, request: Any) -> None:
            calls.append("action")

    server = make_server({"records": Records})
    server.perform_pre_request_actions = lambda: calls.append("pre")
    server.perform_post_request_actions = lambda: calls.append("post")
    serve(server, job("records"))
    assert calls == ["pre", "action", "post"]


def test_request_and_response_are_logged_censored(caplog: pytest.LogCaptureFixture) -> None:
    """Requests and responses are logged on ``pysoa_like.server.job`` with sensitive and extra fields masked."""
    server = make_server({"echo": Echo}, extra_fields_to_redact={"favorite_color"})
    with caplog.at_level(logging.INFO, logger="pysoa_like.server.job"):
        serve(server, job({"action": "echo", "body": {"password": "hunter2", "favorite_color": "blue", "n": 5}}))
    messages = [r.getMessage() for r in caplog.records if r.name == "pysoa_like.server.job"]
    assert len(messages) == 2
    assert messages[0].startswith("Job request: ") and messages[1].startswith("Job response: ")
    assert "hunter2" not in caplog.text and "blue" not in caplog.text
    assert "'n': 5" in messages[1]


def test_error_responses_log_at_error_level(caplog: pytest.LogCaptureFixture) -> None:
    """A response with errors is logged at ``request_log_error_level`` and the hidden request is re-logged."""
    server = make_server({"echo": Echo}, request_log_success_level="DEBUG", request_log_error_level="WARNING")
    with caplog.at_level(logging.INFO, logger="pysoa_like.server.job"):
        serve(server, job("echo"))
        assert not [r for r in caplog.records if r.name == "pysoa_like.server.job"]
        serve(server, job("nope"))
    levels = [(r.levelname, r.getMessage()[:12]) for r in caplog.records if r.name == "pysoa_like.server.job"]
    assert levels == [("WARNING", "Job request:"), ("WARNING", "Job response")]


def test_run_serves_until_shutting_down_and_backs_off_on_transient_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` calls setup, serves requests, sleeps after a transient error, stops when asked and tears down."""
    server = make_server({"echo": Echo})
    calls: list[str] = []
    sleeps: list[float] = []
    monkeypatch.setattr("pysoa_like.server.server.time.sleep", sleeps.append)
    server.setup = lambda: calls.append("setup")
    server.teardown = lambda: calls.append("teardown")
    server.transport.add_request(job("echo"), request_id=1)
    server.transport.requests.append(MessageSendError("redis is down"))
    server.transport.add_request(job("echo"), request_id=2)

    def idle() -> None:
        server.shutting_down = True

    server.perform_idle_actions = idle
    server.transport.flush_responses = lambda: calls.append("flush_responses")  # type: ignore[method-assign]
    server.run()
    # The transport confirms its last responses before teardown.
    assert calls == ["setup", "flush_responses", "teardown"]
    assert [r[0] for r in server.transport.responses] == [1, 2]
    # PySOA's first backoff: 0.25 to 0.5 s (slept in quarter-second slices).
    assert 0.25 <= sum(sleeps) < 0.5
