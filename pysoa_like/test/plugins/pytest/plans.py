"""The pytest plugin that runs test plans (PySOA's ``pysoa.test.plugins.pytest.plans``).

Registered by the ``pytest11`` entry point ``pysoa_like_test_plan``. It collects every class that
subclasses :class:`~pysoa_like.test.plan.ServicePlanTestCase` (whatever its name): its ordinary
``test_*`` methods, then one test per test case of each fixture file, with the node id
``<module>::<Class>::<fixture>::<test>`` and the fixture file and line as its location.

Options (group "pysoa"):

* ``--pysoa-fixture NAME`` (repeatable): run only the cases of these fixtures (file base names);
* ``--pysoa-test-case NAME`` (repeatable): run only the cases with these names (or descriptions);
* ``--pysoa-test-case-regex PATTERN`` (repeatable): run only the cases whose name or description
  starts with a match; cannot be combined with ``--pysoa-test-case``;
* ``--pysoa-disable-tb-prune``: keep the plan machinery's frames in failure tracebacks.

With any of the three filters, every test that is not a plan case is deselected.

The plugin imports nothing of the ``test-plans`` extra: it only acts on modules that already
imported :mod:`pysoa_like.test.plan`, so it costs nothing (and cannot break pytest) where the
extra is not installed.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pysoa_like.test.plan import FixtureTestCaseData

__all__ = ["ServicePlanFixture", "ServicePlanTestCaseItem", "ServicePlanTestClass"]

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True

_PLAN_MODULE = "pysoa_like.test.plan"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the test plan options."""
    group = parser.getgroup("pysoa", "pysoa_like test plans")
    group.addoption(
        "--pysoa-fixture", action="append", dest="pysoa_fixture", default=[], metavar="FIXTURE_NAME",
        help="Run only the test plan cases of this fixture (the file's base name, without .pysoa); repeatable.",
    )  # fmt: skip
    group.addoption(
        "--pysoa-test-case", action="append", dest="pysoa_test_case", default=[], metavar="TEST_CASE_NAME",
        help="Run only the test plan cases with this name (or description); repeatable.",
    )  # fmt: skip
    group.addoption(
        "--pysoa-test-case-regex", action="append", dest="pysoa_test_case_regex", default=[], metavar="PATTERN",
        help="Run only the test plan cases whose name or description starts with a match of PATTERN; repeatable; "
        "not with --pysoa-test-case.",
    )  # fmt: skip
    group.addoption(
        "--pysoa-disable-tb-prune", action="store_true", dest="pysoa_disable_tb_prune", default=False,
        help="Keep the test plan machinery's frames in failure tracebacks.",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Check the options: the two test case filters exclude each other, and patterns must compile.

    Raises:
        pytest.UsageError: With a message saying what is wrong.
    """
    if config.getoption("pysoa_test_case", None) and config.getoption("pysoa_test_case_regex", None):
        raise pytest.UsageError("--pysoa-test-case and --pysoa-test-case-regex are mutually exclusive")
    for pattern in config.getoption("pysoa_test_case_regex", None) or ():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise pytest.UsageError(
                f"--pysoa-test-case-regex {pattern!r} is not a valid regular expression: {exc}"
            ) from None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    """Collect subclasses of ``ServicePlanTestCase`` (any name); ignore the base class itself."""
    plan_module = sys.modules.get(_PLAN_MODULE)
    if plan_module is None or not isinstance(obj, type):
        return None
    base = plan_module.ServicePlanTestCase
    if obj is base:
        return []
    if not issubclass(obj, base):
        return None
    return ServicePlanTestClass.from_parent(collector, name=name, obj=obj)


class ServicePlanTestClass(pytest.Class):
    """A plan class: its ``test_*`` methods, then one :class:`ServicePlanFixture` per fixture file."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        """Collect the ordinary tests, then parse the fixtures.

        Raises:
            CollectError: A fixture cannot be loaded or parsed (the message names the file and line).
        """
        ordinary = list(super().collect())
        cls = self.obj
        if not getattr(cls, "__test__", True) or _defines(cls, "__init__") or _defines(cls, "__new__"):
            return ordinary
        from pysoa_like.test.plan.errors import DirectiveError, FixtureLoadError, FixtureSyntaxError, StatusError

        try:
            cases = list(cls.get_fixture_test_information())
        except (FixtureLoadError, FixtureSyntaxError, DirectiveError, StatusError) as exc:
            raise self.CollectError(f"{type(exc).__name__}: {exc}") from exc
        fixtures: dict[str, list[FixtureTestCaseData]] = {}
        for data in cases:
            fixtures.setdefault(data.fixture_file, []).append(data)
        nodes: list[pytest.Item | pytest.Collector] = list(ordinary)
        names: dict[str, str] = {}
        for fixture_cases in fixtures.values():
            for data in fixture_cases:
                self._attach(data, names)
            nodes.append(ServicePlanFixture.from_parent(self, name=fixture_cases[0].fixture_name, cases=fixture_cases))
        return nodes

    def _attach(self, data: FixtureTestCaseData, names: dict[str, str]) -> None:
        from pysoa_like.test.plan import plan_test_name

        cls = self.obj
        method = plan_test_name(data)
        if method in names:
            raise self.CollectError(
                f"StatusError: duplicate test {method}: test case {data.name!r} of fixture {data.fixture_file} has the "
                f"same name as one in {names[method]} (test names must be unique per fixture name)"
            )
        existing = cls.__dict__.get(method)
        if existing is not None and getattr(existing, "_pysoa_plan_case", None) is None:
            raise self.CollectError(
                f"StatusError: {cls.__name__} already has an attribute {method}, the name of test case {data.name!r} "
                f"of fixture {data.fixture_file}"
            )
        names[method] = data.fixture_file
        setattr(cls, method, data.callable)


def _defines(cls: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(object, name)


class ServicePlanFixture(pytest.Collector):
    """One fixture file of a plan class: one :class:`ServicePlanTestCaseItem` per test case."""

    def __init__(self, *, cases: list[FixtureTestCaseData], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases

    def collect(self) -> Iterable[pytest.Item]:
        """One item per test case, in file order."""
        from pysoa_like.test.plan import plan_test_name

        class_node = self.parent
        assert isinstance(class_node, ServicePlanTestClass)
        cls = class_node.obj
        items: list[pytest.Item] = []
        for data in self.cases:
            instance = cls()
            instance._pysoa_plan_case_data = data
            method = plan_test_name(data)
            item = ServicePlanTestCaseItem.from_parent(
                self, name=data.name, callobj=getattr(instance, method), plan_data=data, keywords={method: True}
            )
            # -k matches node names and extra keyword matches (not `keywords`): PySOA's -k plan__<fixture>__<test>
            item.extra_keyword_matches.add(method)
            if getattr(cls, "__unittest_skip__", False):
                item.add_marker(pytest.mark.skip(reason=getattr(cls, "__unittest_skip_why__", "") or "skipped"))
            elif data.skip and class_node.get_closest_marker("skip") is None:
                item.add_marker(pytest.mark.skip(reason=data.skip))
            items.append(item)
        return items

    def reportinfo(self) -> tuple[str, int, str]:
        """The fixture file."""
        return self.cases[0].fixture_file, 0, self.name


class ServicePlanTestCaseItem(pytest.Function):
    """One test case of a fixture file; reported at the fixture file and the case's first line."""

    def __init__(self, *, plan_data: FixtureTestCaseData, **kwargs: Any) -> None:
        self.plan_data = plan_data
        super().__init__(**kwargs)

    @property
    def fixture_key(self) -> tuple[type, str]:
        """The plan class and fixture file this case belongs to."""
        return type(self.instance), self.plan_data.fixture_file

    @property
    def statically_skipped(self) -> bool:
        """Whether a ``skip`` marker will skip it."""
        return self.get_closest_marker("skip") is not None

    def reportinfo(self) -> tuple[str, int, str]:
        """The fixture file, the case's first line (0-based), and ``Class::fixture::test``."""
        data = self.plan_data
        label = f"{type(self.instance).__name__}::{data.fixture_name}::{data.name}"
        return data.fixture_file, data.line_number - 1, label

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        traceback = super()._traceback_filter(excinfo)
        if self.config.getoption("pysoa_disable_tb_prune", False):
            return traceback
        kept = traceback.filter(lambda entry: not entry.frame.f_globals.get("__test_plan_prune_traceback"))
        return kept if len(kept) else traceback


def _plan_items(items: Iterable[pytest.Item]) -> Iterator[ServicePlanTestCaseItem]:
    return (item for item in items if isinstance(item, ServicePlanTestCaseItem))


def _selected(item: ServicePlanTestCaseItem, config: pytest.Config) -> bool:
    data = item.plan_data
    fixtures = config.getoption("pysoa_fixture") or []
    names = config.getoption("pysoa_test_case") or []
    patterns = config.getoption("pysoa_test_case_regex") or []
    if fixtures and data.fixture_name not in fixtures:
        return False
    if names and data.name not in names and data.description_text not in names:
        return False
    return not patterns or any(
        re.match(pattern, data.name) or re.match(pattern, data.description_text) for pattern in patterns
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply ``--pysoa-fixture``, ``--pysoa-test-case`` and ``--pysoa-test-case-regex`` (and deselect the rest)."""
    if not any(config.getoption(name, None) for name in ("pysoa_fixture", "pysoa_test_case", "pysoa_test_case_regex")):
        return
    keep = [item for item in items if isinstance(item, ServicePlanTestCaseItem) and _selected(item, config)]
    kept = set(keep)
    deselected = [item for item in items if item not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = keep


def _closes_fixture(item: ServicePlanTestCaseItem, nextitem: pytest.Item | None) -> bool:
    """Whether no later case of the same fixture runs right after ``item`` (skipped cases are looked past)."""
    if not isinstance(nextitem, ServicePlanTestCaseItem) or nextitem.fixture_key != item.fixture_key:
        return True
    if not nextitem.statically_skipped:
        return False
    items = item.session.items
    try:
        position = items.index(nextitem)
    except ValueError:
        return True
    for following in items[position:]:
        if not isinstance(following, ServicePlanTestCaseItem) or following.fixture_key != item.fixture_key:
            return True
        if not following.statically_skipped:
            return False
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tell a plan case whether it is the last of its fixture to run (it then tears the fixture down)."""
    if isinstance(item, ServicePlanTestCaseItem):
        item.instance._pysoa_plan_closes_fixture = _closes_fixture(item, nextitem)
