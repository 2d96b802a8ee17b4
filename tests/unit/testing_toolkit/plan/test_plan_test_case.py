"""ServicePlanTestCase: finding fixtures, the case records it yields, and how cases run."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from pysoa_like.test.plan import ServicePlanTestCase
from pysoa_like.test.plan.errors import FixtureLoadError
from tests.unit.testing_toolkit.plan._services import LibraryServer

HERE = Path(__file__).resolve().parent


def _plan_class(**attributes: Any) -> type[ServicePlanTestCase]:
    attributes.setdefault("server_class", LibraryServer)
    attributes.setdefault("server_settings", {})
    attributes.setdefault("__test__", False)
    return type("Plans", (ServicePlanTestCase,), attributes)


def test_fixture_files_are_found_recursively_sorted_and_filtered(tmp_path: Path) -> None:
    """Every file whose name matches fixture_regex (default: not hidden, ending .pysoa), sorted by path."""
    for name in ("b.pysoa", "a/z.pysoa", "a/.hidden.pysoa", "a/notes.txt", "c.pysoa.bak", "a.pysoa"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = _plan_class(fixture_path=str(tmp_path)).get_fixture_file_names()
    assert found == [str(tmp_path / "a.pysoa"), str(tmp_path / "a" / "z.pysoa"), str(tmp_path / "b.pysoa")]
    only_b = _plan_class(fixture_path=str(tmp_path), fixture_regex=re.compile(r"^b\.")).get_fixture_file_names()
    assert only_b == [str(tmp_path / "b.pysoa")]


def test_relative_paths_start_at_the_module_of_the_class() -> None:
    """A relative fixture_path or custom fixture is found next to the test module (PySOA needed absolute paths)."""
    found = _plan_class(fixture_path="plans/catalog").get_fixture_file_names()
    assert found == [str(HERE / "plans" / "catalog" / "stock.pysoa")]
    custom = _plan_class(custom_fixtures=("plans/library/lookups.pysoa", "/abs/x.pysoa")).get_fixture_file_names()
    assert custom == [str(HERE / "plans" / "library" / "lookups.pysoa"), "/abs/x.pysoa"]


def test_no_fixture_path_means_no_fixtures_and_bad_paths_are_load_errors(tmp_path: Path) -> None:
    """Without fixture_path there are no plan cases; a missing or empty directory is an error naming it."""
    assert _plan_class().get_fixture_file_names() == []
    with pytest.raises(FixtureLoadError, match="does not exist or is not a directory"):
        _plan_class(fixture_path=str(tmp_path / "missing")).get_fixture_file_names()
    with pytest.raises(FixtureLoadError, match=r"No fixture files under .* match '\^\[\^\.\]\.\*\\\\\.pysoa\$'"):
        _plan_class(fixture_path=str(tmp_path)).get_fixture_file_names()


def test_case_records(tmp_path: Path) -> None:
    """One record per case in file order, with first/last flags counting only cases that are not skipped."""
    (tmp_path / "f.pysoa").write_text(
        "test name: a\ntest description: A\ntest skip: no\nx: input: a: b\n\n"
        "test name: b\ntest description: B\nx: input: a: b\n\n"
        "test name: c\ntest description: C\nx: input: a: b\n\n"
        "test name: d\ntest description: D\ntest skip: no\nx: input: a: b\n"
    )
    records = list(_plan_class(fixture_path=str(tmp_path)).get_fixture_test_information())
    assert [(r.name, r.skip, r.is_first_fixture_case, r.is_last_fixture_case) for r in records] == [
        ("a", "no", True, False),
        ("b", None, True, False),
        ("c", None, False, True),
        ("d", "no", False, False),
    ]
    second = records[1]
    assert (second.fixture_name, second.fixture_file, second.line_number) == ("f", str(tmp_path / "f.pysoa"), 6)
    assert second.description == f"B\n{tmp_path / 'f.pysoa'}" and second.description_text == "B"
    assert second.callable.__name__ == "plan__f__b" and second.callable.__doc__ == second.description
    assert second.test_fixture is records[0].test_fixture and second.case_index == 1


SUBSTITUTING = """\
test name: twice
test description: Substitution happens on a copy, so running a case again gives the same result
get_book.0: input int: book_id: 311
get_book.1: input int: book_id: [[GET_BOOK.0.book.id]]
get_book.1: expect: attribute value: book.title: [[GET_BOOK.0.book.title]]
"""


def test_each_run_works_on_a_fresh_copy_of_the_case(tmp_path: Path) -> None:
    """The parsed case is not changed by running it (PySOA substituted in place, so reruns saw old values)."""
    (tmp_path / "f.pysoa").write_text(SUBSTITUTING)
    plan_class = _plan_class(fixture_path=str(tmp_path))
    (record,) = plan_class.get_fixture_test_information()
    plan_class.setup_class()
    try:
        for _ in range(2):
            plan = plan_class()
            plan._pysoa_plan_case_data = record  # type: ignore[attr-defined]
            plan.setup_method()
            try:
                record.callable(plan)
            finally:
                plan.teardown_method()
    finally:
        plan_class.teardown_class()
    assert record.test_fixture[0]["get_book.1"]["inputs"] == {"book_id": "[[GET_BOOK.0.book.id]]"}


FAILING_TEAR_DOWN = """
from pysoa_like.test.plan import ServicePlanTestCase
from tests.unit.testing_toolkit.plan._services import LibraryServer


