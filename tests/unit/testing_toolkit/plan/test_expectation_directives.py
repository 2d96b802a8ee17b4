"""Error and value expectations: what each line stores, and what passes and fails against responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.common.errors import Error
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.data_types import AnyValue
from pysoa_like.test.plan.grammar.directive import TestCase as PlanCase
from pysoa_like.test.plan.grammar.directive import TestFixture as PlanFixture
from tests.unit.testing_toolkit.plan.conftest import call_hooks

Parse = Callable[..., PlanFixture]


def case_of(parse: Parse, *lines: str) -> PlanCase:
    """The one test case made of ``lines`` (after a name and a description)."""
    (case,) = parse("test name: t\ntest description: d\n" + "".join(f"{line}\n" for line in lines))
    return case


def check(case: PlanCase, body: Any = None, errors: list[Error] | None = None, job_errors: list[Error] | None = None,
          path: str = "act.0", no_response: bool = False) -> None:  # fmt: skip
    """Run every directive's action assertions for ``path`` against a response made of the arguments."""
    response = None if no_response else ActionResponse(action="act", errors=errors or [], body=body or {})
    job = JobResponse(errors=job_errors or [], actions=[response] if response else [])
    call_hooks("assert_test_case_action_results", "act", case[path], case, [case], response, job, msg=path)


BAD = Error(code="INVALID", message="Unknown book", field="book_id")
GONE = Error(code="NOT_FOUND", message="No such book, sorry")
BROKEN = Error(code="SERVER_ERROR", message="Internal server error: it broke")


def test_error_lines_fill_one_list_per_modifier_combination(parse: Parse) -> None:
    """Each of the eight modifier combinations has its list; code, field and message are kept, the rest wildcards."""
    case = case_of(
        parse,
        "act: expect: error: code=A",
        "act: expect: not error: code = B , field = f.0",
        "act: expect: exact error: code=C, message=Text, with, commas",
        "act: expect: job error: code=D, field=x, message=m",
        "act: expect: not exact job error: code=E",
        "act: expect: exact job error: code=F",
        "act: expect: not job error: code=G",
        "act: expect: not exact error: code=H",
        "act: expect: error: code=I, message=before, field=after",
    )
    action = case["act.0"]
    assert sorted(key for key in action if key.startswith("expects")) == [
        "expects_error",
        "expects_exact_error",
        "expects_job_error",
        "expects_job_exact_error",
        "expects_not_error",
        "expects_not_exact_error",
        "expects_not_job_error",
        "expects_not_job_exact_error",
    ]
    first, with_message = action["expects_error"]
    assert (first.code, repr(first.message), repr(first.field)) == ("A", "<any str>", "<any str or None>")
    assert first == Error(code="A", message="any", field=None, traceback="tb", variables={}, is_caller_error=True)
    assert action["expects_not_error"][0].field == "f.0"
    assert action["expects_exact_error"][0].message == "Text, with, commas"
    assert (with_message.message, repr(with_message.field)) == ("before, field=after", "<any str or None>")


@pytest.mark.parametrize(
    "line",
    [
        "act: expect: exact not error: code=A",
        "act: expect: job exact error: code=A",
        "act: expect: error: field=f, code=A",
        "act: expect: error: code=",
        "act: expect: error: code=A, field=",
        "act: expect: errors: code=A",
        "act: expect: no error",
    ],
)
def test_malformed_error_lines_are_syntax_errors(parse: Parse, line: str) -> None:
    """Modifiers out of order, field before code, missing values and misspellings are rejected."""
    with pytest.raises(FixtureSyntaxError, match="no directive matches it"):
        case_of(parse, line)


def test_plain_error_expectations_need_each_expected_error_among_the_actual_ones(parse: Parse) -> None:
    """Extra actual errors are fine; a missing one fails, naming it."""
    case = case_of(parse, "act: expect: error: code=INVALID, field=book_id", "act: expect: error: code=NOT_FOUND")
    check(case, errors=[BAD, GONE, BROKEN])
    with pytest.raises(AssertionError, match=r"(?s)act\.0: action errors: expected items not found.*NOT_FOUND"):
        check(case, errors=[BAD])


def test_messages_and_fields_must_match_exactly_when_given(parse: Parse) -> None:
    """A given message or field is compared as exact text."""
    check(case_of(parse, "act: expect: error: code=NOT_FOUND, message=No such book, sorry"), errors=[GONE])
    with pytest.raises(AssertionError):
        check(case_of(parse, "act: expect: error: code=NOT_FOUND, message=No such book"), errors=[GONE])
    with pytest.raises(AssertionError):
        check(case_of(parse, "act: expect: error: code=INVALID, field=book"), errors=[BAD])


