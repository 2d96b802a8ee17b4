"""Conformity's own fields and classes used with ours: schemas, class configurations, PySOA's request schema."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from conformity import fields as conformity_fields
from conformity.fields import Boolean, Dictionary, Integer, List, SchemalessDictionary, UnicodeString

from pysoa_like.common import fields
from pysoa_like.common.fields.classconfig import INIT_SCHEMA_ATTRIBUTE
from pysoa_like.common.schema import introspect_schema, resolve_schema
from pysoa_like.server.action.status import StatusActionFactory
from pysoa_like.server.schemas import validate_job_request
from tests.unit.schema import plugins
from tests.unit.schema.test_job_request_schema import _job
from tests.unit.server.test_actions import _request

OURS = "tests.unit.schema.plugins"
THEIRS = "tests.conformity.plugins"


def _as_tuples(errors: Any) -> list[tuple[str, str, str | None]]:
    return [(e.code, e.message, e.pointer) for e in errors]


def test_conformity_fields_are_schemas_as_they_are() -> None:
    """A Conformity field already follows the schema protocol: resolve_schema returns it unchanged."""
    theirs = conformity_fields.Dictionary({"a": conformity_fields.Integer()})
    assert resolve_schema(theirs) is theirs


def test_conformity_field_errors_through_resolve_schema() -> None:
    """A Conformity field resolved as a schema reports Conformity's codes and pointers."""
    schema = resolve_schema(conformity_fields.Dictionary({"a": conformity_fields.List(conformity_fields.Integer())}))
    assert _as_tuples(schema.errors({"a": ["x"], "b": 1})) == [
        ("INVALID", "Not an integer", "a.0"),
        ("UNKNOWN", "Extra keys present: b", None),
    ]


def test_conformity_fields_introspect_to_their_own_dicts() -> None:
    """introspect_schema gives a Conformity field's own introspection."""
    assert introspect_schema(conformity_fields.Boolean()) == {"type": "boolean"}


def test_errors_from_nested_conformity_fields_are_prefixed() -> None:
    """A Conformity field inside one of our containers has its errors re-pointed under the key."""
    field = fields.Dictionary({"a": conformity_fields.List(conformity_fields.Integer())})
    assert _as_tuples(field.errors({"a": ["x"]})) == [("INVALID", "Not an integer", "a.0")]


def test_kwargs_schema_from_conformity_provider() -> None:
    """A class decorated with Conformity's provider has its kwargs checked by that Conformity schema."""
    schema = fields.ClassConfigurationSchema(base_class=plugins.Base)
    path = f"{THEIRS}:ConformityProvided"
    assert _as_tuples(schema.errors({"path": path, "kwargs": {"flag": 1}})) == [
        ("INVALID", "Not a boolean", "kwargs.flag")
    ]
    assert schema.errors({"path": path, "kwargs": {"flag": True}}) == []


def test_our_provider_uses_conformitys_attribute() -> None:
    """Our provider stores the schema where Conformity looks, so Conformity finds our classes' schemas."""
    assert isinstance(getattr(plugins.OurProvided, INIT_SCHEMA_ATTRIBUTE), fields.Dictionary)
    conformity_schema = conformity_fields.ClassConfigurationSchema(base_class=plugins.Base)
    # Conformity accepts only its own Dictionary types, which our class's attribute is not.
    errors = conformity_schema.errors({"path": f"{OURS}:OurProvided", "kwargs": {"size": 1}})
    assert "should be a Dictionary or SchemalessDictionary" in errors[0].message


def test_job_request_errors_match_pysoas_conformity_schema() -> None:
    """On a batch of bad requests our errors equal those of PySOA's Conformity-built schema."""
    action = Dictionary(
        {"action": UnicodeString(), "body": SchemalessDictionary(key_type=UnicodeString())}, optional_keys=["body"]
    )
    reference = Dictionary(
        {
            "control": Dictionary(
                {"continue_on_error": Boolean(), "suppress_response": Boolean()},
                optional_keys=["suppress_response"],
                allow_extra_keys=True,
            ),
            # PySOA 1.4.9's key order, which decides the order of the errors.
            "context": Dictionary(
                {
                    "caller": UnicodeString(),
                    "calling_service": UnicodeString(),
                    "correlation_id": UnicodeString(),
                    "switches": List(Integer()),
                },
                optional_keys=["caller", "calling_service"],
                allow_extra_keys=True,
            ),
            "actions": List(action, min_length=1),
        }
    )
    samples = [
        {},
        [],
        {"control": 1, "context": 2, "actions": 3, "x": 4},
        _job(context__switches=[1, "a", None], actions__0__body={2: 1, "a": 1}),
        _job(actions=[{"body": 1, "zz": 2}]),
        # Seen in interop: PySOA reports the missing correlation id before the bad switch.
        {"control": {"continue_on_error": False}, "context": {"switches": ["x"]}, "actions": [], "extra": 1},
        _job(control__suppress_response="yes", context__caller=5, context__calling_service=None),
    ]
    for sample in samples:
        assert _as_tuples(validate_job_request(sample)) == _as_tuples(reference.errors(sample)), sample


def test_status_reports_the_installed_conformity_version() -> None:
    """The ``status`` action's ``conformity`` key holds the version of the Conformity installed beside us."""
    body = StatusActionFactory("1.0.0")()(_request("status", {"verbose": False})).body
    assert body["conformity"] == importlib.metadata.version("conformity")
