"""Actions: the base class, the built-in ``status`` and ``introspect`` actions and switched actions."""

from __future__ import annotations

import enum
from typing import Any

import pytest

import pysoa_like
from pysoa_like.common import fields
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action import Action
from pysoa_like.server.action.introspection import IntrospectionAction
from pysoa_like.server.action.status import (
    BaseStatusAction,
    CheckMethodStatus,
    StatusActionFactory,
    make_default_status_action_class,
)
from pysoa_like.server.action.switched import SwitchedAction
from pysoa_like.server.errors import ActionError, ResponseValidationError
from pysoa_like.server.types import EnrichedActionRequest
from tests.unit.server._helpers import job, make_server, serve


class Add(Action):
    """Adds two numbers."""

    request_schema = fields.Dictionary({"a": fields.Integer(), "b": fields.Integer()}, optional_keys=("b",))
    response_schema = fields.Dictionary({"sum": fields.Integer()})

    def validate(self, request: EnrichedActionRequest) -> None:
        if request.body["a"] < 0:
            raise ActionError([])

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"sum": request.body["a"] + request.body.get("b", 0)}


def _request(action: str = "add", body: dict[str, Any] | None = None, switches: Any = ()) -> EnrichedActionRequest:
    return EnrichedActionRequest(action=action, body=body or {}, switches=switches)


def test_action_runs_and_wraps_the_body() -> None:
    """A valid request runs and the body comes back in an ``ActionResponse``."""
    assert Add()(_request(body={"a": 1, "b": 2})) == ActionResponse(action="add", body={"sum": 3})


def test_request_schema_errors_become_caller_action_errors() -> None:
    """Request schema failures raise ``ActionError`` with the schema code, the pointer as field, caller errors."""
    with pytest.raises(ActionError) as info:
        Add()(_request(body={"a": "x", "c": 1}))
    assert {(e.code, e.field, e.is_caller_error) for e in info.value.errors} == {
        ("INVALID", "a", True),
        ("UNKNOWN", None, True),
    }


def test_validate_runs_after_the_schema() -> None:
    """``validate`` can reject a request the schema accepted."""
    with pytest.raises(ActionError):
        Add()(_request(body={"a": -1}))


def test_response_schema_failure_raises_response_validation_error() -> None:
    """A body the response schema rejects raises ``ResponseValidationError``."""

    class Bad(Add):
        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"sum": "three", "x": 1}

    with pytest.raises(ResponseValidationError) as info:
        Bad()(_request(body={"a": 1}))
    assert info.value.action == "add"
    # PySOA 1.4.9's text exactly (checked against it): one tab-indented line per error, "<pointer> <code>: ...".
    assert str(info.value) == (
        "add had an invalid response:\n\tsum INVALID: Not an integer\n\tNone UNKNOWN: Extra keys present: x"
    )


def test_none_body_becomes_empty_dict() -> None:
    """An action returning ``None`` answers with an empty body."""

    class Nothing(Action):
        response_schema = fields.Dictionary({"x": fields.Integer()})

        def run(self, request: EnrichedActionRequest) -> None:
            return None

    assert Nothing()(_request()).body == {}


def test_action_keeps_settings() -> None:
    """The settings passed to an action are available as ``self.settings``."""
    assert Add({"k": 1}).settings == {"k": 1}


class Status(BaseStatusAction):
    _version = "2.0.1"
    _build = "build-7"

    def check_database(self, request: EnrichedActionRequest) -> Any:
        self.diagnostics["db"] = "checked"
        return [CheckMethodStatus(True, "DB_DOWN", "database unreachable"), (False, "DB_SLOW", "slow")]

    def check_cache(self, request: EnrichedActionRequest) -> Any:
        return None


def test_status_reports_versions_and_health_checks() -> None:
    """``status`` returns the versions, the build and every ``check_*`` result."""
    body = Status()(_request("status")).body
    assert body["version"] == "2.0.1" and body["build"] == "build-7"
    assert set(body) == {"conformity", "pysoa", "python", "version", "build", "healthcheck"}
    assert body["healthcheck"] == {
        "errors": [("DB_DOWN", "database unreachable")],
        "warnings": [("DB_SLOW", "slow")],
        "diagnostics": {"db": "checked"},
    }


def test_status_with_verbose_false_skips_checks() -> None:
    """``verbose: false`` skips the checks and leaves ``healthcheck`` out."""
    body = Status()(_request("status", {"verbose": False})).body
    assert "healthcheck" not in body