class Plans(ServicePlanTestCase):
    server_class = LibraryServer
    server_settings = {}
    custom_fixtures = ("f.pysoa",)

    def tear_down_test_case(self, test_case, test_fixture, **kwargs):
        raise RuntimeError("tear-down broke too")

    def set_up_test_fixture(self, test_fixture, **kwargs):
        if FAIL_FIXTURE:
            raise RuntimeError("fixture set-up broke")
"""


def test_a_later_error_is_printed_and_does_not_replace_the_first(pytester: pytest.Pytester) -> None:
    """When the case already failed, a tear-down error goes to stderr; alone, it fails the test itself."""
    pytester.makepyfile(test_plans="FAIL_FIXTURE = False\n" + FAILING_TEAR_DOWN)
    (pytester.path / "f.pysoa").write_text(
        "test name: fails\ntest description: d\nget_book: input int: book_id: 1\nget_book: expect: no errors\n\n"
        "test name: passes\ntest description: d\nget_book: input int: book_id: 311\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ Plans::f::fails _*",
            "*AssertionError: get_book.0: expected no errors*",
            "*Captured stderr call*",
            "Additional error while running tear_down_test_case (the test already failed):",
            "*RuntimeError: tear-down broke too",
            "*_ Plans::f::passes _*",
            "E   RuntimeError: tear-down broke too",
            "f.pysoa:6: RuntimeError",
        ]
    )


def test_cases_of_a_fixture_whose_set_up_failed_do_not_run(pytester: pytest.Pytester) -> None:
    """The first case errors in set-up; the others fail with a StatusError naming the fixture."""
    pytester.makepyfile(test_plans="FAIL_FIXTURE = True\n" + FAILING_TEAR_DOWN)
    (pytester.path / "f.pysoa").write_text(
        "test name: a\ntest description: d\nget_book: input int: book_id: 1\n\n"
        "test name: b\ntest description: d\nget_book: input int: book_id: 311\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*RuntimeError: fixture set-up broke*", f"*StatusError: Fixture *{os.sep}f.pysoa is not set up*"]
    )


LEGACY_HOOKS = """
import warnings

from pysoa_like.test.plan import ServicePlanTestCase
from tests.unit.testing_toolkit.plan._services import LibraryServer

CALLS = []


class Plans(ServicePlanTestCase):
    server_class = LibraryServer
    server_settings = {}
    custom_fixtures = ("f.pysoa",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        CALLS.append("setUpClass")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        CALLS.append("tearDownClass")

    def setUp(self):
        super().setUp()
        CALLS.append("setUp")

    def tearDown(self):
        super().tearDown()
        CALLS.append("tearDown")

    def set_up_test_fixture(self, test_fixture, **kwargs):
        super().set_up_test_fixture(test_fixture, **kwargs)
        CALLS.append("set_up_test_fixture")

    def tear_down_test_fixture(self, test_fixture, **kwargs):
        super().tear_down_test_fixture(test_fixture, **kwargs)
        CALLS.append("tear_down_test_fixture")

    def set_up_test_case(self, test_case, test_fixture, **kwargs):
        super().set_up_test_case(test_case, test_fixture, **kwargs)
        CALLS.append("set_up_test_case")

    def tear_down_test_case(self, test_case, test_fixture, **kwargs):
        super().tear_down_test_case(test_case, test_fixture, **kwargs)
        CALLS.append("tear_down_test_case")


def test_zz_order():
    assert CALLS == [
        "setUpClass",
        "set_up_test_fixture", "setUp", "set_up_test_case", "tear_down_test_case", "tearDown",
        "tear_down_test_fixture",
        "tearDownClass",
    ]
"""


def test_legacy_hooks_of_a_plan_class_may_call_super(pytester: pytest.Pytester) -> None:
    """A plan class's legacy setUpClass/setUp/tearDown/tearDownClass call super() and run in the hook order."""
    pytester.makepyfile(test_plans=LEGACY_HOOKS)
    (pytester.path / "f.pysoa").write_text("test name: a\ntest description: d\nget_book: input int: book_id: 311\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=2)
