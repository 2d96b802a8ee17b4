"""The pytest plugin, run in-process by pytester as a service's own suite would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.testing_toolkit.plan import _recorder

pytestmark = pytest.mark.usefixtures("directive_registry")

SERVICES = "tests.unit.testing_toolkit.plan._services"

PLAN_MODULE = f"""
from pysoa_like.test.plan import ServicePlanTestCase
from {SERVICES} import LibraryServer


class LibraryPlans(ServicePlanTestCase):
    server_class = LibraryServer
    server_settings = {{}}
    fixture_path = "plans"

    def test_ordinary(self):
        assert self.call_action("get_book", {{"book_id": 311}}).body["book"]["title"] == "Dune"
"""

BOOKS = """\
test name: dune
test description: Dune is found
get_book: input int: book_id: 311
get_book: expect: attribute value: book.title: Dune

test name: emma
test description: Emma is found too
get_book: input int: book_id: 412
get_book: expect: attribute value: book.title: Emma
"""

SEARCH = """\
test name: search_dune
test description: Searching finds Dune
search_books: input: query: dune
search_books: expect int: attribute value: count: 1
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A service project: a plan class with one ordinary test, and two fixtures (books: 2 cases, search: 1)."""
    pytester.makepyfile(test_library=PLAN_MODULE)
    (pytester.path / "plans").mkdir()
    (pytester.path / "plans" / "books.pysoa").write_text(BOOKS)
    (pytester.path / "plans" / "search.pysoa").write_text(SEARCH)
    return pytester


@pytest.fixture(autouse=True)
def clear_recorder() -> Iterator[None]:
    """Each test starts with an empty hook recording."""
    _recorder.calls.clear()
    yield
    _recorder.calls.clear()


def test_collects_ordinary_tests_then_one_item_per_case_with_fixture_node_ids(project: pytest.Pytester) -> None:
    """Node ids are module::Class::fixture::test; ordinary test methods come first; fixtures sorted by path."""
    result = project.runpytest("--collect-only", "-q")
    assert result.ret == 0
    assert [line for line in result.outlines if "::" in line] == [
        "test_library.py::LibraryPlans::test_ordinary",
        "test_library.py::LibraryPlans::books::dune",
        "test_library.py::LibraryPlans::books::emma",
        "test_library.py::LibraryPlans::search::search_dune",
    ]


def test_plan_items_run_and_are_reported_at_the_fixture_file_and_line(project: pytest.Pytester) -> None:
    """Each case is a test method plan__<fixture>__<test>, located at the fixture file (relative) and first line."""
    recorder = project.inline_run()
    recorder.assertoutcome(passed=4)
    items = {call.item.name: call.item for call in recorder.getcalls("pytest_itemcollected")}
    emma_method = type(items["emma"].instance).plan__books__emma
    assert emma_method.__name__ == "plan__books__emma"
    assert emma_method.__doc__.startswith("Emma is found too\n")
    reports = {report.nodeid: report for report in recorder.getreports("pytest_runtest_logreport")}
    emma = reports["test_library.py::LibraryPlans::books::emma"]
    assert emma.location == (os.path.join("plans", "books.pysoa"), 5, "LibraryPlans::books::emma")


def test_a_failing_case_points_at_its_fixture_line_without_plan_machinery(project: pytest.Pytester) -> None:
    """The failure shows the case's lines up to the failing action, and the crash line is in the fixture file."""
    (project.path / "plans" / "books.pysoa").write_text(BOOKS.replace("book.title: Emma", "book.title: Persuasion"))
    result = project.runpytest("-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*_ LibraryPlans::books::emma _*",
            "    test name: emma",
            "    test description: Emma is found too",
            ">   get_book: input int: book_id: 412",
            "E   AssertionError: get_book.0: DATA ERROR: the response does not match",
            "E     mismatch at book.title: expected 'Persuasion' (str), got 'Emma' (str)",
            "*",
            "plans/books.pysoa:8: AssertionError",
        ]
    )
    assert "_runner.py" not in result.stdout.str()
    result.stdout.fnmatch_lines(["FAILED test_library.py::LibraryPlans::books::emma - AssertionError: get_book*"])


