"""Tests for the message model in pysoa_like.common.types."""

from __future__ import annotations

from typing import Any

import attr
import pytest

from pysoa_like.common.errors import Error
from pysoa_like.common.types import (
    ActionRequest,
    ActionResponse,
    JobRequest,
    JobResponse,
    UnicodeKeysDict,
    error_from_dict,
    job_request_to_dict,
    job_response_from_dict,
    job_response_to_dict,
)


def test_job_request_converts_action_dicts() -> None:
    """Dicts in JobRequest.actions become ActionRequest objects with a default empty body."""
    job = JobRequest(actions=[{"action": "a", "body": {"x": 1}}, {"action": "b"}])
    assert job.actions == [ActionRequest("a", {"x": 1}), ActionRequest("b", {})]
    assert job.control == {} and job.context == {}


def test_job_response_converts_nested_dicts() -> None:
    """Dicts for errors and actions in a JobResponse become Error and ActionResponse objects."""
    response = JobResponse(
        errors=[{"code": "X", "message": "m"}],
        actions=[{"action": "a", "errors": [{"code": "Y", "message": "n", "field": "f"}], "body": {"k": 1}}],
    )
    assert response.errors == [Error("X", "m")]
    assert response.actions[0] == ActionResponse("a", [Error("Y", "n", field="f")], {"k": 1})


def test_error_from_dict_ignores_unknown_keys() -> None:
    """An error dict from a newer peer with extra keys still converts (PySOA clients raised TypeError)."""
    assert error_from_dict({"code": "C", "message": "M", "new_key": 1}) == Error("C", "M")


def test_job_response_from_dict_tolerates_missing_and_extra_keys() -> None:
    """An empty body is a response with nothing in it; unknown keys are ignored at every level."""
    assert job_response_from_dict({}) == JobResponse()
    response = job_response_from_dict(
        {"errors": [], "extra": True, "actions": [{"action": "a", "body": None, "other": 1}]}
    )
    assert response.actions == [ActionResponse("a")]


def test_job_request_to_dict_turns_tuples_and_sets_into_lists() -> None:
    """Like PySOA's attr.asdict, tuples and sets in bodies become lists on the wire."""
    job = JobRequest(
        control={"continue_on_error": False},
        context={"switches": [1]},
        actions=[ActionRequest("a", {"t": (1, 2), "s": {3}, "n": {"deep": (4,)}})],
    )
    assert job_request_to_dict(job) == {
        "control": {"continue_on_error": False},
        "context": {"switches": [1]},
        "actions": [{"action": "a", "body": {"t": [1, 2], "s": [3], "n": {"deep": [4]}}}],
    }


def test_job_response_to_dict_keeps_pysoa_error_key_order() -> None:
    """Error keys are sent in PySOA's order: code, message, field, traceback, variables, denied_permissions."""
    wire = job_response_to_dict(JobResponse(errors=[Error("C", "M", is_caller_error=True)]), (1, 4, 9))
    assert list(wire) == ["errors", "context", "actions"]
    assert list(wire["errors"][0]) == [
        "code",
        "message",
        "field",
        "traceback",
        "variables",
        "denied_permissions",
        "is_caller_error",
    ]
    assert wire["errors"][0]["is_caller_error"] is True


def test_job_response_to_dict_omits_is_caller_error_for_old_clients() -> None:
    """Clients older than 0.70.0 do not know is_caller_error, so it is left out for them."""
    response = JobResponse(actions=[ActionResponse("a", errors=[Error("C", "M", is_caller_error=True)])])
    old = job_response_to_dict(response, (0, 69, 9))
    assert "is_caller_error" not in old["actions"][0]["errors"][0]
    new = job_response_to_dict(response, (0, 70, 0))
    assert new["actions"][0]["errors"][0]["is_caller_error"] is True


def test_error_is_frozen_and_evolvable() -> None:
    """Error records are immutable; attr.evolve makes changed copies."""
    error = Error("C", "M")
    assert attr.evolve(error, is_caller_error=True).is_caller_error is True
    assert error.is_caller_error is False


