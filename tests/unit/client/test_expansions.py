"""Tests for expansion configuration, expansion trees and expansions performed by client calls."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.client.errors import CallActionError, CallJobError, InvalidExpansionKey
from pysoa_like.client.expander import ExpansionConverter, ExpansionNode, ExpansionSettings, TypeNode
from pysoa_like.common.settings import Settings, SettingsError
from pysoa_like.test.compatibility import mock
from tests.unit.client.conftest import MakeClient, transport_of

AUTHORS = {
    1: {"_type": "author", "id": 1, "name": "Ann", "employer_id": 10, "book_ids": [100]},
    2: {"_type": "author", "id": 2, "name": "Bob", "employer_id": 0},
}
EMPLOYERS = {10: {"_type": "employer", "id": 10, "name": "Acme", "owner_id": 1}}

EXPANSION_CONFIG: dict[str, Any] = {
    "type_routes": {
        "author_route": {
            "service": "authors",
            "action": "get_authors",
            "request_field": "ids",
            "response_field": "authors",
        },
        "employer_route": {
            "service": "authors",
            "action": "get_employers",
            "request_field": "ids",
            "response_field": "employers",
        },
        "broken_route": {"service": "broken", "action": "get", "request_field": "ids", "response_field": "items"},
    },
    "type_expansions": {
        "book": {
            "author": {
                "type": "author",
                "route": "author_route",
                "source_field": "author_id",
                "destination_field": "author",
            },
            "strict": {
                "type": None,
                "route": "broken_route",
                "source_field": "author_id",
                "destination_field": "strict",
                "raise_action_errors": True,
            },
            "lenient": {
                "type": None,
                "route": "broken_route",
                "source_field": "author_id",
                "destination_field": "lenient",
            },
        },
        "author": {
            "employer": {
                "type": "employer",
                "route": "employer_route",
                "source_field": "employer_id",
                "destination_field": "employer",
            },
        },
        "employer": {
            "owner": {
                "type": "author",
                "route": "author_route",
                "source_field": "owner_id",
                "destination_field": "owner",
            },
        },
    },
}


def author_service(body: dict[str, Any]) -> dict[str, Any]:
    """Serve get_authors/get_employers from the tables above, echoing anything else."""
    actions = []
    for action in body["actions"]:
        if action["action"] == "get_authors":
            result = {"authors": {i: dict(AUTHORS[i]) for i in action["body"]["ids"] if i in AUTHORS}}
        elif action["action"] == "get_employers":
            result = {"employers": {i: dict(EMPLOYERS[i]) for i in action["body"]["ids"]}}
        else:
            result = action["body"]
        actions.append({"action": action["action"], "errors": [], "body": result})
    return {"errors": [], "context": body["context"], "actions": actions}


def broken_service(body: dict[str, Any]) -> dict[str, Any]:
    return {"errors": [], "actions": [{"action": "get", "errors": [{"code": "BROKEN", "message": "no"}]}]}


def books(*author_ids: int) -> dict[str, Any]:
    return {"books": [{"_type": "book", "id": n, "author_id": a} for n, a in enumerate(author_ids)]}


@pytest.fixture
def client(make_client: MakeClient) -> Any:
    return make_client(
        {"books": {}, "authors": {"responder": author_service}, "broken": {"responder": broken_service}},
        expansion_config=EXPANSION_CONFIG,
    )


def requests_to(client: Any, service: str) -> list[dict[str, Any]]:
    return [body for _, _, body, _ in transport_of(client, service).sent]


# Configuration


def test_expansion_settings_accept_the_documented_shape() -> None:
    """A valid config is a read-only mapping with both keys."""
    settings = ExpansionSettings(EXPANSION_CONFIG)
    assert set(settings) == {"type_routes", "type_expansions"}
    assert settings["type_routes"]["author_route"]["service"] == "authors"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"type_routes": {"r": {"service": "s", "action": "a", "request_field": "f"}}},
            "type_routes.r.response_field: missing",
        ),
        (
            {"type_routes": {"r": {"service": 1, "action": "a", "request_field": "f", "response_field": "g"}}},
            "type_routes.r.service",
        ),
        (
            {
                "type_expansions": {
                    "t": {"e": {"type": None, "route": "nope", "source_field": "a", "destination_field": "b"}}
                }
            },
            "no type route",
        ),
        (
            {
                "type_routes": {"r": {"service": "s", "action": "a", "request_field": "f", "response_field": "g"}},
                "type_expansions": {
                    "t": {"e": {"type": None, "route": "r", "source_field": "a", "destination_field": "a"}}
                },
            },
            "must differ",
        ),
        (
            {
                "type_routes": {"r": {"service": "s", "action": "a", "request_field": "f", "response_field": "g"}},
                "type_expansions": {
                    "t": {
                        "e": {
                            "type": None,
                            "route": "r",
                            "source_field": "a",
                            "destination_field": "b",
                            "raise_action_errors": "yes",
                        }
                    }
                },
            },
            "raise_action_errors",
        ),
        ({"other": {}}, "other: unknown setting"),
        (
            {"type_routes": {1: {"service": "s", "action": "a", "request_field": "f", "response_field": "g"}}},
            "type_routes: each key must be a string, got the key 1",
        ),
    ],
)
def test_expansion_settings_reject_bad_configs(config: dict[str, Any], message: str) -> None:
    """Invalid expansion configs raise ImproperlyConfigured naming the key path."""
    assert ExpansionSettings.ImproperlyConfigured is SettingsError
    with pytest.raises(SettingsError, match=message):
        ExpansionSettings(config)


def test_expansion_settings_have_the_settings_class_api() -> None:
    """Like PySOA's (a Conformity settings class): class-level schema and defaults, set() revalidating."""
    assert issubclass(ExpansionSettings, Settings)
    assert set(ExpansionSettings.schema) == {"type_routes", "type_expansions"}
    assert ExpansionSettings.defaults == {"type_routes": {}, "type_expansions": {}}
    assert ExpansionSettings.schema["type_routes"].errors({"r": {"service": "s"}})
    settings = ExpansionSettings(EXPANSION_CONFIG)
    settings.set({"type_routes": EXPANSION_CONFIG["type_routes"]})
    assert settings["type_expansions"] == {}
    with pytest.raises(ExpansionSettings.ImproperlyConfigured, match="no type route named 'nope'"):
        settings.set(
            {
                "type_expansions": {
                    "t": {"e": {"type": None, "route": "nope", "source_field": "a", "destination_field": "b"}}
                }
            }
        )
    assert settings["type_routes"] == EXPANSION_CONFIG["type_routes"]


