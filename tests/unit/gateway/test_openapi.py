"""The OpenAPI document built from a real ``introspect`` answer: valid OpenAPI 3.1, schemas agreeing with the fields."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest
from currint import Amount
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pysoa_like.client.client import Client
from pysoa_like.common import fields
from pysoa_like.gateway.encoding import to_json_value
from pysoa_like.gateway.openapi import build_document, field_schema
from pysoa_like.server.action.base import Action
from pysoa_like.server.action.switched import SwitchedAction
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

EVERYTHING = fields.Dictionary(
    {
        "count": fields.Integer(gt=0, lt=10),
        "ratio": fields.Float(gte=0.5, lte=2),
        "price": fields.Decimal(),
        "name": fields.UnicodeString(min_length=2, max_length=5, allow_blank=False),
        "blob": fields.ByteString(),
        "flag": fields.Boolean(),
        "anything": fields.Anything(),
        "kind": fields.Constant("a", "b"),
        "maybe": fields.Nullable(fields.Integer()),
        "either": fields.Any(fields.Integer(), fields.UnicodeString()),
        "both": fields.All(fields.Integer(), fields.Integer(gte=0)),
        "tags": fields.List(fields.UnicodeString(), min_length=1, max_length=3),
        "unique": fields.Set(fields.Integer()),
        "pair": fields.Tuple(fields.Integer(), fields.UnicodeString()),
        "labels": fields.SchemalessDictionary(value_type=fields.Integer(), max_length=4),
        "by_id": fields.SchemalessDictionary(key_type=fields.Integer()),
    },
    optional_keys=("maybe",),
)


class AllFieldsAction(Action):
    """Takes every kind of field.

    More words.
    """

    request_schema = EVERYTHING
    response_schema = EVERYTHING

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return dict(request.body)


class OldAction(Action):
    """An old action."""

    deprecated = "use all_fields"

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class PrivateAction(Action):
    """Needs a token."""

    required_scopes = ("orders:read",)
    request_schema = fields.Dictionary({"id": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class V1(Action):
    request_schema = fields.Dictionary({"v1": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class V2(Action):
    request_schema = fields.Dictionary({"v2": fields.Integer()})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {}


class VersionedAction(SwitchedAction):
    switch_to_action_map = ((5, V2), (SwitchedAction.DEFAULT_ACTION, V1))


class DescribedServer(Server):
    """A service with everything to describe."""

    service_name = "described"
    action_class_map = {
        "all_fields": AllFieldsAction,
        "old": OldAction,
        "private": PrivateAction,
        "versioned": VersionedAction,
        "internal": OldAction,
    }


SERVER_SETTINGS = {
    "middleware": [{"path": "pysoa_like.auth:ApiTokenMiddleware", "kwargs": {"tokens": {"x": "t" * 20}}}]
}


@pytest.fixture(scope="module")
def introspection() -> dict[str, Any]:
    """What the described service's introspect action answers (over the local transport)."""
    transport = {
        "path": "pysoa_like.common.transport.local:LocalClientTransport",
        "kwargs": {"server_class": DescribedServer, "server_settings": SERVER_SETTINGS},
    }
    body: dict[str, Any] = Client({"described": {"transport": transport}}).call_action("described", "introspect").body
    return body


@pytest.fixture(scope="module")
def document(introspection: dict[str, Any]) -> dict[str, Any]:
    """The document exposing every action but ``internal``."""
    expose = {"described": frozenset({"all_fields", "old", "private", "versioned"})}
    return build_document("Test API", "2.0", expose, {"described": introspection})


def _validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:doc", Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:doc#{pointer}"}, registry=registry)


def _request_pointer(path: str) -> str:
    return f"/paths/{path.replace('/', '~1')}/post/requestBody/content/application~1json/schema"


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts it; the info and paths are the exposed ones."""
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["info"]["title"] == "Test API" and document["info"]["version"] == "2.0"
    assert set(document["paths"]) == {
        "/described/all_fields",
        "/described/old",
        "/described/private",
        "/described/versioned",
        "/described",
        "/healthz",
    }


def test_values_the_fields_accept_the_schema_accepts_in_their_json_encoding(document: dict[str, Any]) -> None:
    """A body valid for the Conformity-style fields, encoded for JSON, is valid for the generated schema."""
    body = {
        "count": 3,
        "ratio": 1.0,
        "price": decimal.Decimal("1.50"),
        "name": "abc",
        "blob": b"\x00",
        "flag": True,
        "anything": {"x": [datetime.date(2026, 1, 1)]},
        "kind": "b",
        "maybe": None,
        "either": "text",
        "both": 4,
        "tags": ["x"],
        "unique": [1, 2],
        "pair": [1, "x"],
        "labels": {"a": 1},
        "by_id": {1: "x"},
    }
    assert EVERYTHING.errors({**body, "unique": {1, 2}, "pair": (1, "x")}) == []
    _validator(document, _request_pointer("/described/all_fields")).validate(to_json_value(body))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("count", 10),
        ("count", 0),
        ("ratio", 2.5),
        ("price", 1.5),
        ("name", "a"),
        ("name", "   "),
        ("name", "toolong"),
        ("blob", "text"),
        ("kind", "c"),
        ("either", 1.5),
        ("tags", []),
        ("tags", ["a", "b", "c", "d"]),
        ("unique", [1, 1]),
        ("pair", [1, 2]),
        ("pair", [1, "x", 3]),
        ("labels", {"a": "x"}),
        ("labels", {str(i): i for i in range(5)}),
    ],
)
def test_values_the_fields_refuse_the_schema_refuses(document: dict[str, Any], key: str, value: Any) -> None:
    """Bounds, lengths, blank strings, constants, tuples and value types: the schema refuses what the field does."""
    valid = {
        "count": 3, "ratio": 1.0, "price": {"$decimal": "1"}, "name": "abc", "blob": {"$bytes": ""}, "flag": True,
        "anything": None, "kind": "a", "either": 1, "both": 1, "tags": ["x"], "unique": [1], "pair": [1, "x"],
        "labels": {}, "by_id": {},
    }  # fmt: skip
    validator = _validator(document, _request_pointer("/described/all_fields"))
    assert validator.is_valid(valid)
    assert not validator.is_valid({**valid, key: value})
    assert not validator.is_valid({**valid, "extra": 1})
    assert not validator.is_valid({k: v for k, v in valid.items() if k != "count"})


def test_deprecated_private_and_switched_actions_are_described(document: dict[str, Any]) -> None:
    """deprecated: true; a bearer requirement with the scopes; a switched action's variants, each schema."""
    assert document["paths"]["/described/old"]["post"]["deprecated"] is True
    private = document["paths"]["/described/private"]["post"]
    assert private["security"] == [{"bearerAuth": ["orders:read"]}]
    assert "orders:read" in private["description"]
    versioned = document["paths"]["/described/versioned"]["post"]
    schema = versioned["requestBody"]["content"]["application/json"]["schema"]
    assert [sorted(option["properties"]) for option in schema["anyOf"]] == [["v2"], ["v1"]]
    assert "versioned[switch:5]" in versioned["description"]


