"""Value expectations on the action's response body.

* ``«action»: expect [TYPE]: [not] attribute value: PATH: VALUE``: the body holds VALUE at PATH
  (with ``not``: it does not, because PATH is absent or holds something else);
* ``«action»: expect any [TYPE]: attribute value: PATH``: PATH holds some value of TYPE;
* ``«action»: expect NONE: attribute value: PATH``: PATH holds ``None``;
* ``«action»: expect not present: attribute value: PATH``: PATH does not resolve.

All lines of an action case are checked together: the expected structure must be a subset of the
body (extra keys and list items are fine). List entries below an index a line names match any value.
"""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.plan.grammar.assertions import assert_not_expected, assert_not_present, assert_subset_structure
from pysoa_like.test.plan.grammar.data_types import AnyValue, DataTypeGrammar, get_parsed_data_type_value
from pysoa_like.test.plan.grammar.directive import (
    ActionCase,
    ActionDirective,
    TestCase,
    TestFixture,
    VarNameGrammar,
    VarValueGrammar,
    parsed,
)
from pysoa_like.test.plan.grammar.tools import VACANT, path_put

__all__ = [
    "ActionExpectsAnyDirective",
    "ActionExpectsFieldValueDirective",
    "ActionExpectsNoneDirective",
    "ActionExpectsNotPresentDirective",
]

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True


def _vacant() -> Any:
    return VACANT


def _body(action_response: ActionResponse | None, msg: str | None) -> Any:
    if action_response is None:
        raise AssertionError(
            f"{msg + ': ' if msg else ''}the job returned no action response to check values in (a job error?)"
        )
    return action_response.body


class ActionExpectsFieldValueDirective(ActionDirective):
    """``A: expect [TYPE]: [not] attribute value: PATH: VALUE``."""

    @classmethod
    def name(cls) -> str:
        """``expect_value``."""
        return "expect_value"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect [TYPE]: [not] attribute value: PATH: VALUE``."""
        return (
            super().get_full_grammar()
            + pp.Keyword("expect")
            + pp.Opt(DataTypeGrammar)
            + pp.Literal(":")
            + pp.Opt(pp.Keyword("not")("not"))
            + pp.Literal("attribute value")
            + pp.Literal(":")
            + VarNameGrammar
            + pp.Literal(":")
            + VarValueGrammar
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Place the typed value at PATH in ``expects`` (with ``not``: ``not_expects``)."""
        key = "not_expects" if parsed(parse_results, "not") else "expects"
        value = get_parsed_data_type_value(parse_results, parse_results.value)
        path_put(action_case.setdefault(key, {}), parse_results.variable_name, value, padding=_vacant)

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
        """Check ``expects``, ``not_expects`` and ``expects_not_present`` against the response body.

        Only :class:`ActionExpectsFieldValueDirective` itself checks (the other value directives
        share these keys).

        Raises:
            AssertionError: Listing every missing path and mismatch, with both structures.
        """
        if type(self) is not ActionExpectsFieldValueDirective:
            return
        if "expects" in action_case:
            assert_subset_structure(action_case["expects"], _body(action_response, msg), msg=msg)
        if "not_expects" in action_case:
            assert_not_expected(action_case["not_expects"], _body(action_response, msg), msg=msg)
        if "expects_not_present" in action_case:
            assert_not_present(action_case["expects_not_present"], _body(action_response, msg), msg=msg)


class ActionExpectsAnyDirective(ActionExpectsFieldValueDirective):
    """``A: expect any [TYPE]: attribute value: PATH``: any value of TYPE (default ``str``)."""

    @classmethod
    def name(cls) -> str:
        """``expect_any_value``."""
        return "expect_any_value"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect any [TYPE]: attribute value: PATH [:]``."""
        return (
            ActionDirective.get_full_grammar()
            + pp.Keyword("expect")
            + pp.Keyword("any")("any")
            + pp.Opt(DataTypeGrammar)
            + pp.Literal(":")
            + pp.Literal("attribute value")
            + pp.Literal(":")
            + VarNameGrammar
            + pp.Opt(pp.Literal(":"))
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Place an any-value matcher at PATH in ``expects``."""
        matcher = AnyValue(str(parsed(parse_results, "data_type") or "str"))
        path_put(action_case.setdefault("expects", {}), parse_results.variable_name, matcher, padding=_vacant)


class ActionExpectsNoneDirective(ActionExpectsFieldValueDirective):
    """``A: expect NONE: attribute value: PATH``: PATH holds ``None`` (NONE in any letter case)."""

    @classmethod
    def name(cls) -> str:
        """``expect_none``."""
        return "expect_none"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect NONE: attribute value: PATH [:]``."""
        return (
            ActionDirective.get_full_grammar()
            + pp.Keyword("expect")
            + pp.CaselessKeyword("none")("data_type")
            + pp.Literal(":")
            + pp.Literal("attribute value")
            + pp.Literal(":")
            + VarNameGrammar
            + pp.Opt(pp.Literal(":"))
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Place ``None`` at PATH in ``expects``."""
        path_put(action_case.setdefault("expects", {}), parse_results.variable_name, None, padding=_vacant)


class ActionExpectsNotPresentDirective(ActionDirective):
    """``A: expect not present: attribute value: PATH``: PATH must not resolve in the body."""

    @classmethod
    def name(cls) -> str:
        """``expect_not_present``."""
        return "expect_not_present"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``A: expect not present: attribute value: PATH [:]``."""
        return (
            super().get_full_grammar()
            + pp.Literal("expect not present")
            + pp.Literal(":")
            + pp.Literal("attribute value")
            + pp.Literal(":")
            + VarNameGrammar
            + pp.Opt(pp.Literal(":"))
        )

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Place an empty text at PATH in ``expects_not_present`` (only the path matters)."""
        path_put(action_case.setdefault("expects_not_present", {}), parse_results.variable_name, "", padding=_vacant)

    def assert_test_case_action_results(self, *args: Any, **kwargs: Any) -> None:
        """Checked by :class:`ActionExpectsFieldValueDirective` with the other value expectations."""
