"""Server-side behaviour matches PySOA 1.4.9 where PySOA's own tests pin it down."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

import pysoa_like
from pysoa_like.common.types import ActionResponse
from pysoa_like.server.action import Action, status
from pysoa_like.server.action.status import BaseStatusAction, StatusActionFactory
from pysoa_like.server.action.switched import SwitchedAction
from pysoa_like.server.errors import ActionError
from pysoa_like.server.types import EnrichedActionRequest
from tests.unit.server._helpers import job, make_server, serve


class One(Action):
    """Answers one."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"n": 1}


class Two(Action):
    """Answers two."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"n": 2}


class NoDefault(SwitchedAction):
    """Two switches, no DEFAULT_ACTION entry: the last entry is the default."""

    switch_to_action_map = ((3, One), (7, Two))


def test_call_local_action_without_a_server_is_a_server_error() -> None:
    """A request no server made gets a SERVER_ERROR (raised as ActionError, or returned), not RuntimeError."""
    request = EnrichedActionRequest(action="a", body={})
    with pytest.raises(ActionError) as info:
        request.call_local_action("other", {})
    assert [(e.code, e.is_caller_error) for e in info.value.errors] == [("SERVER_ERROR", False)]
    response = request.call_local_action("other", {}, raise_action_errors=False)
    assert isinstance(response, ActionResponse) and response.errors[0].code == "SERVER_ERROR"


@pytest.mark.parametrize(
    ("name", "documentation"), [("sw[switch:7]", "Answers two."), ("sw[switch:3]", "Answers one.")]
)
def test_introspecting_any_switch_entry_by_value(name: str, documentation: str) -> None:
    """name[switch:N] is found by the switch's value, the last entry's switch included."""
    server = make_server({"sw": NoDefault})
    action = serve(server, job({"action": "introspect", "body": {"action_name": name}}))["actions"][0]
    assert action["errors"] == []
    assert action["body"]["actions"][name]["documentation"] == documentation


def test_switched_action_itself_cannot_be_instantiated() -> None:
    """SwitchedAction is abstract: instantiating it raises TypeError."""
    with pytest.raises(TypeError, match="abstract"):
        SwitchedAction()


def test_base_status_action_cannot_be_instantiated() -> None:
    """BaseStatusAction is abstract until _version is given; a factory-made status action is not."""
    with pytest.raises(TypeError, match="_version"):
        BaseStatusAction()
    assert StatusActionFactory("1.2.3")()._version == "1.2.3"


@pytest.mark.parametrize(
    "bad_map",
    [((1, One),), ((1, One), (2,)), ((1, One), ("two", Two)), ((1, One), (2, "not callable")), 5],
    ids=["too short", "not a pair", "not a switch", "not an action", "not a sequence"],
)
def test_a_bad_switch_to_action_map_is_a_value_error(bad_map: Any) -> None:
    """A malformed switch_to_action_map raises ValueError when the class is created, as in PySOA."""
    with pytest.raises(ValueError, match=r"switch_to_action_map|switch|action"):
        type("Bad", (SwitchedAction,), {"switch_to_action_map": bad_map})


def test_default_action_cannot_be_overridden() -> None:
    """Replacing SwitchedAction.DEFAULT_ACTION in a subclass is a TypeError."""
    with pytest.raises(TypeError, match="DEFAULT_ACTION"):
        type("Bad", (SwitchedAction,), {"switch_to_action_map": NoDefault.switch_to_action_map, "DEFAULT_ACTION": 0})


def test_status_request_schema_accepts_pysoas_bodies() -> None:
    """The status request schema is a plain dictionary with an optional verbose flag, as in PySOA."""
    server = make_server({})
    action = serve(server, job({"action": "status", "body": {"verbose": False}}))["actions"][0]
    assert action["errors"] == [] and isinstance(action["body"]["conformity"], str)
    assert "healthcheck" not in action["body"]


def test_status_reports_a_conformity_version_string_without_conformity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Conformity installed, conformity is pysoa_like's version (a string, as PySOA's schema says)."""
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "conformity":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    status._conformity_version.cache_clear()
    try:
        body = serve(make_server({}), job({"action": "status", "body": {"verbose": False}}))["actions"][0]["body"]
    finally:
        status._conformity_version.cache_clear()
    assert body["conformity"] == pysoa_like.__version__


class DefaultFirst(SwitchedAction):
    """The DEFAULT_ACTION entry is first, a switch entry last."""

    switch_to_action_map = ((SwitchedAction.DEFAULT_ACTION, One), (7, Two))


def test_introspecting_an_unknown_switch_or_a_default_entry_not_last() -> None:
    """Kept difference: an unknown switch is INVALID; name[DEFAULT] is the DEFAULT_ACTION entry wherever it is."""
    server = make_server({"sw": NoDefault, "first": DefaultFirst})
    unknown = serve(server, job({"action": "introspect", "body": {"action_name": "sw[switch:99]"}}))["actions"][0]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("INVALID", "action_name")]
    default = serve(server, job({"action": "introspect", "body": {"action_name": "first[DEFAULT]"}}))["actions"][0]
    assert default["body"]["actions"]["first[DEFAULT]"]["documentation"] == "Answers one."
