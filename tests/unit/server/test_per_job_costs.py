"""Work the server does once instead of per job, and the shortcuts that must not change behaviour."""

from __future__ import annotations

import collections
import collections.abc
import logging
from typing import Any

import pytest

from pysoa_like.client.client import Client
from pysoa_like.common.metrics import NoOpMetricsRecorder
from pysoa_like.common.settings import SettingsError
from pysoa_like.server._request_logging import RequestLogger
from pysoa_like.server.action import Action
from tests.unit.server._helpers import job, make_server, serve

_REDIS_CLIENT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


def _route(**kwargs: Any) -> dict[str, Any]:
    return {"transport": {"path": _REDIS_CLIENT, "kwargs": {"backend_type": "redis.standard", **kwargs}}}


class Echo(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return dict(request.body)


def test_routed_client_settings_are_validated_once_per_server() -> None:
    """Every job's client shares one validated copy of each routed service's settings."""
    server = make_server(client_routing={"other": _route()})
    first = server.make_client({"correlation_id": "a", "switches": []})
    second = server.make_client({"correlation_id": "b", "switches": [3]}, extra_context={"x": 1})
    assert first.settings["other"] is second.settings["other"]
    assert first.settings["other"]["transport"]["kwargs"]["backend_type"] == "redis.standard"
    assert first.context == {"correlation_id": "a", "switches": [], "calling_service": "test_service"}
    assert second.context == {"correlation_id": "b", "switches": [3], "x": 1, "calling_service": "test_service"}


def test_changed_client_routing_is_validated_again() -> None:
    """A change to ``client_routing`` after a job is seen by the next job's client."""
    server = make_server(client_routing={"other": _route(maximum_message_size_in_bytes=200000)})
    before = server.make_client({})
    server.settings["client_routing"]["other"]["transport"]["kwargs"]["maximum_message_size_in_bytes"] = 300000
    server.settings["client_routing"]["third"] = _route()
    after = server.make_client({})
    assert before.settings["other"]["transport"]["kwargs"]["maximum_message_size_in_bytes"] == 200000
    assert after.settings["other"]["transport"]["kwargs"]["maximum_message_size_in_bytes"] == 300000
    assert sorted(after.settings) == ["other", "third"]


class CallsOther(Action):
    def run(self, request: Any) -> dict[str, Any]:
        request.client  # noqa: B018 - asking for the client is what makes it
        return {}


def test_invalid_client_routing_fails_the_action_that_asks_for_the_client() -> None:
    """Routed settings the client rejects fail each action reading ``request.client``; other jobs still run."""
    server = make_server(
        {"echo": Echo, "calls_other": CallsOther}, client_routing={"other": {"transport": {"path": _REDIS_CLIENT}}}
    )
    for _ in range(2):
        with pytest.raises(SettingsError, match="backend_type"):
            server.make_client({})
        error = serve(server, job("calls_other"))["actions"][0]["errors"][0]
        assert error["code"] == "SERVER_ERROR" and "backend_type" in error["message"]
    assert serve(server, job({"action": "echo", "body": {"n": 1}}))["actions"][0]["body"] == {"n": 1}


def test_the_jobs_client_is_made_once_when_first_asked_for() -> None:
    """``make_client`` runs only for a job whose action reads ``request.client``, once for all its actions."""
    made: list[Any] = []
    server = make_server({"echo": Echo, "calls_other": CallsOther})
    original = server.make_client

    def counting(context: Any, extra_context: Any = None, **kwargs: Any) -> Any:
        made.append(context)
        return original(context, extra_context, **kwargs)

    server.make_client = counting  # type: ignore[method-assign]
    serve(server, job("echo"))
    assert made == []
    serve(server, job("calls_other", "calls_other", "echo"))
    assert len(made) == 1


def test_client_classes_with_their_own_constructor_get_the_raw_routing() -> None:
    """A ``client_class`` that builds itself differently receives ``client_routing`` untouched."""
    seen: list[Any] = []

    class RecordingClient(Client):
        def __init__(self, config: Any, **kwargs: Any) -> None:
            seen.append(config)
            super().__init__(config, **kwargs)

    server = make_server(client_routing={"other": _route()})
    type(server).client_class = RecordingClient
    server.make_client({})
    assert seen == [server.settings["client_routing"]]
    assert type(seen[0]["other"]) is dict


def test_an_overridden_stack_builder_still_wraps_actions_without_middleware() -> None:
    """With no action middleware, a server's own ``make_middleware_stack`` is still used for each action."""
    built: list[Any] = []

    server = make_server({"echo": Echo})

    def recording_stack(middleware: Any, base: Any) -> Any:
        built.append(list(middleware))
        return base

    type(server).make_middleware_stack = staticmethod(recording_stack)
    assert serve(server, job({"action": "echo", "body": {"n": 1}}))["actions"][0]["body"] == {"n": 1}
    assert built == [[]]


def test_the_default_recorder_is_not_called_for_per_job_instruments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stock no-op recorder's timer and gauge are skipped on the hot path."""

    def refuse(self: Any, name: str, **tags: Any) -> Any:
        raise AssertionError(f"instrument {name} asked for")

    monkeypatch.setattr(NoOpMetricsRecorder, "timer", refuse)
    monkeypatch.setattr(NoOpMetricsRecorder, "gauge", refuse)
    server = make_server({"echo": Echo})
    assert serve(server, job({"action": "echo", "body": {"n": 2}}))["actions"][0]["body"] == {"n": 2}
    server.handle_next_request()  # a receive timeout: the idle path


def test_a_subclass_of_the_default_recorder_is_still_called() -> None:
    """Only the exact no-op recorder is skipped; subclasses see every instrument."""
    asked: list[str] = []

    class Listening(NoOpMetricsRecorder):
        def timer(self, name: str, **tags: Any) -> Any:
            asked.append(name)
            return super().timer(name, **tags)

        def gauge(self, name: str, **tags: Any) -> Any:
            asked.append(name)
            return super().gauge(name, **tags)

    server = make_server({"echo": Echo})
    server.metrics = Listening()
    serve(server, job("echo"))
    assert asked == ["server.idle_time", "server.worker.busy", "server.job", "server.action", "server.worker.busy"]


def test_actions_given_as_other_mappings_with_errors_log_at_the_error_level(caplog: pytest.LogCaptureFixture) -> None:
    """Errors are found in action responses that are mappings other than dicts, too."""
    logger = RequestLogger(logging.getLogger("tests.request_logging"), logging.DEBUG, logging.WARNING)
    response = {"errors": [], "actions": [collections.OrderedDict(action="a", errors=[{"code": "X"}])]}
    with caplog.at_level(logging.DEBUG, logger="tests.request_logging"):
        logger.log_response(collections.OrderedDict(control={}), response)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert caplog.records[0].getMessage().startswith("Job response: {'errors': []")


_CLEAN = {"errors": [], "context": {}, "actions": [{"action": "a", "errors": [], "body": {}}]}
_FAILED = {"errors": [], "context": {}, "actions": [{"action": "a", "errors": [{"code": "X"}], "body": {}}]}


@pytest.mark.parametrize(
    ("success_level", "error_level", "response", "expected"),
    [
        (logging.INFO, logging.INFO, _CLEAN, [("INFO", "Job response")]),
        (logging.INFO, logging.INFO, _FAILED, [("INFO", "Job response")]),
        (logging.DEBUG, logging.WARNING, _CLEAN, []),
        (logging.DEBUG, logging.WARNING, _FAILED, [("WARNING", "Job request:"), ("WARNING", "Job response")]),
        (logging.WARNING, logging.DEBUG, _CLEAN, [("WARNING", "Job response")]),
        (logging.WARNING, logging.DEBUG, _FAILED, []),
        (logging.DEBUG, logging.DEBUG, _FAILED, []),
    ],
)
def test_responses_log_at_the_level_their_errors_call_for(
    caplog: pytest.LogCaptureFixture, success_level: int, error_level: int, response: Any, expected: list[Any]
) -> None:
    """Clean responses use the success level; failed ones the error level, with the request re-logged if hidden."""
    logger = RequestLogger(logging.getLogger("tests.response_levels"), success_level, error_level)
    with caplog.at_level(logging.INFO, logger="tests.response_levels"):
        logger.log_response({"control": {}}, response)
    assert [(r.levelname, r.getMessage()[:12]) for r in caplog.records] == expected


def test_responses_are_not_searched_when_no_level_is_enabled() -> None:
    """With both levels off, logging a response costs no walk over it."""

    class Untouchable(collections.abc.Mapping):  # type: ignore[type-arg]
        def __getitem__(self, key: Any) -> Any:
            raise AssertionError("the response was read")

        def __iter__(self) -> Any:
            raise AssertionError("the response was read")

        def __len__(self) -> int:
            return 3

    logger = logging.getLogger("tests.response_off")
    logger.setLevel(logging.WARNING)
    try:
        RequestLogger(logger, logging.INFO, logging.DEBUG).log_response({}, Untouchable())
    finally:
        logger.setLevel(logging.NOTSET)