def test_unicode_keys_dict_decodes_byte_keys() -> None:
    """UnicodeKeysDict turns bytes keys into text, as PySOA's did."""
    assert UnicodeKeysDict({b"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_wire_dicts_do_not_share_mutable_state_with_the_objects() -> None:
    """Changing a wire dict never changes the request or response it came from."""
    job = JobRequest(context={"switches": [1]}, actions=[ActionRequest("a", {"items": [1, {"k": "v"}]})])
    wire = job_request_to_dict(job)
    wire["actions"][0]["body"]["items"][1]["k"] = "changed"
    wire["context"]["switches"].append(2)
    assert job.actions[0].body == {"items": [1, {"k": "v"}]}
    assert job.context == {"switches": [1]}


def test_nested_attrs_objects_in_bodies_become_dicts() -> None:
    """An attrs object inside a body travels as a dict, as PySOA's attr.asdict made it."""
    response = JobResponse(actions=[ActionResponse("a", body={"inner": ActionRequest("x", {"s": frozenset()})})])
    assert job_response_to_dict(response)["actions"][0]["body"] == {"inner": {"action": "x", "body": {"s": []}}}


def test_wire_conversion_matches_attr_asdict() -> None:
    """The hand-written conversion gives exactly what attr.asdict gives for requests and responses."""
    job = JobRequest(
        control={"continue_on_error": True, "t": (1,)},
        context={"correlation_id": "c", "switches": [3]},
        actions=[ActionRequest("a", {"x": {1, 2}, "y": [(3, 4)]})],
    )
    assert job_request_to_dict(job) == attr.asdict(job)
    response = JobResponse(
        errors=[Error("E", "m", variables={"v": (1,)}, denied_permissions=["p"])],
        context={"correlation_id": "c"},
        actions=[ActionResponse("a", [Error("F", "n", field="f", is_caller_error=True)], {"b": (1, 2)})],
    )
    assert job_response_to_dict(response) == attr.asdict(response)


@pytest.mark.parametrize(
    "wire",
    [
        {},
        {"errors": [], "context": {"correlation_id": "c"}, "actions": []},
        {"errors": None, "context": None, "actions": None},
        {
            "errors": [{"code": "J", "message": "job", "is_caller_error": True, "unknown": 1}],
            "context": {"correlation_id": "c", "extra": [1]},
            "actions": [],
        },
        {
            "actions": [
                {"action": "a", "errors": [], "body": {"k": [1, {"x": None}]}},
                {"action": "b", "errors": [{"code": "F", "message": "n", "field": "f"}]},
                {"action": "c", "errors": None, "body": None, "extra": True},
                ActionResponse("d", [Error("G", "o")], {"z": 1}),
            ],
        },
    ],
    ids=["empty", "plain", "nulls", "job-errors", "actions"],
)
def test_job_response_from_dict_builds_what_the_constructor_builds(wire: dict[str, Any]) -> None:
    """The direct build (no attrs __init__) gives an object equal to JobResponse(...) with its converters."""
    expected = JobResponse(
        errors=wire.get("errors") or [],
        context=wire.get("context") or {},
        actions=[
            a
            if isinstance(a, ActionResponse)
            else ActionResponse(a["action"], a.get("errors") or [], {} if a.get("body") is None else a["body"])
            for a in wire.get("actions") or []
        ],
    )
    built = job_response_from_dict(wire)
    assert built == expected
    assert type(built) is JobResponse
    assert all(type(action) is ActionResponse for action in built.actions)
    assert all(type(error) is Error for action in built.actions for error in action.errors)
    assert attr.asdict(built) == attr.asdict(expected)
    assert attr.evolve(built, context={"new": 1}).actions == expected.actions


def test_converted_lists_are_new_lists() -> None:
    """The objects never keep the caller's lists, even empty ones (mutating them later changes nothing)."""
    errors: list[Any] = []
    actions: list[Any] = []
    response = JobResponse(errors=errors, actions=actions)
    action = ActionResponse("a", errors=errors)
    errors.append(Error("C", "M"))
    actions.append(ActionResponse("b"))
    assert response.errors == [] and response.actions == [] and action.errors == []


def test_job_response_accepts_action_responses_and_dicts_mixed() -> None:
    """ActionResponse objects are kept as they are; dicts next to them are converted."""
    kept = ActionResponse("a", body={"k": 1})
    response = JobResponse(actions=[kept, {"action": "b", "errors": [{"code": "C", "message": "M"}]}])
    assert response.actions[0] is kept
    assert response.actions[1] == ActionResponse("b", [Error("C", "M")])


def test_wire_copy_of_nested_scalars_and_containers() -> None:
    """Scalars at any depth are kept, every container is copied, and tuples and sets inside lists become lists."""
    body = {"s": "x", "n": None, "b": b"y", "f": 1.5, "l": [1, "a", (2, {3}), [None]], "d": {"e": {}}}
    job = JobRequest(actions=[ActionRequest("a", body)])
    wire_body = job_request_to_dict(job)["actions"][0]["body"]
    assert wire_body == {"s": "x", "n": None, "b": b"y", "f": 1.5, "l": [1, "a", [2, [3]], [None]], "d": {"e": {}}}
    assert wire_body["l"] is not body["l"] and wire_body["l"][3] is not body["l"][3]
    assert wire_body["d"]["e"] is not body["d"]["e"]


def test_job_request_converts_an_iterable_of_dicts_and_requests() -> None:
    """Any iterable of actions, ActionRequest objects and dicts mixed, becomes a new list of ActionRequest."""
    given = ActionRequest("b", {"y": 2})
    job = JobRequest(actions=iter([{"action": "a"}, given]))
    assert job.actions == [ActionRequest("a", {}), given]
    assert job.actions[1] is given


class _Mapping(dict):  # type: ignore[type-arg]
    pass


def test_job_response_to_dict_converts_every_action_body_and_the_context() -> None:
    """Each action of a response built from dicts keeps its order, and tuples, sets and attrs objects in bodies
    and context become lists and dicts (dict subclasses plain dicts), as attr.asdict made them."""
    response = JobResponse(
        context={"correlation_id": "c", "path": ("a", "b")},
        actions=[
            {"action": "one", "body": {"t": (1, (2, 3)), "s": {4}}},
            {"action": "two", "errors": [{"code": "E", "message": "m"}], "body": _Mapping(x=[ActionRequest("n")])},
            ActionResponse("three"),
        ],
    )
    wire = job_response_to_dict(response)
    assert wire == attr.asdict(response, retain_collection_types=False)
    assert wire["context"] == {"correlation_id": "c", "path": ["a", "b"]}
    assert [a["action"] for a in wire["actions"]] == ["one", "two", "three"]
    assert wire["actions"][0]["body"] == {"t": [1, [2, 3]], "s": [4]}
    assert type(wire["actions"][1]["body"]) is dict
    assert wire["actions"][1]["body"] == {"x": [{"action": "n", "body": {}}]}
    assert wire["actions"][1]["errors"][0]["code"] == "E"
    assert wire["actions"][2] == {"action": "three", "errors": [], "body": {}}
