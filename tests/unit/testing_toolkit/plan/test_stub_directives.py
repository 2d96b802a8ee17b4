"""stub action directives: other services' actions answered by stubs, and expectations on their requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallActionError
from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import TestCase as PlanCase
from pysoa_like.test.plan.grammar.directive import TestFixture as PlanFixture
from tests.unit.testing_toolkit.plan.conftest import call_hooks

Parse = Callable[..., PlanFixture]


def case_of(parse: Parse, *lines: str) -> PlanCase:
    """The one test case made of ``lines`` plus an action line."""
    (case,) = parse("test name: t\ntest description: d\nact: input: a: b\n" + "".join(f"{line}\n" for line in lines))
    return case


@pytest.fixture
def started() -> Iterator[Callable[[PlanCase], None]]:
    """``start(case)``: run the test-level set-up hooks; the tear-down hooks run after the test."""
    cases: list[PlanCase] = []

    def start(case: PlanCase) -> None:
        cases.append(case)
        call_hooks("set_up_test_case", case, [case])

    yield start
    for case in cases:
        call_hooks("tear_down_test_case", case, [case])


def test_stub_lines_are_stored_by_service_and_action(parse: Parse) -> None:
    """Bodies are built by path (typed); errors keep code, field and message (none means none)."""
    case = case_of(
        parse,
        "stub action: catalog: check_stock: body int: available: 2",
        "stub action: catalog: check_stock: body: shelf.name: A 1",
        "stub action: members: get_member: error: code=NOT_FOUND, field=none, message=None",
        "stub action: members: get_member: error: code = INVALID , field = member_id , message = Bad, very bad",
        "stub action: members: get_member: error: code=EMPTY, field=NONE, message=",
        "stub action: audit: log.entry: expect called int: level: 3",
        "stub action: audit: log.entry: expect called: text: hello",
        "act: stub action: catalog: reserve: expect called:",
        "act: stub action: catalog: cancel: expect not called:",
        "act: stub action: catalog: cancel: expect not called str: x: ignored",
    )
    stubs = case["stubbed_actions"]
    assert stubs[("catalog", "check_stock")] == {"body": {"available": 2, "shelf": {"name": "A 1"}}}
    assert stubs[("members", "get_member")]["errors"] == [
        {"code": "NOT_FOUND", "field": None, "message": None},
        {"code": "INVALID", "field": "member_id", "message": "Bad, very bad"},
        {"code": "EMPTY", "field": None, "message": None},
    ]
    assert stubs[("audit", "log.entry")] == {"expect_request": {"level": 3, "text": "hello"}}
    assert case["act.0"]["stubbed_actions"] == {
        ("catalog", "reserve"): {"expect_request": {}},
        ("catalog", "cancel"): {"expect_not_called": True},
    }


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["stub action: s: a: body: x: 1", "stub action: s: a: error: code=X, field=none, message=m"],
            "already returns a body",
        ),
        (
            ["stub action: s: a: error: code=X, field=none, message=m", "stub action: s: a: body: x: 1"],
            "already returns errors",
        ),
        (
            ["stub action: s: a: expect called:", "stub action: s: a: expect not called:"],
            "both 'called' and 'not called'",
        ),
        (["act: stub action: s: a: expect not called:", "act: stub action: s: a: expect called: x: 1"], "both"),
        (["stub action: s: a: error: code=X, message=m"], "no directive matches it"),
        (["stub action: s: a: error: code=X, field=f"], "no directive matches it"),
        (["stub action: s: a: body: x"], "no directive matches it"),
        (["stub action: s-1: a: body: x: 1"], "no directive matches it"),
        (["stub action: s: a: expect calld:"], "no directive matches it"),
        (["stub action: s: a: body int: x: many"], "Data type conversion error"),
    ],
)
def test_malformed_stub_lines(parse: Parse, lines: list[str], message: str) -> None:
    """Body and errors exclude each other, as do called and not called; incomplete lines are rejected."""
    with pytest.raises(FixtureSyntaxError, match=message):
        case_of(parse, *lines)


def test_stubs_answer_calls_to_other_services_until_torn_down(parse: Parse, started: Callable[..., None]) -> None:
    """While set up, any client's call of a stubbed action gets the configured body or errors."""
    case = case_of(
        parse,
        "stub action: catalog: check_stock: body int: available: 2",
        "stub action: members: get_member: error: code=NOT_FOUND, field=member_id, message=No such member",
    )
    client = Client({})
    started(case)
    assert client.call_action("catalog", "check_stock", {"book_id": 1}).body == {"available": 2}
    with pytest.raises(CallActionError) as caught:
        client.call_action("members", "get_member", {"member_id": "x"})
    error = caught.value.actions[0].errors[0]
    assert (error.code, error.field, error.message) == ("NOT_FOUND", "member_id", "No such member")
    call_hooks("tear_down_test_case", case, [case])
    with pytest.raises(Exception, match="catalog"):
        client.call_action("catalog", "check_stock", {"book_id": 1})


def test_expect_called_needs_a_call_with_exactly_that_body(parse: Parse, started: Callable[..., None]) -> None:
    """At least one call must have a body equal to the expected one (extra keys fail); the count is free."""
    case = case_of(parse, "stub action: catalog: check_stock: expect called int: book_id: 311")
    started(case)
    client = Client({})
    with pytest.raises(AssertionError, match=r"to be called with \{'book_id': 311\}, but it was not called"):
        call_hooks("assert_test_case_results", {}, case, [case])
    client.call_action("catalog", "check_stock", {"book_id": 311, "extra": True})
    with pytest.raises(AssertionError, match=r"but it was called with: \[{'book_id': 311, 'extra': True}\]"):
        call_hooks("assert_test_case_results", {}, case, [case])
    assert client.call_action("catalog", "check_stock", {"book_id": 311}).body == {}
    call_hooks("assert_test_case_results", {}, case, [case])


def test_expect_called_without_body_and_expect_not_called(parse: Parse, started: Callable[..., None]) -> None:
    """expect called: alone wants a call with an empty body; expect not called wants no call at all."""
    case = case_of(
        parse, "stub action: catalog: reserve: expect called:", "stub action: catalog: cancel: expect not called:"
    )
    started(case)
    client = Client({})
    client.call_action("catalog", "reserve")
    call_hooks("assert_test_case_results", {}, case, [case])
    client.call_action("catalog", "cancel", {"id": 1})
    with pytest.raises(AssertionError, match=r"catalog\.cancel not to be called, but it was called with"):
        call_hooks("assert_test_case_results", {}, case, [case])


def test_action_level_stub_wins_over_the_test_level_one_during_its_action(
    parse: Parse, started: Callable[..., None]
) -> None:
    """An action's own stub of the same action answers during that action; the test-level one afterwards."""
    case = case_of(
        parse,
        "stub action: catalog: check_stock: body int: available: 2",
        "act: stub action: catalog: check_stock: body int: available: 0",
        "act: stub action: catalog: check_stock: expect called int: book_id: 7",
    )
    started(case)
    client = Client({})
    action = case["act.0"]
    call_hooks("set_up_test_case_action", "act", action, case, [case])
    try:
        assert client.call_action("catalog", "check_stock", {"book_id": 7}).body == {"available": 0}
        call_hooks("assert_test_case_action_results", "act", action, case, [case], None, None, msg="act.0")
    finally:
        call_hooks("tear_down_test_case_action", "act", action, case, [case])
    assert client.call_action("catalog", "check_stock", {"book_id": 7}).body == {"available": 2}
