"""Error expectations: ``«action»: expect: [not] [exact] [job] error: code=C[, field=F][, message=M]`` and
``«action»: expect: no errors``.

Each error line adds one expected error to one of eight lists of the action case, by its modifiers:
``expects_[not_][job_][exact_]error``. Each list is checked on its own against the action's errors
(with ``job``: the job's errors):

* plain: every expected error is among the actual ones;
* ``exact``: the expected errors and the actual ones pair off one to one (same number, any order);
* ``not``: no expected error is among the actual ones.

An expected error matches an actual one with the same code, the same message (any message when
none is given) and the same field (any field, or none, when none is given).
"""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.common.errors import Error
from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.plan.grammar.assertions import (
    assert_actual_list_not_subset,
    assert_expected_list_subset_of_actual,
    assert_lists_match_any_order,
)
from pysoa_like.test.plan.grammar.data_types import AnyValue
from pysoa_like.test.plan.grammar.directive import (
    ActionCase,
    ActionDirective,
    TestCase,
    TestFixture,
    parsed,
)

__all__ = [
    "ActionExpectsErrorsDirective",
    "ActionExpectsFieldErrorsDirective",
    "ActionExpectsFieldMessageErrorsDirective",
    "ActionExpectsMessageErrorsDirective",
    "ActionExpectsNoErrorsDirective",
]

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True

_SERVER_ERROR = "SERVER_ERROR"
# Every combination of the modifiers, in the order the lists are checked.
_LIST_KEYS = tuple(
    f"expects_{'not_' if negated else ''}{'job_' if job else ''}{'exact_' if exact else ''}error"
    for negated in (False, True)
    for job in (False, True)
    for exact in (False, True)
)


def _server_error_note(errors: list[Error]) -> str:
    messages = [str(error.message) for error in errors if error.code == _SERVER_ERROR]
    return "".join(f"\nServer error: {message}" for message in messages)


def expected_error(code: str, field: str | None = None, message: str | None = None) -> Error:
    """An :class:`Error` that equals actual errors with this code (and field and message, when given)."""
    return Error(
        code=code,
        message=message if message is not None else AnyValue("str"),  # type: ignore[arg-type]
        field=field if field is not None else AnyValue("str", permit_none=True),  # type: ignore[arg-type]
        traceback=AnyValue("str", permit_none=True),  # type: ignore[arg-type]
        variables=AnyValue("dict", permit_none=True),  # type: ignore[arg-type]
        denied_permissions=AnyValue("list", permit_none=True),  # type: ignore[arg-type]
        is_caller_error=AnyValue("bool"),  # type: ignore[arg-type]
    )


class ActionExpectsErrorsDirective(ActionDirective):
    """``A: expect: [not] [exact] [job] error: code=CODE``: expect (or rule out) an error with this code."""

    @classmethod
    def name(cls) -> str:
        """``expect_error``."""
        return "expect_error"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect: [not] [exact] [job] error: code = CODE``."""
        return (
            super().get_full_grammar()
            + pp.Keyword("expect")
            + pp.Literal(":")
            + pp.Opt(pp.Keyword("not")("not"))
            + pp.Opt(pp.Keyword("exact")("exact"))
            + pp.Opt(pp.Keyword("job")("job"))
            + pp.Keyword("error")
            + pp.Literal(":")
            + pp.Keyword("code")
            + pp.Literal("=")
            + pp.Word(pp.alphanums + "_-")("error_code").set_name("error code")
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Add the expected error to its list (``expects_[not_][job_][exact_]error``)."""
        key = "expects_{}{}{}error".format(
            "not_" if parsed(parse_results, "not") else "",
            "job_" if parsed(parse_results, "job") else "",
            "exact_" if parsed(parse_results, "exact") else "",
        )
        field = parsed(parse_results, "field_name")
        message = parsed(parse_results, "error_message")
        action_case.setdefault(key, []).append(expected_error(parse_results.error_code, field, message))

    def assert_test_case_action_results(
        self,
        action_name: str,
        action_case: ActionCase,
        test_case: TestCase,
        test_fixture: TestFixture,
        action_response: ActionResponse | None,
        job_response: JobResponse,
        msg: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Check each list of expected errors against the action's (or the job's) errors.

        Only :class:`ActionExpectsErrorsDirective` itself checks (its subclasses share the lists).

        Raises:
            AssertionError: An expectation is not met; a server error's message is added.
        """
        if type(self) is not ActionExpectsErrorsDirective:
            return
        for key in _LIST_KEYS:
            expected = action_case.get(key)
            if not expected:
                continue
            if "job_" in key:
                actual = list(job_response.errors)
                where = "job errors"
            else:
                actual = list(action_response.errors) if action_response is not None else []
                where = "action errors"
            prefix = f"{msg}: {where}" if msg else where
            try:
                if key.startswith("expects_not_"):
                    assert_actual_list_not_subset(expected, actual, msg=prefix)
                elif key.endswith("exact_error"):
                    assert_lists_match_any_order(expected, actual, msg=prefix)
                else:
                    assert_expected_list_subset_of_actual(expected, actual, msg=prefix)
            except AssertionError as exc:
                raise AssertionError(f"{exc}{_server_error_note(actual)}") from None


class ActionExpectsFieldErrorsDirective(ActionExpectsErrorsDirective):
    """``A: expect: [not] [exact] [job] error: code=CODE, field=FIELD``."""

    @classmethod
    def name(cls) -> str:
        """``expect_error_field``."""
        return "expect_error_field"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The code form, then ``, field = FIELD``."""
        return (
            super().get_full_grammar()
            + pp.Literal(",")
            + pp.Keyword("field")
            + pp.Literal("=")
            + pp.Word(pp.alphanums + "_.{}[]-")("field_name").set_name("field")
        )