def test_exact_error_expectations_pair_off_one_to_one(parse: Parse) -> None:
    """exact: same number of errors, each expected one matched by a different actual one, in any order."""
    case = case_of(parse, "act: expect: exact error: code=NOT_FOUND", "act: expect: exact error: code=INVALID")
    check(case, errors=[BAD, GONE])
    with pytest.raises(AssertionError, match="expected exactly 2 item"):
        check(case, errors=[BAD, GONE, BROKEN])
    twice = case_of(parse, "act: expect: exact error: code=INVALID", "act: expect: exact error: code=INVALID")
    with pytest.raises(AssertionError, match="expected items not found"):
        check(twice, errors=[BAD, GONE])  # PySOA 1.4.9 let one actual error match both


def test_not_error_expectations_rule_out_matching_errors(parse: Parse) -> None:
    """not: no actual error may match; an error with the same code but another field is fine."""
    case = case_of(parse, "act: expect: not error: code=INVALID, field=member_id")
    check(case, errors=[BAD])
    with pytest.raises(AssertionError, match="must not be there"):
        check(case_of(parse, "act: expect: not error: code=INVALID"), errors=[BAD])


def test_job_error_expectations_look_at_the_job_errors(parse: Parse) -> None:
    """job: the job's errors are checked, not the action's; without an action response action errors are none."""
    denied = Error(code="UNAUTHORIZED", message="No")
    case = case_of(parse, "act: expect: job error: code=UNAUTHORIZED", "act: expect: not error: code=UNAUTHORIZED")
    check(case, job_errors=[denied], no_response=True)
    with pytest.raises(AssertionError, match="job errors: expected items not found"):
        check(case, errors=[denied])


def test_server_errors_are_quoted_in_error_failures(parse: Parse) -> None:
    """A failing error check adds the message of any SERVER_ERROR, which usually explains it."""
    with pytest.raises(AssertionError, match="Server error: Internal server error: it broke"):
        check(case_of(parse, "act: expect: error: code=INVALID"), errors=[BROKEN])


def test_no_errors(parse: Parse) -> None:
    """no errors: fails on job errors, on a missing action response, and on action errors."""
    case = case_of(parse, "act: expect: no errors")
    assert case["act.0"]["expects_no_errors"] is True
    check(case, body={"ok": True})
    with pytest.raises(AssertionError, match=r"(?s)got job errors.*Server error: Internal"):
        check(case, job_errors=[BROKEN], no_response=True)
    with pytest.raises(AssertionError, match="no action response"):
        check(case, no_response=True)
    with pytest.raises(AssertionError, match=r"act\.0: expected no errors, got action errors.*INVALID"):
        check(case, errors=[BAD])


BODY = {
    "book": {
        "title": "Dune",
        "copies": [{"barcode": "D-1", "shelf": 4}, {"barcode": "D-2"}, {"barcode": "D-3"}],
        "added": "2020-01-31T10:00:00Z",
        "withdrawn_at": None,
        "tags": ["sf", "classic"],
        "holds": [],
        "meta": {},
        "isbn.13": "978",
    },
    "count": 3,
}


@pytest.mark.parametrize(
    "line",
    [
        "act: expect: attribute value: book.title: Dune",
        "act: expect int: attribute value: book.copies.0.shelf: 4",
        "act: expect: attribute value: book.copies.2.barcode: D-3",
        "act: expect float: attribute value: count: 3",
        "act: expect regex: attribute value: book.title: ^Du",
        "act: expect not regex: attribute value: book.title: ^Em",
        "act: expect any: attribute value: book.title",
        "act: expect any int: attribute value: count:",
        "act: expect any datetime: attribute value: book.added",
        "act: expect NONE: attribute value: book.withdrawn_at",
        "act: expect none: attribute value: book.withdrawn_at",
        "act: expect None: attribute value: book.withdrawn_at:",
        "act: expect NoNe: attribute value: book.withdrawn_at:",
        "act: expect emptylist: attribute value: book.holds:",
        "act: expect emptydict: attribute value: book.meta:",
        "act: expect: attribute value: book.{isbn.13}: 978",
        "act: expect not present: attribute value: book.subtitle",
        "act: expect not present: attribute value: book.copies.5:",
        "act: expect not present: attribute value: loan.id",
        "act: expect: not attribute value: book.title: Emma",
        "act: expect: not attribute value: book.subtitle: Emma",
        "act: expect: not attribute value: book.tags.1: sf",
    ],
)
def test_value_expectations_that_pass(parse: Parse, line: str) -> None:
    """Each form of value expectation passes against a body that satisfies it."""
    check(case_of(parse, line), body=BODY)


