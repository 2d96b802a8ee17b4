"""Test case structure: ``test name``, ``test description``, ``test skip`` and ``#`` comments."""

from __future__ import annotations

from typing import Any

import pyparsing as pp

from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import (
    ActionCase,
    Directive,
    TestCase,
    VarValueGrammar,
)

__all__ = [
    "TestCaseCommentDirective",
    "TestCaseDescriptionDirective",
    "TestCaseNameDirective",
    "TestCaseSkipDirective",
]


class _TestCaseDirective(Directive):
    """A test-level directive with no action assertions."""

    __test__ = False  # not a pytest test class, despite the name

    def assert_test_case_action_results(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to check per action."""


class TestCaseCommentDirective(_TestCaseDirective):
    """``# anything``: a comment, ignored (it starts in column 1)."""

    @classmethod
    def name(cls) -> str:
        """``comment``."""
        return "comment"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``#`` and the rest of the line."""
        return pp.Literal("#") + pp.Regex(r"[^\n]*").leave_whitespace()("comment")

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Comments store nothing."""


class TestCaseNameDirective(_TestCaseDirective):
    """``test name: NAME``: the test case's name (letters, digits and ``_``), once per case."""

    @classmethod
    def name(cls) -> str:
        """``test_name``."""
        return "test_name"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``test name: NAME``."""
        return pp.Literal("test name") + ":" + pp.Word(pp.alphanums + "_")("name").set_name("test name")

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Set ``test_case['name']``.

        Raises:
            FixtureSyntaxError: The case already has a name (a blank line is probably missing before this line).
        """
        if "name" in test_case:
            raise FixtureSyntaxError(
                f"Duplicate test name {parse_results.name!r}: this test case is already named {test_case['name']!r} "
                "(is the blank line that ends the previous test case missing?)",
                file_name, line_number,
            )  # fmt: skip
        test_case["name"] = parse_results.name


class TestCaseDescriptionDirective(_TestCaseDirective):
    """``test description: TEXT``: what the test case checks, once per case."""

    @classmethod
    def name(cls) -> str:
        """``test_description``."""
        return "test_description"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``test description: TEXT``."""
        return pp.Literal("test description") + ":" + VarValueGrammar

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Set ``test_case['description']``: the text, a newline and the fixture file.

        Raises:
            FixtureSyntaxError: The case already has a description.
        """
        if "description" in test_case:
            raise FixtureSyntaxError("Duplicate test description in this test case", file_name, line_number)
        test_case["description"] = f"{parse_results.value}\n{file_name}"


class TestCaseSkipDirective(_TestCaseDirective):
    """``test skip [global]: REASON``: skip this test case (with ``global``: every later one) with a reason."""

    @classmethod
    def name(cls) -> str:
        """``test_skip``."""
        return "test_skip"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """``test skip [global]: REASON``."""
        is_global = pp.Keyword("global")("is_global").set_parse_action(lambda tokens: tokens[0] == "global")
        return pp.Literal("test skip") + pp.Opt(is_global) + ":" + VarValueGrammar

    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Set ``test_case['skip']`` (an empty reason means not skipped)."""
        test_case["skip"] = parse_results.value