def test_disabling_traceback_pruning_shows_the_plan_machinery(project: pytest.Pytester) -> None:
    """--pysoa-disable-tb-prune keeps the runner's frames (the fixture entry stays last)."""
    (project.path / "plans" / "books.pysoa").write_text(BOOKS.replace("book.title: Emma", "book.title: X"))
    result = project.runpytest("--pysoa-disable-tb-prune", "-k", "emma")
    assert "_runner.py" in result.stdout.str()
    result.stdout.fnmatch_lines(["plans/books.pysoa:8: AssertionError"])


@pytest.mark.parametrize(
    ("options", "selected"),
    [
        (["--pysoa-fixture", "books"], ["dune", "emma"]),
        (["--pysoa-fixture", "books", "--pysoa-fixture", "search"], ["dune", "emma", "search_dune"]),
        (["--pysoa-test-case", "emma"], ["emma"]),
        (["--pysoa-test-case", "Searching finds Dune"], ["search_dune"]),
        (["--pysoa-test-case", "dune", "--pysoa-test-case", "search_dune"], ["dune", "search_dune"]),
        (["--pysoa-test-case-regex", "d"], ["dune"]),
        (["--pysoa-test-case-regex", "Emma"], ["emma"]),
        (["--pysoa-test-case-regex", "une"], []),
        (["--pysoa-test-case-regex", "e", "--pysoa-test-case-regex", "s"], ["emma", "search_dune"]),
        (["--pysoa-test-case-regex", ""], ["dune", "emma", "search_dune"]),
        (["--pysoa-fixture", "books", "--pysoa-test-case-regex", "[de]"], ["dune", "emma"]),
        (["--pysoa-fixture", "search", "--pysoa-test-case", "dune"], []),
        (["-k", "emma or search"], ["emma", "search_dune"]),
        (["-k", "plan__books__emma"], ["emma"]),
        (["-k", "plan__books__ and not emma"], ["dune"]),
        (["-k", "plan__search__search_dune or plan__books__dune"], ["dune", "search_dune"]),
    ],
)
def test_selecting_plan_cases(project: pytest.Pytester, options: list[str], selected: list[str]) -> None:
    """The filters match fixture names, test names or descriptions (regex: at the start); other tests are dropped."""
    recorder = project.inline_run(*options)
    passed = [report.nodeid.rsplit("::", 1)[1] for report in recorder.getreports("pytest_runtest_logreport")
              if report.when == "call" and report.passed]  # fmt: skip
    assert passed == selected
    if options[0] != "-k":
        assert len(recorder.getcalls("pytest_deselected")) == 1


def test_name_filters_exclude_each_other(project: pytest.Pytester) -> None:
    """--pysoa-test-case and --pysoa-test-case-regex together are a usage error."""
    result = project.runpytest("--pysoa-test-case", "a", "--pysoa-test-case-regex", "b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pysoa-test-case and --pysoa-test-case-regex are mutually exclusive*"])
    result = project.runpytest("--pysoa-test-case-regex", "(")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pysoa-test-case-regex '(' is not a valid regular expression*"])


def test_options_are_documented_in_help(project: pytest.Pytester) -> None:
    """The four options appear in pytest --help under the pysoa group."""
    result = project.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "pysoa_like test plans:",
            "*--pysoa-fixture=FIXTURE_NAME*",
            "*--pysoa-test-case=TEST_CASE_NAME*",
            "*--pysoa-test-case-regex=PATTERN*",
            "*--pysoa-disable-tb-prune*",
        ]
    )


