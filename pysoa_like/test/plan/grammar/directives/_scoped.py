"""The shape shared by directives with a test-level and an action-level form (mocks, stubs, frozen time).

A concrete directive says how a line reads (:meth:`ScopedDirective.line_grammar`), what it stores
(:meth:`ScopedDirective.ingest_line`), and what it does around its scope (:meth:`ScopedDirective.start`,
:meth:`ScopedDirective.stop`, :meth:`ScopedDirective.check`). :class:`TestLevelDirective` applies that
to the whole test case, :class:`ActionLevelDirective` to one action case.
"""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.test.plan.grammar.directive import (
    ActionCase,
    ActionDirective,
    ActionResults,
    Directive,
    TestCase,
    TestFixture,
)

__all__ = ["ActionLevelDirective", "ScopedDirective", "TestLevelDirective"]


class ScopedDirective(Directive):
    """A directive whose data lives in one scope (a test case or an action case)."""

    @classmethod
    def line_grammar(cls) -> pp.ParserElement:
        """The grammar of the line after the action prefix (if any)."""
        raise NotImplementedError

    @classmethod
    def ingest_line(cls, target: dict[str, Any], parse_results: pp.ParseResults, file_name: str, line: int) -> None:
        """Store a parsed line in its scope's dict."""
        raise NotImplementedError

    @classmethod
    def start(cls, target: dict[str, Any]) -> None:
        """Begin the scope (patch, stub, freeze)."""

    @classmethod
    def stop(cls, target: dict[str, Any]) -> None:
        """End the scope; called even if :meth:`start` failed part way."""

    @classmethod
    def check(cls, target: dict[str, Any], msg: str | None) -> None:
        """Check the scope's expectations (raise ``AssertionError``)."""

    def assert_test_case_action_results(self, *args: Any, **kwargs: Any) -> None:
        """Checked by :meth:`check` at the end of the scope."""


class TestLevelDirective(ScopedDirective):
    """The form for a whole test case: started before its first action, checked and stopped after the last."""

    __test__ = False  # not a pytest test class, despite the name

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The line on its own."""
        return cls.line_grammar()

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Store the line in the test case."""
        self.ingest_line(test_case, parse_results, file_name, line_number)

    def set_up_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Start the scope."""
        self.start(test_case)

    def tear_down_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Stop the scope."""
        self.stop(test_case)

    def assert_test_case_results(
        self, test_action_results_dict: ActionResults, test_case: TestCase, test_fixture: TestFixture,
        msg: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Check the expectations after all action cases."""
        self.check(test_case, msg)


class ActionLevelDirective(ScopedDirective, ActionDirective):
    """The form for one action case (``«action»: …``): around that action's call."""

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The action prefix, then the line."""
        return ActionDirective.get_full_grammar() + cls.line_grammar()

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Store the line in the action case."""
        self.ingest_line(action_case, parse_results, file_name, line_number)

    def set_up_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Start the scope."""
        self.start(action_case)

    def tear_down_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Stop the scope."""
        self.stop(action_case)

    def assert_test_case_action_results(
        self, action_name: str, action_case: ActionCase, *args: Any, msg: str | None = None, **kwargs: Any
    ) -> None:
        """Check the expectations with the action's other assertions."""
        self.check(action_case, msg)
