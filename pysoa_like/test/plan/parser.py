"""Reading a ``.pysoa`` fixture file into test cases (PySOA's ``pysoa.test.plan.parser``).

A fixture is read line by line. A blank line (empty, or only spaces and tabs) ends the current
test case; a ``#`` in column 1 starts a comment; every other line must start in column 1 and match
one directive's grammar as a whole. ``global`` lines go to a file-wide global case, merged into
every test case that ends after them.
"""

from __future__ import annotations

import copy
from typing import Any

import pyparsing as pp

from pysoa_like.test.plan.errors import DataTypeConversionError, DirectiveError, FixtureLoadError, FixtureSyntaxError
from pysoa_like.test.plan.grammar import directive as directive_module
from pysoa_like.test.plan.grammar.data_types import unfreeze_parse_clock
from pysoa_like.test.plan.grammar.directive import Directive, TestCase, TestFixture, full_line_grammar, parsed
from pysoa_like.test.plan.grammar.tools import VACANT

__all__ = ["ServiceTestPlanFixtureParser"]

#: Test case key: the line number where each action path first appears (failure reports point there).
ACTION_LINES_KEY = "_action_line_numbers"

# Compiled whole-line grammars, by directive class (a grammar is built once per process).
_GRAMMARS: dict[type[Directive], pp.ParserElement] = {}


def _grammar(directive: type[Directive]) -> pp.ParserElement:
    grammar = _GRAMMARS.get(directive)
    if grammar is None:
        grammar = _GRAMMARS[directive] = full_line_grammar(directive)
    return grammar