class ActionExpectsMessageErrorsDirective(ActionExpectsErrorsDirective):
    """``A: expect: [not] [exact] [job] error: code=CODE, message=MESSAGE`` (to the end of the line)."""

    @classmethod
    def name(cls) -> str:
        """``expect_error_message``."""
        return "expect_error_message"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The code form, then ``, message = MESSAGE``."""
        return super().get_full_grammar() + pp.Literal(",") + pp.Keyword("message") + pp.Literal("=") + _MESSAGE


class ActionExpectsFieldMessageErrorsDirective(ActionExpectsFieldErrorsDirective):
    """``A: expect: [not] [exact] [job] error: code=CODE, field=FIELD, message=MESSAGE``."""

    @classmethod
    def name(cls) -> str:
        """``expect_error_field_message``."""
        return "expect_error_field_message"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The code-and-field form, then ``, message = MESSAGE``."""
        return super().get_full_grammar() + pp.Literal(",") + pp.Keyword("message") + pp.Literal("=") + _MESSAGE


# The message runs to the end of the line (commas included), without surrounding spaces and tabs.
_MESSAGE = (
    pp.Regex(r"[^\n]*").leave_whitespace().set_parse_action(lambda tokens: tokens[0].strip(" \t"))("error_message")
).set_name("message")


class ActionExpectsNoErrorsDirective(ActionDirective):
    """``A: expect: no errors``: neither the job nor the action may have errors, and there must be a response."""

    @classmethod
    def name(cls) -> str:
        """``expect_no_errors``."""
        return "expect_no_errors"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect: no errors``."""
        return super().get_full_grammar() + pp.Keyword("expect") + pp.Literal(":") + pp.Literal("no errors")

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Set ``expects_no_errors``."""
        action_case["expects_no_errors"] = True

    def assert_test_case_action_results(
        self,
        action_name: str,
        action_case: ActionCase,
        test_case: TestCase,
        test_fixture: TestFixture,
        action_response: ActionResponse | None,
        job_response: JobResponse,
        msg: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Fail on job errors, a missing action response, or action errors.

        Raises:
            AssertionError: Listing the errors found.
        """
        if not action_case.get("expects_no_errors"):
            return
        prefix = f"{msg}: " if msg else ""
        if job_response.errors:
            raise AssertionError(
                f"{prefix}expected no errors, got job errors: {list(job_response.errors)!r}"
                f"{_server_error_note(list(job_response.errors))}"
            )
        if action_response is None:
            raise AssertionError(f"{prefix}expected no errors, but the job returned no action response")
        if action_response.errors:
            raise AssertionError(
                f"{prefix}expected no errors, got action errors: {list(action_response.errors)!r}"
                f"{_server_error_note(list(action_response.errors))}"
            )