def test_client_validates_expansion_config_eagerly(make_client: MakeClient) -> None:
    """A bad expansion config fails when the Client is built."""
    with pytest.raises(SettingsError):
        make_client(expansion_config={"type_routes": {"r": {}}})


# Trees


def test_dict_to_trees_and_back() -> None:
    """Expansion strings become merged trees and convert back to the same strings."""
    converter = ExpansionConverter(EXPANSION_CONFIG["type_routes"], EXPANSION_CONFIG["type_expansions"])
    trees = converter.dict_to_trees({"book": ["author.employer", "author", "lenient"]})
    (book,) = trees
    author = book.get_expansion("author")
    assert isinstance(author, ExpansionNode)
    assert (author.type, author.service, author.action, author.request_field, author.response_field) == (
        "author",
        "authors",
        "get_authors",
        "ids",
        "authors",
    )
    assert author.raise_action_errors is False
    assert [e.name for e in author.expansions] == ["employer"]
    assert ExpansionConverter.trees_to_dict(trees) == {"book": ["author.employer", "lenient"]}


def test_unknown_keys_raise_key_error_in_converter() -> None:
    """dict_to_trees raises KeyError for an unknown type or expansion."""
    converter = ExpansionConverter(EXPANSION_CONFIG["type_routes"], EXPANSION_CONFIG["type_expansions"])
    with pytest.raises(KeyError):
        converter.dict_to_trees({"book": ["publisher"]})
    with pytest.raises(KeyError):
        converter.dict_to_trees({"magazine": ["author"]})


def test_find_objects_searches_recursively_but_not_inside_matches() -> None:
    """find_objects returns matching dicts anywhere in lists and dicts, without descending into a match."""
    inner = {"_type": "book", "id": 2}
    outer = {"_type": "book", "id": 1, "related": inner}
    data = {"a": [outer, {"x": {"_type": "book", "id": 3}}], "b": {"_type": "author"}}
    found = TypeNode("book").find_objects(data)
    assert [obj["id"] for obj in found] == [1, 3]


def test_type_node_add_expansion_merges_children() -> None:
    """Adding an expansion with an existing name merges its children."""
    root = TypeNode("book")
    first = ExpansionNode("author", "author", "a", "b", "s", "act", "rq", "rs")
    first.add_expansion(ExpansionNode(None, "x", "a", "b", "s", "act", "rq", "rs"))
    second = ExpansionNode("author", "author", "a", "b", "s", "act", "rq", "rs")
    second.add_expansion(ExpansionNode(None, "y", "a", "b", "s", "act", "rq", "rs"))
    root.add_expansion(first)
    root.add_expansion(second)
    assert root.to_dict() == {"book": ["author.x", "author.y"]}


# Expansions performed by calls