def test_syntax_errors_are_clean_collection_errors(project: pytest.Pytester) -> None:
    """A bad line fails collection of the plan class with the file, line and what was expected, no traceback."""
    (project.path / "plans" / "search.pysoa").write_text(SEARCH + "search_books: expect: eror: code=X\n")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_library.py*",
            "FixtureSyntaxError: */plans/search.pysoa, line 5: Invalid line: no directive matches it. "
            "Expected 'error', 'no errors' or 'attribute value' at column 23 (found 'eror:')",
            "    search_books: expect: eror: code=X",
            "                          ^",
            "*ERROR test_library.py::LibraryPlans*",
        ]
    )
    assert "pyparsing" not in result.stdout.str() and "Traceback" not in result.stdout.str()


def test_missing_fixture_directory_is_a_collection_error(project: pytest.Pytester) -> None:
    """A fixture_path that is not a directory names the path."""
    project.makepyfile(test_library=PLAN_MODULE.replace('"plans"', '"nowhere"'))
    result = project.runpytest()
    result.stdout.fnmatch_lines(["FixtureLoadError: Fixture path */nowhere of LibraryPlans does not exist*"])


HOOKS_MODULE = f"""
import pytest
from pysoa_like.test.plan import ServicePlanTestCase
from {SERVICES} import LibraryServer
from tests.unit.testing_toolkit.plan._recorder import calls as CALLS


class LibraryPlans(ServicePlanTestCase):
    server_class = LibraryServer
    server_settings = {{}}
    fixture_path = "plans"

    @classmethod
    def setup_class(cls):
        super().setup_class()
        CALLS.append("setup_class")

    @classmethod
    def teardown_class(cls):
        CALLS.append("teardown_class")
        super().teardown_class()

    def setup_method(self, method=None):
        super().setup_method(method)
        CALLS.append("setup_method")

    def teardown_method(self, method=None):
        CALLS.append("teardown_method")
        super().teardown_method(method)

    def set_up_test_fixture(self, test_fixture, **kwargs):
        super().set_up_test_fixture(test_fixture, **kwargs)
        assert not hasattr(self, "client")
        CALLS.append("set_up_test_fixture " + test_fixture[0]["fixture_name"])

    def tear_down_test_fixture(self, test_fixture, **kwargs):
        super().tear_down_test_fixture(test_fixture, **kwargs)
        CALLS.append("tear_down_test_fixture " + test_fixture[0]["fixture_name"])

    def set_up_test_case(self, test_case, test_fixture, **kwargs):
        super().set_up_test_case(test_case, test_fixture, **kwargs)
        CALLS.append("set_up_test_case " + test_case["name"])

    def tear_down_test_case(self, test_case, test_fixture, **kwargs):
        super().tear_down_test_case(test_case, test_fixture, **kwargs)
        CALLS.append("tear_down_test_case " + test_case["name"])

    def set_up_test_case_action(self, action_name, action_case, test_case, test_fixture, **kwargs):
        super().set_up_test_case_action(action_name, action_case, test_case, test_fixture, **kwargs)
        CALLS.append("set_up_test_case_action " + action_name)

    def tear_down_test_case_action(self, action_name, action_case, test_case, test_fixture, **kwargs):
        super().tear_down_test_case_action(action_name, action_case, test_case, test_fixture, **kwargs)
        CALLS.append("tear_down_test_case_action " + action_name)
"""


def _case(name: str) -> list[str]:
    return [
        "setup_method",
        f"set_up_test_case {name}",
        "set_up_test_case_action get_book",
        "tear_down_test_case_action get_book",
        f"tear_down_test_case {name}",
        "teardown_method",
    ]


def test_hooks_run_in_pysoa_order(project: pytest.Pytester) -> None:
    """Fixture set-up begins its first case's setup_method (before the client exists); tear-down ends its last."""
    project.makepyfile(test_library=HOOKS_MODULE)
    project.inline_run("--pysoa-fixture", "books").assertoutcome(passed=2)
    first, second = _case("dune"), _case("emma")
    assert _recorder.calls == [
        "setup_class",
        "set_up_test_fixture books",
        *first,
        *second[:-1],
        "teardown_method",
        "tear_down_test_fixture books",
        "teardown_class",
    ]