def test_status_action_factory_sets_version_and_build() -> None:
    """``StatusActionFactory`` builds a ``StatusAction`` class with the given version and build."""
    cls = StatusActionFactory("1.2.3", "b1")
    assert cls.__name__ == "StatusAction" and issubclass(cls, BaseStatusAction)
    body = cls()(_request("status", {"verbose": False})).body
    assert (body["version"], body["build"]) == ("1.2.3", "b1")


def test_default_status_class_reads_the_package_version() -> None:
    """The default status class reports the server package's ``__version__`` (``unknown`` if absent)."""
    cls = make_default_status_action_class(type("S", (), {"__module__": "tests.unit.server"}))
    assert cls()(_request("status", {"verbose": False})).body["version"] == "unknown"
    cls = make_default_status_action_class(type("S", (), {"__module__": "pysoa_like.server.server"}))
    assert cls()(_request("status", {"verbose": False})).body["version"] == pysoa_like.__version__
    cls = make_default_status_action_class(type("S", (), {"__module__": "pytest"}))
    assert cls()(_request("status", {"verbose": False})).body["version"] == pytest.__version__


def test_check_client_settings_reports_each_service() -> None:
    """``_check_client_settings`` calls ``status`` on every routed service and reports failures by service."""

    class FakeClient:
        settings = {"good": {}, "down": {}}

        def call_jobs_parallel(self, jobs: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
            from pysoa_like.common.types import JobResponse

            assert kwargs["timeout"] == 2 and kwargs["catch_transport_errors"] is True
            assert [j["actions"][0]["body"] for j in jobs] == [{"verbose": False}] * 2
            return [JobResponse(actions=[ActionResponse(action="status", body={"version": "9"})]), OSError("boom")]

    class WithCheck(Status):
        check_client_settings = BaseStatusAction._check_client_settings

    action = WithCheck()
    request = _request("status")
    request.client = FakeClient()
    body = action(request).body
    assert ("DOWN_TRANSPORT_ERROR", "boom") in body["healthcheck"]["errors"]
    assert body["healthcheck"]["diagnostics"]["services"] == {"good": {"version": "9"}}


class SwitchEnum(enum.Enum):
    ZERO = 0
    FIVE = 5


class ZeroAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"chosen": "zero"}


class FiveAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"chosen": "five"}


