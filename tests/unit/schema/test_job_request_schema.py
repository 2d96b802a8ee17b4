"""Job request validation: PROTOCOL.md section 7's rules and observed PySOA error examples."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import pytest

from pysoa_like.server.schemas import (
    ActionRequestSchema,
    ContextHeaderSchema,
    ControlHeaderSchema,
    JobRequestSchema,
    looks_valid_job_request,
    validate_job_request,
)

VALID: dict[str, Any] = {
    "control": {"continue_on_error": False, "suppress_response": True, "foo": 1, "timeout": 5},
    "context": {"switches": [1, 2, 4], "auth": "tok", "correlation_id": "cid", "caller": "me"},
    "actions": [{"action": "a", "body": {"x": [1, 2], "s": [3]}}],
}


def _job(**changes: Any) -> dict[str, Any]:
    job = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = job
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return job


_DELETE = object()


def _as_tuples(errors: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


def test_observed_pysoa_request_is_valid() -> None:
    """The exact request PySOA 1.4.9 was observed sending passes."""
    assert validate_job_request(VALID) == []
    assert JobRequestSchema.errors(VALID) == []


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (_job(context__correlation_id=_DELETE), [("MISSING", "Missing key: correlation_id", "context.correlation_id")]),
        (_job(extra=1), [("UNKNOWN", "Extra keys present: extra", None)]),
        (_job(actions=[]), [("INVALID", "List is shorter than 1", "actions")]),
        (_job(context__switches=["a"]), [("INVALID", "Not an integer", "context.switches.0")]),
        (_job(actions__0__body={1: "x"}), [("INVALID", "Not a unicode string", "actions.0.body.1")]),
    ],
)
def test_observed_error_examples(job: dict[str, Any], expected: list[tuple[str, str, str | None]]) -> None:
    """Each observed PySOA validation failure is reproduced exactly (code, message, field pointer)."""
    assert not looks_valid_job_request(job)
    assert _as_tuples(validate_job_request(job)) == expected


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ("not a dict", [("INVALID", "Not a dict", None)]),
        (_job(control=_DELETE), [("MISSING", "Missing key: control", "control")]),
        (
            _job(control__continue_on_error=_DELETE),
            [("MISSING", "Missing key: continue_on_error", "control.continue_on_error")],
        ),
        (_job(control__continue_on_error=0), [("INVALID", "Not a boolean", "control.continue_on_error")]),
        (_job(context__switches=_DELETE), [("MISSING", "Missing key: switches", "context.switches")]),
        (_job(context__switches=(1,)), [("INVALID", "Not a list", "context.switches")]),
        (_job(context__switches=[True]), [("INVALID", "Not an integer", "context.switches.0")]),
        (_job(context__correlation_id=5), [("INVALID", "Not a unicode string", "context.correlation_id")]),
        (_job(actions={}), [("INVALID", "Not a list", "actions")]),
        (_job(actions__0__action=_DELETE), [("MISSING", "Missing key: action", "actions.0.action")]),
        (_job(actions__0__action=1), [("INVALID", "Not a unicode string", "actions.0.action")]),
        (_job(actions__0__body=[]), [("INVALID", "Not a dict", "actions.0.body")]),
        (_job(actions__0__other=1), [("UNKNOWN", "Extra keys present: other", "actions.0")]),
        (
            {"context": {}, "actions": [1]},
            [
                ("MISSING", "Missing key: control", "control"),
                ("MISSING", "Missing key: correlation_id", "context.correlation_id"),
                ("MISSING", "Missing key: switches", "context.switches"),
                ("INVALID", "Not a dict", "actions.0"),
            ],
        ),
    ],
)
def test_protocol_rules(job: Any, expected: list[tuple[str, str, str | None]]) -> None:
    """Every rule of the job request shape is enforced, with Conformity's messages in its order."""
    assert not looks_valid_job_request(job)
    assert _as_tuples(validate_job_request(job)) == expected


@pytest.mark.parametrize(
    "job",
    [
        _job(actions__0__body=_DELETE),
        _job(actions__0__body={"k": {1: "deep int keys pass"}}),
        _job(context__switches=[]),
        _job(control={"continue_on_error": True}),
        {**VALID, "actions": [{"action": "a"}, {"action": "b", "body": {}}]},
    ],
)
def test_valid_variants(job: dict[str, Any]) -> None:
    """Optional body, int keys deeper in a body, empty switches and minimal headers are all accepted (and pass
    the fast checks too)."""
    assert validate_job_request(job) == []
    assert looks_valid_job_request(job)


def test_unusual_but_valid_types_take_the_exact_path() -> None:
    """Dict subclasses fail the fast checks but are accepted by the exact schema, as by Conformity."""
    job = OrderedDict(VALID)
    assert not looks_valid_job_request(job)
    assert validate_job_request(job) == []


def test_component_schemas_are_exported() -> None:
    """The header and action schemas are available separately under PySOA's names."""
    assert ControlHeaderSchema.allow_extra_keys is True
    assert ContextHeaderSchema.allow_extra_keys is True
    assert ActionRequestSchema.optional_keys == frozenset({"body"})
    assert JobRequestSchema.introspect()["contents"]["actions"]["min_length"] == 1


def test_validation_does_not_mutate_the_request() -> None:
    """Validating leaves the request dict untouched."""
    job = copy.deepcopy(VALID)
    validate_job_request(job)
    assert job == VALID