@pytest.mark.parametrize("selected", ["dune", "emma"])
def test_a_fixture_is_set_up_and_torn_down_around_the_cases_that_run(project: pytest.Pytester, selected: str) -> None:
    """Deselecting a fixture's first or last case still sets it up once and tears it down once (PySOA broke)."""
    project.makepyfile(test_library=HOOKS_MODULE)
    project.inline_run("--pysoa-test-case", selected).assertoutcome(passed=1)
    assert _recorder.calls == [
        "setup_class",
        "set_up_test_fixture books",
        *_case(selected),
        "tear_down_test_fixture books",
        "teardown_class",
    ]


def test_skipped_cases(project: pytest.Pytester) -> None:
    """test skip skips with its reason; a global skip every later case; a fixture whose last case is skipped closes."""
    project.makepyfile(test_library=HOOKS_MODULE)
    (project.path / "plans" / "books.pysoa").write_text(
        BOOKS.replace("test description: Emma is found too\n", "test description: Emma\ntest skip: Not today\n")
    )
    recorder = project.inline_run("--pysoa-fixture", "books", "-rs")
    recorder.assertoutcome(passed=1, skipped=1)
    (skipped,) = [report for report in recorder.getreports("pytest_runtest_logreport") if report.skipped]
    assert skipped.longrepr[2] == "Skipped: Not today"
    assert _recorder.calls == ["setup_class", "set_up_test_fixture books", *_case("dune")[:-1], "teardown_method",
                               "tear_down_test_fixture books", "teardown_class"]  # fmt: skip


@pytest.mark.parametrize(
    "decorator",
    ['@pytest.mark.skip(reason="class skipped")', '@unittest.skip("class skipped")'],
)
def test_a_skipped_class_skips_every_case(project: pytest.Pytester, decorator: str) -> None:
    """pytest's and unittest's class skips apply to plan cases too."""
    module = PLAN_MODULE.replace("class LibraryPlans", f"{decorator}\nclass LibraryPlans")
    project.makepyfile(test_library="import unittest\nimport pytest\n" + module)
    recorder = project.inline_run()
    reports = [report for report in recorder.getreports("pytest_runtest_logreport") if report.when == "setup"]
    assert [report.outcome for report in reports[1:]] == ["skipped"] * 3
    assert all("class skipped" in report.longrepr[2] for report in reports[1:])


def test_subclasses_and_imported_plan_classes_collect_without_name_clashes(project: pytest.Pytester) -> None:
    """A subclass of a plan class, and a plan class imported into another module, both run (PySOA refused)."""
    project.makepyfile(
        test_more="from test_library import LibraryPlans\n\n\nclass MorePlans(LibraryPlans):\n    pass\n"
    )
    project.inline_run("--pysoa-fixture", "search").assertoutcome(passed=3)


def test_a_name_taken_by_the_class_is_a_collection_error(project: pytest.Pytester) -> None:
    """A plan__<fixture>__<test> attribute the class defines itself clashes with the generated test."""
    project.makepyfile(test_library=PLAN_MODULE + "\n    def plan__books__dune(self):\n        pass\n")
    result = project.runpytest()
    result.stdout.fnmatch_lines(["*StatusError: LibraryPlans already has an attribute plan__books__dune*"])


def test_fixtures_with_the_same_name_and_test_name_clash(project: pytest.Pytester) -> None:
    """Two fixture files named alike in different directories cannot both define a test of the same name."""
    (project.path / "plans" / "more").mkdir()
    (project.path / "plans" / "more" / "books.pysoa").write_text(BOOKS)
    result = project.runpytest()
    result.stdout.fnmatch_lines(["*StatusError: duplicate test plan__books__dune: *more/books.pysoa*"])


