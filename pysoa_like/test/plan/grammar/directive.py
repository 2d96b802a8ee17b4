"""Directives: the kinds of fixture lines, each a grammar plus hooks (PySOA's ``pysoa.test.plan.grammar.directive``).

Every line of a fixture file matches exactly one directive class. The parser tries the classes in
registration order (built-ins first) and the first whose grammar matches the *whole* line wins; it
then calls that class's ``Directive.ingest_from_parsed_test_fixture`` to store the line's data
in the test case. When the tests run, the runner calls every directive class's hooks (set-up,
assertions, tear-down) on a fresh instance each time, so a directive keeps its state in the test
case and action case dicts, never on itself.

Adding a directive (a plug-in):

1. Subclass ``ActionDirective`` (a line about one action case: ``«action»[.«index»]: [global] …``)
   or ``Directive`` (a test-level line). Build the grammar with pyparsing, appending to
   ``super().get_full_grammar()`` for action directives.
2. Register it: call ``register_directive`` in a module imported before collection (a
   ``conftest.py``), or declare an entry point in the group ``pysoa_like.test.plan.grammar.directives``
   (PySOA's group ``pysoa.test.plan.grammar.directives`` is read too)::

       [project.entry-points."pysoa_like.test.plan.grammar.directives"]
       my_directive = "my_package.directives:MyDirective"
"""

from __future__ import annotations

import abc
import sys
import warnings
from importlib import metadata
from typing import Any

import pyparsing as pp

from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.plan.errors import DirectiveError
from pysoa_like.test.plan.grammar.tools import recursive_parse_expr_repr

__all__ = [
    "ENTRY_POINT_GROUPS",
    "ActionCase",
    "ActionDirective",
    "ActionResults",
    "Directive",
    "TestCase",
    "TestFixture",
    "TestFixtureResults",
    "VarNameGrammar",
    "VarValueGrammar",
    "get_all_directives",
    "parsed",
    "register_directive",
]

#: The entry-point groups read for directive plug-ins: ours, then PySOA's (so existing plug-ins are found).
ENTRY_POINT_GROUPS = ("pysoa_like.test.plan.grammar.directives", "pysoa.test.plan.grammar.directives")

#: The instructions for one action case (``get_book.0``): inputs, expectations, mocks, ...
ActionCase = dict[str, Any]
#: The responses of one test case's action cases, by action path (``None``: no action response).
ActionResults = dict[str, ActionResponse | None]
#: One parsed test case: name, description, ``actions`` (the action paths in order), one action case per path.
TestCase = dict[str, Any]
#: Every parsed test case of one fixture file, in file order.
TestFixture = list[TestCase]
#: One :data:`ActionResults` per executed test case of a fixture, in run order.
TestFixtureResults = list[ActionResults]

#: A data path (``book.copies.0.barcode``), captured as ``variable_name``.
VarNameGrammar: pp.ParserElement = pp.Word(pp.alphanums + "-_.{}")("variable_name").set_name("path")
#: The rest of the line, without surrounding spaces and tabs, captured as ``value``.
VarValueGrammar: pp.ParserElement = (
    pp.Regex(r"[^\n]*")
    .leave_whitespace()
    .set_parse_action(lambda tokens: tokens[0].strip(" \t"))("value")
    .set_name("value")
)

REGISTERED_DIRECTIVES: list[type[Directive]] = []
ENTRY_POINT_DIRECTIVES: list[type[Directive]] = []
# Entry points that could not be loaded, with why (shown when a line matches no directive).
FAILED_ENTRY_POINTS: list[str] = []
_entry_points_loaded = False


def parsed(parse_results: pp.ParseResults, name: str, default: Any = None) -> Any:
    """The named capture ``name`` of a directive's parse results, or ``default`` if the line did not set it."""
    # Not ParseResults.get, which has no type hints.
    return parse_results[name] if name in parse_results else default  # noqa: SIM401


def register_directive(directive: type[Directive]) -> None:
    """Add a directive class; it is tried after the classes registered before it.

    Raises:
        DirectiveError: ``directive`` is not a :class:`Directive` subclass.
    """
    if not (isinstance(directive, type) and issubclass(directive, Directive)):
        raise DirectiveError(f"{directive!r} is not a subclass of Directive")
    if directive not in REGISTERED_DIRECTIVES:
        REGISTERED_DIRECTIVES.append(directive)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    seen: set[str] = set()
    for group in ENTRY_POINT_GROUPS:
        for entry_point in metadata.entry_points(group=group):
            if entry_point.value in seen:
                continue
            seen.add(entry_point.value)
            try:
                directive = entry_point.load()
            except Exception as exc:
                FAILED_ENTRY_POINTS.append(f"{entry_point.name} = {entry_point.value} ({type(exc).__name__}: {exc})")
                sys.stderr.write(f"Warning: could not load test plan directive {FAILED_ENTRY_POINTS[-1]}\n")
                continue
            if not (isinstance(directive, type) and issubclass(directive, Directive)):
                raise DirectiveError(
                    f"Entry point {entry_point.name} = {entry_point.value} (group {group}) is not a Directive subclass"
                )
            if directive not in ENTRY_POINT_DIRECTIVES and directive not in REGISTERED_DIRECTIVES:
                ENTRY_POINT_DIRECTIVES.append(directive)