def merge_cases(base: Any, over: Any) -> Any:
    """``over`` written leaf by leaf on top of a copy of ``base`` (lists by index; empty containers are leaves)."""
    if isinstance(over, type(VACANT)):
        return copy.deepcopy(base)
    if isinstance(base, dict) and isinstance(over, dict) and over:
        merged = copy.deepcopy(base)
        for key, value in over.items():
            merged[key] = merge_cases(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(over, list) and over:
        merged_list = copy.deepcopy(base)
        for index, value in enumerate(over):
            if index < len(merged_list):
                merged_list[index] = merge_cases(merged_list[index], value)
            else:
                merged_list.append(copy.deepcopy(value))
        return merged_list
    return copy.deepcopy(over)


def _expectations(message: str) -> list[str]:
    # pyparsing says "Expected Keyword 'error'" or "Expected {'control' | 'context'}"; keep "'error'".
    text = message[len("Expected ") :] if message.startswith("Expected ") else message
    if text.startswith("{") and text.endswith("}") and " | " in text:
        return [part for choice in text[1:-1].split(" | ") for part in _expectations(choice)]
    return [text[len("Keyword ") :] if text.startswith("Keyword ") else text]


class _Block:
    """The lines of the test case being read."""

    def __init__(self) -> None:
        self.case: TestCase = {"actions": []}
        self.source: list[str] = []
        self.start_line = 0
        self.last_line = 0
        self.current_action: str | None = None


class ServiceTestPlanFixtureParser:
    """Parses one fixture file.

    Args:
        fixture_file_name: The file's path.
        fixture_name: The fixture's name (the file's base name without ``.pysoa``).
    """

    def __init__(self, fixture_file_name: str, fixture_name: str) -> None:
        self.fixture_file_name = fixture_file_name
        self.fixture_name = fixture_name
        self._directives: list[type[Directive]] = []
        self._global_case: TestCase = {}
        self._fixture: TestFixture = []
        self._fixture_source: list[str] = []

    def parse_test_fixture(self) -> TestFixture:
        """Read and parse the file.

        Returns:
            Its test cases, in file order.

        Raises:
            FixtureLoadError: The file cannot be read, or holds no test case.
            FixtureSyntaxError: A line is not valid (the error names the file, the line and what was expected).
            DirectiveError: No directive is registered.
        """
        try:
            with open(self.fixture_file_name, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise FixtureLoadError(f"Could not read fixture file {self.fixture_file_name}: {exc}") from exc
        return self.parse_text(text)

    def parse_text(self, text: str) -> TestFixture:
        """Parse fixture text (as if read from :attr:`fixture_file_name`); see :meth:`parse_test_fixture`."""
        self._directives = directive_module.get_all_directives()
        if not self._directives:
            raise DirectiveError("No test plan directives are registered")
        self._global_case, self._fixture = {}, []
        lines = text.splitlines()
        self._fixture_source = [line if line.strip(" \t") else "" for line in lines]
        block: _Block | None = None
        pending_comments: list[str] = []
        try:
            for line_number, line in enumerate(lines, 1):
                if not line.strip(" \t"):
                    if block is not None:
                        self._finish(block, line_number)
                    block, pending_comments = None, []
                    continue
                if line.startswith("#"):
                    (block.source if block is not None else pending_comments).append(line)
                    continue
                if line[0] in " \t":
                    raise FixtureSyntaxError(
                        "Directives and comments must start in column 1 (no indentation)",
                        self.fixture_file_name, line_number, 1, line,
                    )  # fmt: skip
                if block is None:
                    block = _Block()
                    block.source.extend(pending_comments)
                    pending_comments = []
                self._parse_line(block, line, line_number)
            if block is not None:
                self._finish(block, len(lines) + 1)
        finally:
            unfreeze_parse_clock()
        if not self._fixture:
            raise FixtureLoadError(f"Fixture file {self.fixture_file_name} holds no test cases")
        return self._fixture

    def _match(self, line: str, line_number: int) -> tuple[type[Directive], pp.ParseResults]:
        failures: list[tuple[int, str, type[Directive]]] = []
        for directive in self._directives:
            try:
                return directive, _grammar(directive).parse_string(line, parse_all=True)
            except pp.ParseBaseException as exc:
                failures.append((exc.loc, exc.msg, directive))
        furthest = max(loc for loc, _, _ in failures)
        expected = list(
            dict.fromkeys(text for loc, msg, _ in failures if loc == furthest for text in _expectations(msg))
        )
        rest = line[furthest:].split(None, 1)
        found = f"found {rest[0]!r}" if rest else "at the end of the line"
        choices = expected[0] if len(expected) == 1 else ", ".join(expected[:-1]) + " or " + expected[-1]
        message = f"Invalid line: no directive matches it. Expected {choices} at column {furthest + 1} ({found})"
        if directive_module.FAILED_ENTRY_POINTS:
            message += f" (directive plug-ins that failed to load: {'; '.join(directive_module.FAILED_ENTRY_POINTS)})"
        raise FixtureSyntaxError(message, self.fixture_file_name, line_number, furthest + 1, line)

    def _parse_line(self, block: _Block, line: str, line_number: int) -> None:
        directive, results = self._match(line, line_number)
        is_global = bool(parsed(results, "is_global"))
        target = self._global_case if is_global else block.case
        if not is_global:
            block.source.append(line)
            if not block.start_line:
                block.start_line = line_number
        block.last_line = line_number
        action = parsed(results, "action")
        if action:
            path = f"{action}.{parsed(results, 'action_index') or '0'}"
            if path not in target:
                target[path] = {}
                if not is_global:
                    target["actions"].append(path)
                    target.setdefault(ACTION_LINES_KEY, {})[path] = line_number
                    self._post_parse_action(block, path)
            action_case = target[path]
        else:
            action_case = target
        try:
            directive().ingest_from_parsed_test_fixture(
                action_case, target, results, self.fixture_file_name, line_number
            )
        except FixtureSyntaxError as exc:
            if exc.text or exc.lineno != line_number:
                raise
            raise FixtureSyntaxError(str(exc.msg), self.fixture_file_name, line_number, len(line), line) from exc
        except DataTypeConversionError as exc:
            raise FixtureSyntaxError(
                f"Data type conversion error: {exc}", self.fixture_file_name, line_number, len(line), line
            ) from exc
        except ValueError as exc:
            # Path errors (a scalar in the way, unbalanced braces) from the directive's path_put.
            raise FixtureSyntaxError(
                f"Invalid path: {exc}", self.fixture_file_name, line_number, len(line), line
            ) from exc

    def _post_parse_action(self, block: _Block, new_path: str | None) -> None:
        previous, block.current_action = block.current_action, new_path
        if previous is not None:
            for directive in self._directives:
                directive().post_parse_test_case_action(block.case[previous], block.case)

    def _finish(self, block: _Block, end_line_number: int) -> None:
        if not block.start_line:
            return  # only global lines and comments: not a test case
        case = block.case
        last = end_line_number - 1
        for key, what in (("name", "'test name:'"), ("description", "'test description:'")):
            if key not in case:
                raise FixtureSyntaxError(
                    f"The test case ending at line {last} has no {what} line", self.fixture_file_name, last
                )
        if not case["actions"]:
            raise FixtureSyntaxError(
                f"Test case {case['name']!r} (ending at line {last}) has no action directive, so it would test "
                "nothing", self.fixture_file_name, last,
            )  # fmt: skip
        self._post_parse_action(block, None)
        merged: TestCase = merge_cases(self._global_case, case) if self._global_case else case
        merged["actions"] = list(case["actions"])
        merged.update(
            line_number=block.start_line,
            fixture_name=self.fixture_name,
            fixture_file_name=self.fixture_file_name,
            source=block.source,
            fixture_source=self._fixture_source,
        )
        for directive in self._directives:
            directive().post_parse_test_case(merged)
        unfreeze_parse_clock()
        self._fixture.append(merged)
