"""Paths into nested data and [[…]] substitution."""

from __future__ import annotations

from typing import Any

import pytest

from pysoa_like.test.plan.errors import StatusError
from pysoa_like.test.plan.grammar.tools import (
    VACANT,
    get_all_paths,
    has_substitution,
    path_get,
    path_put,
    split_path,
    substitute_variables,
)


@pytest.mark.parametrize(
    ("path", "elements"),
    [
        ("loan.due_at", ["loan", "due_at"]),
        ("copies.1.barcode", ["copies", 1, "barcode"]),
        ("meta.{isbn.13}", ["meta", "isbn.13"]),
        ("shelves.{3}", ["shelves", "3"]),
        ("a.{b.{c}.d}.e", ["a", "b.{c}.d", "e"]),
        ("x-y_z", ["x-y_z"]),
    ],
)
def test_split_path(path: str, elements: list[Any]) -> None:
    """Digits are list indices, braces protect one literal key (nested braces balance)."""
    assert split_path(path) == elements


@pytest.mark.parametrize("path", ["a.{b", "a.b}", "a..b", ".a", "a.", "a{b", "{a}b", "", "{a}}"])
def test_split_path_rejects_malformed_paths(path: str) -> None:
    """Unbalanced braces and empty elements are errors, not silent keys."""
    with pytest.raises(ValueError, match="path"):
        split_path(path)


@pytest.mark.parametrize(
    ("path", "result"),
    [
        ("loan.due_at", {"loan": {"due_at": "V"}}),
        ("copies.1.barcode", {"copies": [{}, {"barcode": "V"}]}),
        ("copies.2", {"copies": [{}, {}, "V"]}),
        ("grid.1.0", {"grid": [[], ["V"]]}),
        ("meta.{isbn.13}", {"meta": {"isbn.13": "V"}}),
        ("shelves.{3}", {"shelves": {"3": "V"}}),
    ],
)
def test_path_put_builds_the_documented_structures(path: str, result: dict[str, Any]) -> None:
    """Missing containers are created by the next element's kind; lists are padded with empty containers."""
    out: dict[str, Any] = {}
    path_put(out, path, "V")
    assert out == result


def test_path_put_writes_into_existing_structures_and_last_wins() -> None:
    """Later lines add to what earlier ones built; the same path written twice keeps the last value."""
    out: dict[str, Any] = {}
    path_put(out, "copies.1.barcode", "B")
    path_put(out, "copies.0.barcode", "A")
    path_put(out, "copies.1.barcode", "C")
    path_put(out, "copies.3", "D")
    assert out == {"copies": [{"barcode": "A"}, {"barcode": "C"}, {}, "D"]}


def test_path_put_padding_for_expectations_is_vacant_everywhere() -> None:
    """With the vacant padding, filler entries (intermediate or final) match anything and are replaced when written."""
    out: dict[str, Any] = {}
    path_put(out, "copies.2.barcode", "X", padding=lambda: VACANT)
    assert out["copies"][:2] == [VACANT, VACANT]
    path_put(out, "copies.0.shelf", 4, padding=lambda: VACANT)
    assert out["copies"][0] == {"shelf": 4}
    assert VACANT == "anything"
    assert (VACANT != 5) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [("a.b", "a.b.c"), ("a.0", "a.b"), ("a", "a.0")],
)
def test_path_put_refuses_to_write_below_a_scalar_or_a_key_into_a_list(first: str, second: str) -> None:
    """A value in the way is a clean error naming the path (PySOA raised a raw TypeError)."""
    out: dict[str, Any] = {}
    path_put(out, first, "x")
    with pytest.raises(ValueError, match=second.replace(".", r"\.")):
        path_put(out, second, "y")


def test_path_get_resolves_dicts_lists_tuples_and_sorted_sets() -> None:
    """Keys must exist; indices must be in range; sets are read in sorted order."""
    data = {"a": [{"b": (1, 2)}], "s": {3, 1, 2}, "{x}": 1, "3": "three"}
    assert path_get(data, "a.0.b.1") == 2
    assert path_get(data, "s.0") == 1
    assert path_get(data, "{3}") == "three"
    assert path_get(data, "3") == "three"
    for missing in ("a.1", "a.0.c", "b", "a.0.b.2", "a.0.b.1.x"):
        with pytest.raises(LookupError):
            path_get(data, missing)


def test_get_all_paths_lists_leaves_with_empty_containers_and_braced_keys() -> None:
    """Every leaf, including explicitly empty containers; keys with dots or only digits are braced."""
    data = {"a": {"b": 1, "c": []}, "d": [{}, 2], "e.f": 3, "4": 5}
    assert get_all_paths(data) == ["a.b", "a.c", "d.0", "d.1", "{e.f}", "{4}"]
    assert get_all_paths({}, "root", allow_blank=True) == ["root"]


RESPONSES = {
    "get_book.0": {"book": {"id": 311, "title": "Dune", "tags": ["sf"]}},
    "get_book.1": {"book": {"id": 412}},
    "shelf2.0": {"code": "S2"},
    "failed.0": None,
}
CONSTANTS = {"members": [{"id": "m-100"}, {"id": "m-200"}], "branch": {"code": "N1"}, "Mixed": {"Key": "k"}}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[[GET_BOOK.book.id]]", 311),
        ("[[GET_BOOK.0.book.title]]", "Dune"),
        ("[[GET_BOOK.1.book.id]]", 412),
        ("[[get_book.1.book.id]]", 412),
        ("[[SHELF2.0.code]]", "S2"),
        ("[[SHELF2.code]]", "S2"),
        ("[[members.1.id]]", "m-200"),
        ("[[branch.code]]", "N1"),
        ("[[BRANCH.code]]", "N1"),
        ("[[Mixed.Key]]", "k"),
        ("[[GET_BOOK.book.tags]]", ["sf"]),
        ("Lent at [[branch.code]] to [[members.0.id]]", "Lent at N1 to m-100"),
        ("book [[GET_BOOK.book.id]]!", "book 311!"),
        ("no tokens", "no tokens"),
    ],
)
def test_substitution(text: str, value: Any) -> None:
    """Responses by action path (index 0 by default, any letter case), then constants; a lone token keeps its type."""
    assert substitute_variables({"v": text}, RESPONSES, CONSTANTS) == {"v": value}


def test_substitution_rewrites_text_leaves_in_place_but_never_keys() -> None:
    """Nested dicts and lists are rewritten in place; keys holding tokens stay as written."""
    data = {"[[branch.code]]": ["[[branch.code]]", {"x": "[[members.0.id]]", "n": 5}]}
    assert substitute_variables(data, RESPONSES, CONSTANTS) is data
    assert data == {"[[branch.code]]": ["N1", {"x": "m-100", "n": 5}]}


def test_unresolvable_token_is_a_status_error_naming_it() -> None:
    """A token that resolves nowhere names itself and the keys it looked in."""
    with pytest.raises(StatusError, match=r"\[\[nothing.here\]\].*get_book\.0.*branch"):
        substitute_variables({"v": "[[nothing.here]]"}, RESPONSES, CONSTANTS)


def test_reference_to_an_action_without_response_says_so() -> None:
    """An action that returned no response (a job error) is named, instead of a crash."""
    with pytest.raises(StatusError, match=r"failed\.0 returned no action response"):
        substitute_variables({"v": "[[FAILED.0.x]]"}, RESPONSES, CONSTANTS)


def test_has_substitution() -> None:
    """Only well-formed tokens count."""
    assert has_substitution("a [[b.c]] d")
    assert not has_substitution("[[ b ]]") and not has_substitution("[b]")