class DefaultAction(Action):
    """The default."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"chosen": "default"}


class Switched(SwitchedAction):
    switch_to_action_map = (
        (SwitchEnum.ZERO, ZeroAction),
        (5, FiveAction),
        (SwitchedAction.DEFAULT_ACTION, DefaultAction),
    )


class SwitchedNoDefault(SwitchedAction):
    switch_to_action_map = ((1, ZeroAction), (2, FiveAction))


@pytest.mark.parametrize(
    ("switches", "expected"), [([0], "zero"), ([5], "five"), ([0, 5], "zero"), ([], "default"), ([9], "default")]
)
def test_switched_action_picks_first_active_switch_including_zero(switches: list[int], expected: str) -> None:
    """The first active switch wins (switch 0 included, unlike PySOA), else the default entry."""
    assert Switched()(_request("sw", switches=switches)).body == {"chosen": expected}


def test_switched_action_without_default_falls_back_to_last_entry() -> None:
    """Without a ``DEFAULT_ACTION`` entry the last entry is used."""
    assert SwitchedNoDefault()(_request("sw")).body == {"chosen": "five"}


def test_switched_action_rejects_a_short_map() -> None:
    """A map with fewer than two entries is rejected when the class is created."""
    with pytest.raises(ValueError, match="at least two"):
        type("Short", (SwitchedAction,), {"switch_to_action_map": ((1, ZeroAction),)})


def test_switched_action_rejects_overriding_call() -> None:
    """Overriding ``__call__`` is rejected when the class is created."""
    with pytest.raises(TypeError, match="__call__"):
        type("Bad", (SwitchedAction,), {"switch_to_action_map": Switched.switch_to_action_map, "__call__": len})


def _introspect(body: dict[str, Any], action_map: dict[str, Any] | None = None) -> dict[str, Any]:
    server = make_server(action_map if action_map is not None else {"add": Add, "sw": Switched})
    response = serve(server, job({"action": "introspect", "body": body}))
    return response["actions"][0]  # type: ignore[no-any-return]


def test_introspect_lists_every_action_with_switched_entries() -> None:
    """``introspect`` lists built-ins, plain actions and switched entries as ``name[switch:N]``/``name[DEFAULT]``."""
    body = _introspect({})["body"]
    assert body["action_names"] == ["add", "introspect", "status", "sw[DEFAULT]", "sw[switch:0]", "sw[switch:5]"]
    assert body["actions"]["add"]["documentation"] == "Adds two numbers."
    assert body["actions"]["add"]["request_schema"]["type"] == "dictionary"
    assert body["actions"]["sw[DEFAULT]"]["documentation"] == "The default."


def test_introspect_single_action_and_switched_entry() -> None:
    """``action_name`` limits the answer to one action, a switched entry included."""
    assert _introspect({"action_name": "add"})["body"]["action_names"] == ["add"]
    body = _introspect({"action_name": "sw[switch:0]"})["body"]
    assert body["action_names"] == ["sw[switch:0]"]
    assert _introspect({"action_name": "sw"})["body"]["action_names"] == ["sw[DEFAULT]", "sw[switch:0]", "sw[switch:5]"]


def test_introspect_unknown_action_name_is_invalid() -> None:
    """An unknown ``action_name`` gives INVALID on field ``action_name``."""
    errors = _introspect({"action_name": "nope"})["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("INVALID", "action_name")]


def test_introspection_action_can_be_replaced() -> None:
    """``Server.introspection_action`` replaces the built-in ``introspect``."""

    class Custom(Action):
        def __init__(self, server: Any) -> None:
            super().__init__(server.settings)

        def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
            return {"custom": True}

    server = make_server({})
    type(server).introspection_action = Custom
    assert serve(server, job("introspect"))["actions"][0]["body"] == {"custom": True}


def test_introspection_action_needs_a_server() -> None:
    """``IntrospectionAction`` refuses anything but a server."""
    with pytest.raises(TypeError):
        IntrospectionAction({"not": "a server"})


def test_map_entries_override_builtin_status() -> None:
    """A ``status`` entry in the map replaces the built-in status action."""
    response = serve(make_server({"status": Status}), job({"action": "status", "body": {"verbose": False}}))
    assert response["actions"][0]["body"]["version"] == "2.0.1"


class _Checked(Action):
    """No request schema; its own ``validate`` rejects a negative ``n``."""

    def validate(self, request: EnrichedActionRequest) -> None:
        if request.body.get("n", 0) < 0:
            raise ActionError([])

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"n": request.body.get("n", 0)}


class _Unchecked(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


def test_validate_runs_without_a_request_schema() -> None:
    """An action with no ``request_schema`` still has its own ``validate`` called before ``run``."""
    assert _Checked()(_request(body={"n": 1})).body == {"n": 1}
    with pytest.raises(ActionError):
        _Checked()(_request(body={"n": -1}))


def test_validate_patched_onto_a_class_after_it_was_defined_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``validate`` set on an action class later (a test's patch, say) is called, as it was set."""
    seen: list[Any] = []
    monkeypatch.setattr(_Unchecked, "validate", lambda self, request: seen.append(request.body))
    _Unchecked()(_request(body={"k": 1}))
    monkeypatch.setattr(Action, "validate", lambda self, request: seen.append("base"))
    _Checked()(_request(body={"n": 1}))  # its own validate, not the base's
    monkeypatch.undo()
    monkeypatch.setattr(Action, "validate", lambda self, request: seen.append("base"))
    _Unchecked()(_request())
    assert seen == [{"k": 1}, "base"]


class _Shapes(Action):
    """Returns a body holding a tuple, a set and an attrs object."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"t": (1, 2), "s": {"x"}, "a": ActionResponse("inner", body={"f": frozenset({3})})}


def test_a_body_of_tuples_sets_and_attrs_objects_arrives_as_lists_and_dicts() -> None:
    """What a server sends for such a body is plain lists and dicts, as PySOA's attr.asdict sent it."""
    server = make_server({"shapes": _Shapes, "plain": _Unchecked})
    wire = serve(server, job("shapes", "plain", context={"k": ("v",)}))
    assert wire["errors"] == []
    assert wire["context"] == {"correlation_id": "cid-1"}
    shapes, plain = wire["actions"]
    assert shapes == {
        "action": "shapes",
        "errors": [],
        "body": {"t": [1, 2], "s": ["x"], "a": {"action": "inner", "errors": [], "body": {"f": [3]}}},
    }
    assert plain == {"action": "plain", "errors": [], "body": {}}