def get_all_directives() -> list[type[Directive]]:
    """Every directive class in parsing priority: the registered ones (built-ins first), then plug-ins."""
    _load_entry_points()
    return REGISTERED_DIRECTIVES + ENTRY_POINT_DIRECTIVES


def full_line_grammar(directive: type[Directive]) -> pp.ParserElement:
    """``directive``'s grammar, required to match a whole line (tabs kept as they are).

    PySOA-era plug-ins use pyparsing's camelCase names, deprecated in pyparsing 3; their warnings are
    silenced while the grammar is built.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(pp, "PyparsingDeprecationWarning", DeprecationWarning))
        grammar = directive.get_full_grammar()
    whole = pp.And([grammar, pp.StringEnd().set_name("end of line")])
    whole.parse_with_tabs()
    return whole


class Directive(abc.ABC):
    """The base of every directive: its grammar, how it stores a parsed line, and its run-time hooks.

    Parsing: :meth:`get_full_grammar` and :meth:`ingest_from_parsed_test_fixture` (required), then
    :meth:`post_parse_test_case_action` and :meth:`post_parse_test_case`.

    Running, for each fixture: :meth:`set_up_test_fixture`; for each test case
    :meth:`set_up_test_case`; for each action case :meth:`set_up_test_case_action`, the call,
    :meth:`assert_test_case_action_results` (required), :meth:`tear_down_test_case_action`; then
    :meth:`assert_test_case_results` and :meth:`tear_down_test_case`; after the fixture's last
    case :meth:`assert_test_fixture_results` and :meth:`tear_down_test_fixture`.

    Every hook is called on every directive class for every case, so each must look for its own
    keys in the dicts it gets. Instances must hold no state.
    """

    @classmethod
    @abc.abstractmethod
    def name(cls) -> str:
        """A lower-case identifier for the directive (``[a-z_]+``)."""

    @classmethod
    def supplies_additional_grammar_types(cls) -> dict[str, str]:
        """Extra grammar token names this directive uses, with their descriptions (documentation only)."""
        return {}

    @classmethod
    @abc.abstractmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The pyparsing grammar of a whole line of this directive (without the line's start and end)."""

    @abc.abstractmethod
    def ingest_from_parsed_test_fixture(
        self, action_case: ActionCase, test_case: TestCase, parse_results: pp.ParseResults, file_name: str,
        line_number: int,
    ) -> None:  # fmt: skip
        """Store what a matching line says, for the hooks to use later.

        Args:
            action_case: The action case of the line (for a test-level directive, the test case itself).
            test_case: The test case (or, for a ``global`` line, the file's global case).
            parse_results: What the grammar captured.
            file_name: The fixture file.
            line_number: The line's number.

        Raises:
            FixtureSyntaxError: The line is well-formed but makes no sense.
        """

    def post_parse_test_case(self, test_case: TestCase) -> None:
        """Called when a test case has been parsed (after the global directives were merged into it)."""

    def post_parse_test_case_action(self, action_case: ActionCase, test_case: TestCase) -> None:
        """Called when parsing moves on from an action case (a new action path begins, or the case ends)."""

    def set_up_test_fixture(self, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called before the first test case of a fixture runs."""

    def tear_down_test_fixture(self, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called after the last test case of a fixture ran."""

    def set_up_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called before a test case's first action."""

    def tear_down_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called after a test case, whether it passed or not."""

    def set_up_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Called before an action case's call (``action_name`` has no index)."""

    def tear_down_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Called after an action case, whether it passed or not."""

    @abc.abstractmethod
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
        """Check one action case's response.

        Args:
            action_name: The action (no index).
            action_case: The action case's instructions.
            test_case: The test case.
            test_fixture: Every test case of the fixture.
            action_response: The action's response (``None`` when the job failed before it).
            job_response: The whole job response.
            msg: A prefix for failure messages (the action path).

        Raises:
            AssertionError: An expectation is not met.
        """

    def assert_test_case_results(
        self, test_action_results_dict: ActionResults, test_case: TestCase, test_fixture: TestFixture,
        msg: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """Check a whole test case after its action cases (they may not all have run)."""

    def assert_test_fixture_results(
        self, test_fixture_results: TestFixtureResults, test_fixture: TestFixture, msg: str | None = None, **kwargs: Any
    ) -> None:
        """Check a whole fixture after its last case (its cases may not all have run)."""

    def __repr__(self) -> str:
        return recursive_parse_expr_repr(self.get_full_grammar())


class ActionDirective(Directive):
    """The base of action directives, lines that start ``«action»[.«index»]: [global]``.

    The prefix captures ``action``, ``action_index`` (default ``0``) and ``is_global``; subclasses
    append their own grammar to ``super().get_full_grammar()``. An action name may not be the word
    ``input`` or ``expect``.
    """

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        """The action prefix: ``«action»[.«index»]: [global]``."""
        action = ~(pp.Keyword("input") | pp.Keyword("expect")) + pp.Word(pp.alphanums + "_")("action").set_name(
            "action name"
        )
        index = pp.Literal(".") - pp.Word(pp.nums)("action_index").set_name("action index")
        is_global = pp.Keyword("global")("is_global").set_parse_action(lambda tokens: tokens[0] == "global")
        return action + pp.Opt(index) + pp.Literal(":") + pp.Opt(is_global)