@pytest.mark.parametrize(
    ("line", "report"),
    [
        ("act: expect: attribute value: book.title: Emma", "mismatch at book.title: expected 'Emma' .str., got 'Dune'"),
        ("act: expect: attribute value: book.copies.0.shelf: 4", "expected '4' .str., got 4 .int."),
        ("act: expect: attribute value: book.subtitle: X", "missing: book.subtitle"),
        ("act: expect: attribute value: book.copies.5.barcode: X", "missing: book.copies.5"),
        ("act: expect: attribute value: book.title.x: X", "book.title: expected a dict, got 'Dune'"),
        ("act: expect: attribute value: count.0: X", "count: expected a list, got 3"),
        ("act: expect emptylist: attribute value: book.tags:", "book.tags: expected an empty list"),
        ("act: expect emptydict: attribute value: book.copies.0:", "book.copies.0: expected an empty dict"),
        ("act: expect regex: attribute value: book.title: ^Em", "expected <regex '\\^Em'>"),
        ("act: expect any int: attribute value: book.title", "expected <any int>"),
        ("act: expect NONE: attribute value: book.title", "expected None"),
        ("act: expect not present: attribute value: book.title", "book.title: must not be present, but holds 'Dune'"),
        ("act: expect: not attribute value: book.tags.0: sf", "book.tags.0: must not be 'sf'"),
    ],
)
def test_value_expectations_that_fail_report_what_and_where(parse: Parse, line: str, report: str) -> None:
    """A failure names the action path, each missing or mismatched path, and shows both structures."""
    with pytest.raises(AssertionError, match=report) as caught:
        check(case_of(parse, line), body=BODY)
    text = str(caught.value)
    assert text.startswith("act.0: DATA ERROR")
    assert "Expected:" in text and "Actual:" in text and "'Dune'" in text


def test_value_expectations_of_one_action_case_are_checked_together(parse: Parse) -> None:
    """Several lines build one expected structure; every problem is listed at once."""
    case = case_of(
        parse,
        "act: expect: attribute value: book.title: Emma",
        "act: expect int: attribute value: count: 3",
        "act: expect: attribute value: book.isbn: 1",
    )
    assert case["act.0"]["expects"] == {"book": {"title": "Emma", "isbn": "1"}, "count": 3}
    with pytest.raises(AssertionError) as caught:
        check(case, body=BODY)
    assert "mismatch at book.title" in str(caught.value) and "missing: book.isbn" in str(caught.value)


def test_list_entries_below_an_expected_index_match_anything(parse: Parse) -> None:
    """Expecting copies.2 does not constrain copies.0 and copies.1 (PySOA required them to be empty dicts)."""
    check(case_of(parse, "act: expect: attribute value: book.copies.2.barcode: D-3"), body=BODY)
    check(case_of(parse, "act: expect: attribute value: book.tags.1: classic"), body=BODY)


def test_value_expectations_without_action_response_fail_cleanly(parse: Parse) -> None:
    """After a job error there is no body to check: an assertion says so (PySOA crashed with AttributeError)."""
    for line in ("act: expect: attribute value: a: b", "act: expect: not attribute value: a: b",
                 "act: expect not present: attribute value: a"):  # fmt: skip
        with pytest.raises(AssertionError, match="no action response"):
            check(case_of(parse, line), no_response=True)


@pytest.mark.parametrize(
    "line",
    [
        "act: expect: attribute value: book.title",
        "act: expect any: attribute value: book.title: Dune",
        "act: expect any: not attribute value: book.title",
        "act: expect NONE: attribute value: a: b",
        "act: expect not present: attribute value: a: b",
        "act: expect: attribute  value: a: b",
        "act: expect int attribute value: a: 1",
        "act: expect text: attribute value: a: 1",
    ],
)
def test_malformed_value_lines_are_syntax_errors(parse: Parse, line: str) -> None:
    """Missing values, values where none belong, doubled spaces in keywords and unknown types are rejected."""
    with pytest.raises(FixtureSyntaxError, match="no directive matches it"):
        case_of(parse, line)


def test_invalid_typed_expectation_values_are_conversion_errors(parse: Parse) -> None:
    """A value that does not convert to its type names the line."""
    with pytest.raises(FixtureSyntaxError, match="Data type conversion error"):
        case_of(parse, "act: expect decimal: attribute value: price: cheap")


def test_substitution_tokens_skip_conversion_until_the_test_runs(parse: Parse) -> None:
    """A value holding [[…]] stays text at parse time, whatever its type."""
    case = case_of(parse, "act: expect int: attribute value: id: [[OTHER.id]]")
    assert case["act.0"]["expects"] == {"id": "[[OTHER.id]]"}


def test_exact_structure_helper_refuses_extra_keys_and_items() -> None:
    """assert_exact_structure (for custom directives) wants nothing more than expected, matchers allowed."""
    from pysoa_like.test.plan.grammar.assertions import assert_exact_structure

    assert_exact_structure({"a": [1, AnyValue("str")]}, {"a": [1, "x"]})
    with pytest.raises(AssertionError, match="b: not expected"):
        assert_exact_structure({"a": 1}, {"a": 1, "b": 2}, msg="m")
    with pytest.raises(AssertionError, match="1 more item"):
        assert_exact_structure({"a": [1]}, {"a": [1, 2]})
