"""Custom directives: the base classes, register_directive, and plug-ins found through entry points."""

from __future__ import annotations

import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyparsing as pp
import pytest

from pysoa_like.common.types import ActionResponse, JobResponse
from pysoa_like.test.plan import _runner
from pysoa_like.test.plan.errors import DirectiveError, FixtureSyntaxError
from pysoa_like.test.plan.grammar import directive as directive_module
from pysoa_like.test.plan.grammar.directive import (
    ActionDirective,
    VarNameGrammar,
    get_all_directives,
    register_directive,
)
from pysoa_like.test.plan.grammar.directive import (
    TestFixture as PlanFixture,
)
from pysoa_like.test.plan.grammar.directives import BUILT_IN_DIRECTIVES
from tests.unit.testing_toolkit.plan.conftest import call_hooks

pytestmark = pytest.mark.usefixtures("directive_registry")
Parse = Callable[..., PlanFixture]


class ExpectLengthDirective(ActionDirective):
    """``A: expect length: PATH: N``: the list at PATH has N items."""

    @classmethod
    def name(cls) -> str:
        return "expect_length"

    @classmethod
    def get_full_grammar(cls) -> pp.ParserElement:
        return super().get_full_grammar() + "expect length" + ":" + VarNameGrammar + ":" + pp.Word(pp.nums)("length")

    def ingest_from_parsed_test_fixture(
        self, action_case: dict[str, Any], test_case: dict[str, Any], parse_results: pp.ParseResults,
        file_name: str, line_number: int,
    ) -> None:  # fmt: skip
        action_case.setdefault("expect_lengths", {})[parse_results.variable_name] = int(parse_results.length)

    def assert_test_case_action_results(
        self, action_name: str, action_case: dict[str, Any], test_case: dict[str, Any], test_fixture: PlanFixture,
        action_response: ActionResponse | None, job_response: JobResponse, msg: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        for path, length in action_case.get("expect_lengths", {}).items():
            assert action_response is not None
            actual = len(action_response.body[path])
            assert actual == length, f"{msg}: {path} has {actual} items, not {length}"


def test_a_registered_action_directive_parses_and_checks(parse: Parse) -> None:
    """The action prefix comes from the base; ingestion and assertions are the subclass's; globals work too."""
    register_directive(ExpectLengthDirective)
    assert get_all_directives()[-1] is ExpectLengthDirective
    assert get_all_directives()[: len(BUILT_IN_DIRECTIVES)] == list(BUILT_IN_DIRECTIVES)
    fixture = parse(
        """
        act: global expect length: extra: 0

        test name: t
        test description: d
        act.1: expect length: tags: 2
        act.1: input: a: b
        """
    )
    action = fixture[0]["act.1"]
    assert action["expect_lengths"] == {"tags": 2}
    assert fixture[0]["act.0"]["expect_lengths"] == {"extra": 0}
    response = ActionResponse(action="act", body={"tags": ["a", "b"]})
    job = JobResponse(actions=[response])
    call_hooks("assert_test_case_action_results", "act", action, fixture[0], fixture, response, job, msg="act.1")
    action["expect_lengths"]["tags"] = 3
    with pytest.raises(AssertionError, match=r"act\.1: tags has 2 items, not 3"):
        call_hooks("assert_test_case_action_results", "act", action, fixture[0], fixture, response, job, msg="act.1")


def test_registering_twice_keeps_one_entry_and_non_directives_are_refused() -> None:
    """register_directive is idempotent and checks what it is given."""
    register_directive(ExpectLengthDirective)
    register_directive(ExpectLengthDirective)
    assert get_all_directives().count(ExpectLengthDirective) == 1
    with pytest.raises(DirectiveError, match="is not a subclass of Directive"):
        register_directive(dict)  # type: ignore[arg-type]


PYSOA_ERA_PLUGIN = '''
from pyparsing import Literal, Word, nums, restOfLine

from pysoa_like.test.plan.grammar.directive import ActionDirective


class ExpectStatusDirective(ActionDirective):
    """Written as for PySOA 1.4.9 with pyparsing 2: camelCase names, no type hints."""

    @classmethod
    def name(cls):
        return "expect_status"

    @classmethod
    def get_full_grammar(cls):
        status = Word(nums)("status").setParseAction(lambda s, l, t: int(t[0]))
        return super(ExpectStatusDirective, cls).get_full_grammar() + Literal("expect status") + ":" + status + \\
            restOfLine("rest")

    def ingest_from_parsed_test_fixture(self, action_case, test_case, parse_results, file_name, line_number):
        action_case["expect_status"] = parse_results.status

    def assert_test_case_action_results(self, *args, **kwargs):
        pass
'''


def _plugin_dist(path: Path, entry_points: str) -> None:
    """A minimal installed distribution in ``path`` (to be put on sys.path) with these entry points."""
    (path / "plan_plugin.py").write_text(PYSOA_ERA_PLUGIN)
    info = path / "plan_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plan-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path for a fake plug-in distribution; entry points are read again."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(directive_module, "_entry_points_loaded", False)
    monkeypatch.delitem(sys.modules, "plan_plugin", raising=False)
    return tmp_path


@pytest.mark.parametrize("group", ["pysoa_like.test.plan.grammar.directives", "pysoa.test.plan.grammar.directives"])
def test_entry_point_plugins_are_found_in_our_group_and_pysoas(plugin_path: Path, parse: Parse, group: str) -> None:
    """A PySOA-era plug-in (pyparsing 2 camelCase) is found, parses, and its deprecation warnings are silenced."""
    _plugin_dist(plugin_path, f"[{group}]\nexpect_status = plan_plugin:ExpectStatusDirective\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (case,) = parse("test name: t\ntest description: d\nact: expect status: 201\n")
    assert case["act.0"] == {"expect_status": 201}
    assert get_all_directives()[-1].__name__ == "ExpectStatusDirective"


def test_broken_entry_points_are_reported(plugin_path: Path, parse: Parse, capsys: pytest.CaptureFixture[str]) -> None:
    """An entry point that fails to load is warned about and named in syntax errors it may explain."""
    _plugin_dist(plugin_path, "[pysoa.test.plan.grammar.directives]\nbroken = plan_plugin:NoSuchClass\n")
    with pytest.raises(FixtureSyntaxError, match=r"plug-ins that failed to load: broken = plan_plugin:NoSuchClass"):
        parse("test name: t\ntest description: d\nact: expect status: 201\n")
    assert "could not load test plan directive broken" in capsys.readouterr().err


def test_an_entry_point_that_is_not_a_directive_is_an_error(plugin_path: Path) -> None:
    """Naming something that is not a Directive subclass is a DirectiveError naming the entry point."""
    _plugin_dist(plugin_path, "[pysoa_like.test.plan.grammar.directives]\nwrong = plan_plugin:Literal\n")
    with pytest.raises(DirectiveError, match=r"wrong = plan_plugin:Literal .* is not a Directive subclass"):
        get_all_directives()


def test_without_directives_nothing_parses_or_runs(parse: Parse, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty registry is a DirectiveError, at parse time and at run time."""
    monkeypatch.setattr(directive_module, "REGISTERED_DIRECTIVES", [])
    with pytest.raises(DirectiveError, match="No test plan directives are registered"):
        parse("test name: t\n")
    with pytest.raises(DirectiveError, match="No test plan directives are registered"):
        _runner.call_directives("set_up_test_fixture", [])


def test_a_directive_without_a_hook_is_a_directive_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A class slipped into the registry without the hooks is named when a hook is missing."""
    monkeypatch.setattr(directive_module, "REGISTERED_DIRECTIVES", [object])
    with pytest.raises(DirectiveError, match="object has no set_up_test_fixture hook"):
        _runner.call_directives("set_up_test_fixture", [])


RECORDING_CONFTEST = """
from pysoa_like.test.plan.grammar.directive import Directive, register_directive
from tests.unit.testing_toolkit.plan import _recorder


class RecordFixtureResults(Directive):
    @classmethod
    def name(cls):
        return "record_fixture_results"

    @classmethod
    def get_full_grammar(cls):
        import pyparsing
        return pyparsing.Literal("never matches anything")

    def ingest_from_parsed_test_fixture(self, *args):
        pass

    def assert_test_case_action_results(self, *args, **kwargs):
        pass

    def set_up_test_fixture(self, test_fixture, **kwargs):
        _recorder.calls.append("set_up " + test_fixture[0]["fixture_name"])

    def assert_test_case_results(self, results, test_case, test_fixture, msg=None, **kwargs):
        _recorder.calls.append(msg + " " + ",".join(results))

    def assert_test_fixture_results(self, fixture_results, test_fixture, msg=None, **kwargs):
        _recorder.calls.append("fixture " + str([sorted(results) for results in fixture_results]))

    def tear_down_test_fixture(self, test_fixture, **kwargs):
        _recorder.calls.append("tear_down " + test_fixture[0]["fixture_name"])


register_directive(RecordFixtureResults)
"""


def test_fixture_level_hooks_see_every_executed_case(pytester: pytest.Pytester) -> None:
    """A directive registered in conftest.py gets the fixture hooks and the results of each case, in order."""
    from tests.unit.testing_toolkit.plan import _recorder

    _recorder.calls.clear()
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(
        test_plans=(
            "from pysoa_like.test.plan import ServicePlanTestCase\n"
            "from tests.unit.testing_toolkit.plan._services import LibraryServer\n\n\n"
            "class Plans(ServicePlanTestCase):\n    server_class = LibraryServer\n    server_settings = {}\n"
            "    custom_fixtures = ('one.pysoa',)\n"
        )
    )
    (pytester.path / "one.pysoa").write_text(
        "test name: a\ntest description: d\nget_book: input int: book_id: 311\nsearch_books: input: query: x\n\n"
        "test name: b\ntest description: d\nget_book.1: input int: book_id: 412\n"
    )
    try:
        pytester.inline_run().assertoutcome(passed=2)
        assert _recorder.calls == [
            "set_up one",
            "a get_book.0,search_books.0",
            "b get_book.1",
            "fixture [['get_book.0', 'search_books.0'], ['get_book.1']]",
            "tear_down one",
        ]
    finally:
        _recorder.calls.clear()
