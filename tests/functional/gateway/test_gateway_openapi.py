"""The gateway's OpenAPI document (from the shop's introspection), checked by a validator, and its docs page."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.functional.gateway import shop
from tests.functional.gateway.conftest import GatewayFactory, shop_client_settings


@pytest.fixture
def document(gateway: httpx.Client) -> dict[str, Any]:
    """The gateway's /openapi.json."""
    response = gateway.get("/openapi.json")
    assert response.status_code == 200
    value: dict[str, Any] = response.json()
    return value


def _validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A JSON Schema validator of the schema at ``pointer`` in the document (its $refs resolved in it)."""
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(document, DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def _content_pointer(path: str, status: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/post/responses/{status}/content/application~1json/schema"


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """openapi-spec-validator accepts the document as OpenAPI 3.1."""
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_exposed_action_has_a_path_and_nothing_else_does(document: dict[str, Any]) -> None:
    """One POST path per exposed action, the job path, health; hidden and built-in actions are absent."""
    expected = {f"/shop/{name}" for name in shop.EXPOSED} | {"/shop", "/healthz"}
    assert set(document["paths"]) == expected


def test_schemas_come_from_the_services_introspection(document: dict[str, Any]) -> None:
    """The square action's request schema says what its Conformity fields say."""
    square = document["paths"]["/shop/square"]["post"]
    schema = square["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["number"] == {"type": "integer", "maximum": 1000, "description": "The number to square"}
    assert schema["required"] == ["number"] and schema["additionalProperties"] is False
    assert square["summary"] == "Squares a number (at most 1000)."


def test_private_actions_need_a_bearer_token_in_the_document(document: dict[str, Any]) -> None:
    """A private action lists the bearer scheme with its scopes, and its 401 and 403 answers."""
    cancel = document["paths"]["/shop/cancel_order"]["post"]
    assert cancel["security"] == [{"bearerAuth": ["orders:write"]}]
    assert {"401", "403"} <= set(cancel["responses"])
    assert "security" not in document["paths"]["/shop/echo"]["post"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (pysoa_like.auth).",
    }


def test_pydantic_models_are_described_with_their_definitions(document: dict[str, Any]) -> None:
    """A pydantic request schema keeps its nested models (as components) and dates as the tagged encoding."""
    book = document["paths"]["/shop/book"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    guest = book["properties"]["guest"]["$ref"]
    assert guest == "#/components/schemas/shop.book.Guest"
    assert document["components"]["schemas"]["shop.book.Guest"]["properties"]["name"]["type"] == "string"
    assert book["properties"]["nights"]["items"] == {"$ref": "#/components/schemas/Date"}


def test_live_answers_match_the_documented_schemas(gateway: httpx.Client, document: dict[str, Any]) -> None:
    """Real answers validate against the document: success bodies, tagged values, error answers, a job."""
    cases = [
        ("/shop/square", {"number": 3}, "200"),
        ("/shop/typed", {}, "200"),
        ("/shop/square", {"number": "x"}, "400"),
        ("/shop/fail", {}, "500"),
        ("/shop/cancel_order", {"order_id": 1}, "401"),
    ]
    for path, body, status in cases:
        response = gateway.post(path, json=body)
        assert str(response.status_code) == status, path
        pointer = _content_pointer(path, status)
        if status != "200":
            pointer = f"/components/responses/Error{status}/content/application~1json/schema"
        _validator(document, pointer).validate(response.json())
    job = gateway.post("/shop", json={"actions": [{"action": "square", "body": {"number": 2}}, {"action": "typed"}]})
    _validator(document, _content_pointer("/shop", "200")).validate(job.json())
    request = {"actions": [{"action": "square", "body": {"number": 2}}]}
    _validator(document, "/paths/~1shop/post/requestBody/content/application~1json/schema").validate(request)


def test_a_request_the_schema_refuses_is_refused_by_the_document_too(document: dict[str, Any]) -> None:
    """The documented request schema refuses what the service refuses (a validator agrees with the server)."""
    pointer = "/paths/~1shop~1square/post/requestBody/content/application~1json/schema"
    validator = _validator(document, pointer)
    assert validator.is_valid({"number": 3})
    assert not validator.is_valid({"number": 1001})
    assert not validator.is_valid({"number": "x"})


def test_a_service_that_does_not_answer_is_listed_without_operations(make_gateway: GatewayFactory) -> None:
    """A service that cannot describe itself is named in the tags with the reason; the document stays valid."""
    client_settings = {
        "shop": {
            "transport": {
                "path": "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport",
                "kwargs": {
                    "backend_type": "redis.standard",
                    "backend_layer_kwargs": {"hosts": ["redis://127.0.0.1:9/0"]},
                },
            }
        }
    }
    document = make_gateway(client_settings=client_settings).get("/openapi.json").json()
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["tags"][0]["name"] == "shop"
    assert document["tags"][0]["description"].startswith("Not described: ")
    assert set(document["paths"]) == {"/healthz"}


def test_a_service_that_does_not_answer_delays_the_document_by_the_gateway_timeout_at_most_once(
    make_gateway: GatewayFactory, shop_redis_url: str
) -> None:
    """A service with no worker is asked with the gateway's timeout (it was 10 s whatever the settings), and once a
    document exists it is served at once while a new one is built in the background (every request waited for
    the rebuild, behind a lock, each time the document was due)."""
    client_settings = shop_client_settings(shop_redis_url)
    client_settings["ghost"] = client_settings["shop"]  # the same Redis; no ghost worker runs
    gateway = make_gateway(
        client_settings=client_settings,
        expose={"shop": ["square"], "ghost": "*"},
        timeout=1,
        openapi_refresh_seconds=0.5,
    )
    started = time.monotonic()
    first = gateway.get("/openapi.json").json()
    assert time.monotonic() - started < 3
    tags = {tag["name"]: tag["description"] for tag in first["tags"]}
    assert tags["ghost"].startswith("Not described: ") and "/shop/square" in first["paths"]
    for _ in range(3):
        time.sleep(0.6)  # the document is due again: a rebuild, which waits for ghost again, starts
        started = time.monotonic()
        again = gateway.get("/openapi.json")
        assert time.monotonic() - started < 0.5
        assert again.status_code == 200 and "/shop/square" in again.json()["paths"]


def test_the_docs_page_and_its_assets_are_served_by_the_gateway(gateway: httpx.Client) -> None:
    """/docs is HTML that loads only the gateway's own assets (a CSP of 'self'); / leads there."""
    page = gateway.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="docs/assets/docs.js"' in page.text and "http" not in page.text.split("<body>")[0]
    for name, kind in (("docs.js", "text/javascript"), ("docs.css", "text/css")):
        asset = gateway.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert gateway.get("/docs/assets/other.js").status_code == 404
    home = gateway.get("/", follow_redirects=False)
    assert home.status_code in (302, 307) and home.headers["location"] == "docs"


def test_without_docs_only_the_document_is_served(make_gateway: GatewayFactory) -> None:
    """docs=False: no page at /docs (only the job route POST /{service} matches it), / leads to /openapi.json."""
    gateway = make_gateway(docs=False)
    assert gateway.get("/docs").status_code == 405
    assert gateway.get("/docs/assets/docs.js").status_code == 404
    assert gateway.get("/", follow_redirects=False).headers["location"] == "openapi.json"
    assert gateway.get("/openapi.json").status_code == 200