def test_summary_and_description_come_from_the_docstrings(document: dict[str, Any]) -> None:
    """The summary is the docstring's first line; the tag carries the service's documentation."""
    operation = document["paths"]["/described/all_fields"]["post"]
    assert operation["summary"] == "Takes every kind of field."
    assert "More words." in operation["description"]
    assert document["tags"] == [{"name": "described", "description": "A service with everything to describe."}]


def test_exposing_everything_leaves_out_the_builtin_actions(introspection: dict[str, Any]) -> None:
    """With "*", every action the service describes but introspect and status gets a path."""
    document = build_document("T", "1", {"described": "*"}, {"described": introspection})
    validate(document, cls=OpenAPIV31SpecValidator)
    assert "/described/internal" in document["paths"]
    assert not {"/described/status", "/described/introspect"} & set(document["paths"])


def test_the_job_path_lists_each_exposed_action_with_its_body(document: dict[str, Any]) -> None:
    """The job's request schema accepts exposed actions with valid bodies only."""
    validator = _validator(document, _request_pointer("/described"))
    assert validator.is_valid({"actions": [{"action": "private", "body": {"id": 1}}], "continue_on_error": True})
    assert not validator.is_valid({"actions": [{"action": "private", "body": {"id": "x"}}]})
    assert not validator.is_valid({"actions": [{"action": "internal"}]})
    assert not validator.is_valid({"actions": []})


@pytest.mark.parametrize(
    ("introspection", "schema"),
    [
        ({"type": "datetime"}, {"$ref": "#/components/schemas/DateTime"}),
        ({"type": "date", "description": "when"}, {"$ref": "#/components/schemas/Date", "description": "when"}),
        ({"type": "time"}, {"$ref": "#/components/schemas/Time"}),
        ({"type": "currint.Amount"}, {"$ref": "#/components/schemas/Amount"}),
        ({"type": "email_address"}, {"type": "string", "format": "email"}),
        ({"type": "class_config_dictionary"}, {"x-pysoa-type": "class_config_dictionary"}),
        (None, {}),
    ],
)
def test_conformity_types_of_other_libraries_map_to_the_encoding(introspection: Any, schema: dict[str, Any]) -> None:
    """Conformity's temporal and currint fields are the tagged schemas; unknown types accept anything, named."""
    assert field_schema(introspection) == schema


def test_an_amount_schema_accepts_the_encoded_amount() -> None:
    """The Amount component accepts what the encoding writes for an Amount, and nothing looser."""
    document = build_document("T", "1", {}, {})
    validator = _validator(document, "/components/schemas/Amount")
    assert validator.is_valid(to_json_value(Amount.from_code_and_minor("EUR", 5)))
    assert not validator.is_valid({"$amount": {"currency": "EUR"}})


@pytest.mark.parametrize(
    "malformed",
    [
        {"actions": [1, 2]},
        {"actions": "all"},
        ["not", "a", "dict"],
        {"actions": {"get": {"request_schema": {"type": "dictionary", "contents": [1, 2]}}}},
        {"actions": {"get": {"request_schema": {"type": "list", "contents": {"type": "dictionary", "contents": 5}}}}},
    ],
)
def test_a_service_whose_introspection_cannot_be_read_is_listed_undescribed(
    introspection: dict[str, Any], malformed: Any
) -> None:
    """An ``introspect`` answer of an unexpected shape leaves that service undescribed (its tag says why) and the
    others whole, in a valid document; it raised, and GET /openapi.json (and so the docs page) was a 500."""
    expose: dict[str, frozenset[str] | str] = {"odd": "*", "described": frozenset({"old"})}
    document = build_document("Test API", "2.0", expose, {"odd": malformed, "described": introspection})
    validate(document, cls=OpenAPIV31SpecValidator)
    tags = {tag["name"]: tag["description"] for tag in document["tags"]}
    assert tags["odd"].startswith("Not described: its introspection could not be read (")
    assert set(document["paths"]) == {"/described/old", "/described", "/healthz"}


def test_every_action_lists_the_408_of_a_body_that_does_not_arrive_in_time(document: dict[str, Any]) -> None:
    """The gateway answers 408 when a call's body has not all arrived within its deadline: the document says so."""
    operation = document["paths"]["/described/all_fields"]["post"]
    assert operation["responses"]["408"] == {"$ref": "#/components/responses/Error408"}
    assert "Error408" in document["components"]["responses"]