def test_expansion_batches_ids_per_route_and_fills_destination(client: Any) -> None:
    """All ids of one route go in one request (deduplicated); falsy ids are skipped."""
    response = client.call_action("books", "list", books(1, 2, 1, 0), expansions={"book": ["author"]})
    authored = response.body["books"]
    assert [b.get("author", {}).get("name") for b in authored] == ["Ann", "Bob", "Ann", None]
    (request,) = requests_to(client, "authors")
    assert request["actions"] == [{"action": "get_authors", "body": {"ids": [1, 2]}}]


def test_existing_destination_is_not_overwritten(client: Any) -> None:
    """An object that already has the destination field is not expanded."""
    body = {"books": [{"_type": "book", "author_id": 1, "author": "kept"}]}
    response = client.call_action("books", "list", body, expansions={"book": ["author"]})
    assert response.body["books"][0]["author"] == "kept"
    assert transport_of(client, "authors").sent == []


def test_nested_expansions_including_a_cycle(client: Any) -> None:
    """book.author.employer.owner expands level by level and stops at the end of the tree."""
    response = client.call_action("books", "list", books(1), expansions={"book": ["author.employer.owner"]})
    employer = response.body["books"][0]["author"]["employer"]
    assert employer["name"] == "Acme"
    assert employer["owner"]["name"] == "Ann"
    assert "employer" not in employer["owner"]
    assert [r["actions"][0]["action"] for r in requests_to(client, "authors")] == ["get_authors", "get_employers"]


def test_type_keyed_expansions_apply_to_objects_brought_by_another_expansion(client: Any) -> None:
    """As in PySOA, {"book": ["author"], "author": ["employer"]} expands the employer of the author a book's
    expansion fetched: type-keyed expansions apply at any depth."""
    response = client.call_action("books", "list", books(1), expansions={"book": ["author"], "author": ["employer"]})
    assert response.body["books"][0]["author"]["employer"]["name"] == "Acme"


def test_a_deep_path_of_a_type_applies_to_an_object_brought_by_another_expansion(client: Any) -> None:
    """A two-level path keyed by a type ("author": ["employer.owner"]) applies to an author that itself arrived
    through the book's expansion: three levels below the response in all."""
    response = client.call_action(
        "books", "list", books(1), expansions={"book": ["author"], "author": ["employer.owner"]}
    )
    owner = response.body["books"][0]["author"]["employer"]["owner"]
    assert owner["name"] == "Ann"


def test_cyclic_data_with_type_keyed_expansions_ends(client: Any) -> None:
    """author -> employer -> owner (the same author again) is filled in but not expanded further: it would be its
    own ancestor. Each id is fetched once."""
    expansions = {"book": ["author"], "author": ["employer"], "employer": ["owner"]}
    response = client.call_action("books", "list", books(1), expansions=expansions)
    owner = response.body["books"][0]["author"]["employer"]["owner"]
    assert owner["name"] == "Ann"
    assert "employer" not in owner
    assert [r["actions"][0]["action"] for r in requests_to(client, "authors")] == ["get_authors", "get_employers"]


def test_invalid_expansion_key_is_raised(client: Any) -> None:
    """An unknown type or expansion name raises InvalidExpansionKey."""
    with pytest.raises(InvalidExpansionKey, match="publisher"):
        client.call_action("books", "list", books(1), expansions={"book": ["publisher"]})


@pytest.mark.parametrize(
    ("expansions", "message"),
    [
        ("book.author", r"expansions must be a mapping \(a dict\) or None, got 'book.author'"),
        ({"book": "author"}, r"expansions\['book'\] must be a list of expansion names, got 'author'"),
        ({"book": [1]}, r"expansions\['book'\]: 1 is not an expansion name"),
    ],
)
def test_expansions_of_the_wrong_shape_are_refused_naming_the_argument_and_nothing_is_sent(
    client: Any, expansions: Any, message: str
) -> None:
    """A call's ``expansions`` must be ``{type: [expansion, ...]}``: anything else raises a TypeError naming it before
    the job is sent (a string was an AttributeError after the call, or read one letter per expansion name)."""
    with pytest.raises(TypeError, match=message):
        client.call_action("books", "list", books(1), expansions=expansions)
    assert requests_to(client, "books") == []


def test_expansions_given_as_tuples_or_sets_are_still_accepted(client: Any) -> None:
    """Any list-like collection of expansion names works, not only a list."""
    response = client.call_action("books", "list", books(1), expansions={"book": ("author",)})
    assert response.body["books"][0]["author"]["name"] == "Ann"
    response = client.call_action("books", "list", books(2), expansions={"book": {"author"}})
    assert response.body["books"][0]["author"]["name"] == "Bob"