def test_process_stub_action_defines_test_only_actions(project: pytest.Pytester) -> None:
    """_process_stub_action_<name> answers actions the server lacks: bodies, action errors and job errors.

    Its answers feed substitutions in later inputs and in action-level stub and mock lines.
    """
    project.makepyfile(
        test_library=PLAN_MODULE
        + textwrap.indent(
            textwrap.dedent(
                """
                @staticmethod
                def _process_stub_action_make_member(body):
                    return {"member": {"id": "m-" + str(body["seq"]), "status": "active"}}

                def _process_stub_action_refuse(self, body):
                    from pysoa_like.common.errors import Error
                    from pysoa_like.server.errors import ActionError, JobError
                    if body.get("job"):
                        raise JobError([Error(code="DENIED", message="no")])
                    raise ActionError([Error(code="REFUSED", message="no", field="x")])

                def _process_stub_action_get_book(self, body):
                    raise AssertionError("never used: the server has get_book")
                """
            ),
            "    ",
        )
    )
    (project.path / "plans" / "books.pysoa").write_text(
        """\
test name: test_only
test description: Test-only actions feed later actions
make_member: input int: seq: 7
make_member: expect: attribute value: member.id: m-7
refuse.0: expect: error: code=REFUSED, field=x
refuse.1: input bool: job: true
refuse.1: expect: job error: code=DENIED
get_book: input int: book_id: 311
get_book: expect: no errors
search_books: input: query: [[MAKE_MEMBER.member.id]]
search_books: expect: attribute value: query.query: m-7
lend_book: input int: book_id: 311
lend_book: input: member_id: [[MAKE_MEMBER.member.id]]
lend_book: stub action: members: get_member: body: member.status: [[MAKE_MEMBER.member.status]]
lend_book: stub action: members: get_member: expect called: member_id: [[MAKE_MEMBER.member.id]]
lend_book: stub action: catalog: check_stock: body int: available: 1
lend_book: mock: LOGIC.notify: expect called: [["[[MAKE_MEMBER.member.id]]"], {"template": "loan", "loan_id": ANY}]
lend_book: expect: no errors
""".replace("LOGIC", "tests.unit.testing_toolkit.plan._logic").replace("ANY", '{"mock.ANY": true}')
    )
    project.inline_run("--pysoa-fixture", "books").assertoutcome(passed=1)


def test_failed_case_set_up_still_tears_down_what_started(project: pytest.Pytester) -> None:
    """When a set-up hook fails after the stubs started, they are stopped, so later tests see no leftover stub."""
    hook = textwrap.dedent(
        """
        def set_up_test_case_action(self, action_name, action_case, test_case, test_fixture, **kwargs):
            if test_case["name"] == "dune":
                from pysoa_like.client.client import Client
                assert Client({}).call_action("catalog", "check_stock").body == {"available": 1}
                raise RuntimeError("set-up failed")


        def test_no_stub_is_left_behind():
            from pysoa_like.client.client import Client
            with pytest.raises(Exception, match="catalog"):
                Client({}).call_action("catalog", "check_stock", {"book_id": 1})
        """
    )
    method, function = hook.split("\n\n\n")
    project.makepyfile(
        test_library="import pytest\n" + PLAN_MODULE + textwrap.indent(method, "    ") + "\n\n" + function
    )
    stub = "stub action: catalog: check_stock: body int: available: 1\n"
    (project.path / "plans" / "books.pysoa").write_text(
        BOOKS.replace("test description: Dune is found\n", "test description: Dune is found\n" + stub)
    )
    result = project.runpytest()
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: set-up failed*"])


def test_the_plugin_does_not_need_the_extra(tmp_path: Path) -> None:
    """Without pyparsing, pytest starts and runs ordinary tests; importing the plan package says what to install."""
    (tmp_path / "test_plain.py").write_text(
        "import pytest\n\n\ndef test_plain():\n"
        "    with pytest.raises(ImportError, match=r'pysoa_like\\[test-plans\\]'):\n"
        "        import pysoa_like.test.plan\n"
    )
    script = (
        "import sys; sys.modules['pyparsing'] = None; import pytest; "
        f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {str(tmp_path)!r}]))"
    )
    root = str(Path(__file__).resolve().parents[4])
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": root},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "--pysoa-fixture" in subprocess.run(
        [sys.executable, "-c", script.replace("'-q', ", "'--help', ")], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True, timeout=60, check=False,
    ).stdout  # fmt: skip