def test_expansion_errors_are_ignored_unless_raise_action_errors(client: Any) -> None:
    """A failing expansion route leaves the field unset, unless the expansion sets raise_action_errors."""
    response = client.call_action("books", "list", books(1), expansions={"book": ["lenient"]})
    assert "lenient" not in response.body["books"][0]
    with pytest.raises(CallActionError):
        client.call_action("books", "list", books(1), expansions={"book": ["strict"]})


def test_expansion_job_errors_raise_call_job_error(make_client: MakeClient) -> None:
    """A job-level failure of a raising expansion route raises CallJobError."""
    client = make_client(
        {"books": {}, "broken": {"responder": lambda body: {"errors": [{"code": "X", "message": "down"}]}}},
        expansion_config=EXPANSION_CONFIG,
    )
    with pytest.raises(CallJobError):
        client.call_action("books", "list", books(1), expansions={"book": ["strict"]})


def test_headers_pass_through_to_expansion_requests(client: Any) -> None:
    """Expansion requests carry the call's correlation id, switches, context, control_extra and timeout."""
    client.call_action(
        "books", "list", books(1), expansions={"book": ["author"]}, switches=[4], correlation_id="cid",
        context={"auth": "tok"}, control_extra={"foo": "bar"}, timeout=3,
    )  # fmt: skip
    _rid, _meta, body, expiry = transport_of(client, "authors").sent[0]
    assert body["context"] == {"correlation_id": "cid", "switches": [4], "auth": "tok"}
    assert body["control"] == {"continue_on_error": False, "suppress_response": False, "foo": "bar", "timeout": 3}
    assert expiry == 3


def test_expansions_on_parallel_calls_and_futures(client: Any) -> None:
    """expansions= works on call_actions_parallel and on futures."""
    results = list(
        client.call_actions_parallel(
            "books",
            [{"action": "l", "body": books(1)}, {"action": "l", "body": books(2)}],
            expansions={"book": ["author"]},
        )
    )
    assert [r.body["books"][0]["author"]["name"] for r in results] == ["Ann", "Bob"]
    assert len(requests_to(client, "authors")) == 1
    future = client.call_actions_future("books", [{"action": "l", "body": books(2)}], expansions={"book": ["author"]})
    assert future.result().actions[0].body["books"][0]["author"]["name"] == "Bob"


def test_expansions_do_not_drain_other_calls_replies(client: Any) -> None:
    """Expanding a response while a future on the expansion service is outstanding leaves its reply alone (bug 25)."""
    pending = client.call_action_future("authors", "echo", {"n": 1})
    response = client.call_action("books", "list", books(1), expansions={"book": ["author"]})
    assert response.body["books"][0]["author"]["name"] == "Ann"
    assert pending.result().body == {"n": 1}


def test_json_style_string_keys_are_found(make_client: MakeClient) -> None:
    """An id is also looked up as a string, as JSON turns int map keys into strings."""

    def stringly(body: dict[str, Any]) -> dict[str, Any]:
        reply = author_service(body)
        for action in reply["actions"]:
            action["body"] = {k: {str(i): v for i, v in m.items()} for k, m in action["body"].items()}
        return reply

    client = make_client({"books": {}, "authors": {"responder": stringly}}, expansion_config=EXPANSION_CONFIG)
    response = client.call_action("books", "list", books(1), expansions={"book": ["author"]})
    assert response.body["books"][0]["author"]["name"] == "Ann"


def test_no_expansion_config_ignores_expansions(make_client: MakeClient) -> None:
    """Without an expansion config, expansions= does nothing (as in PySOA)."""
    client = make_client({"books": {}})
    assert client.call_action("books", "list", books(1), expansions={"book": ["author"]}).body == books(1)


def test_expansion_requests_go_through_send_request(make_client: MakeClient) -> None:
    """Expansion requests are calls like any other: a send_request override sees them, with the call's context."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(self: Any, service_name: str, actions: Any, **keywords: Any) -> int:
        sent.append((service_name, keywords))
        return original(self, service_name, actions, **keywords)

    client = make_client({"books": {}, "authors": {"responder": author_service}}, expansion_config=EXPANSION_CONFIG)
    original = type(client).send_request
    with mock.patch.object(type(client), "send_request", record):
        response = client.call_action("books", "list", books(1), expansions={"book": ["author"]}, context={"k": "v"})
    assert response.body["books"][0]["author"]["name"] == "Ann"
    assert [service for service, _ in sent] == ["books", "authors"]
    main_correlation_id = sent[0][1]["correlation_id"]
    assert sent[1][1]["context"]["correlation_id"] == main_correlation_id
    assert sent[1][1]["context"]["k"] == "v"
