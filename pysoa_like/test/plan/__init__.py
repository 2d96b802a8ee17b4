"""Test plans: end-to-end test cases of a service written in ``.pysoa`` fixture files (PySOA's ``pysoa.test.plan``).

Subclass :class:`ServicePlanTestCase`, set ``server_class``, ``server_settings`` and where the
fixture files are (``fixture_path``), and the pytest plugin (installed with the ``test-plans``
extra) turns each test case of each file into a pytest test named ``plan__<fixture>__<test>``::

    class TestLibraryPlans(ServicePlanTestCase):
        server_class = LibraryServer
        server_settings = {}
        fixture_path = "plans"  # relative paths start at this module's directory

Every test case calls the service's actions through the whole server pipeline (on the local
transport), one job per action case, and checks what the fixture expects. The fixture grammar is
documented on the *Test plans* page.

This package needs the ``test-plans`` extra (pyparsing, and freezegun for ``freeze time``).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import attr

from pysoa_like.common._extras import install_extra

try:
    import pyparsing  # noqa: F401
except ImportError as _exc:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(f"pysoa_like.test.plan needs the test-plans extra: {install_extra('test-plans')}") from _exc

import pysoa_like.test.plan.grammar  # noqa: F401  (registers the built-in directives)
from pysoa_like.test.plan import _runner
from pysoa_like.test.plan.errors import FixtureLoadError
from pysoa_like.test.plan.grammar.directive import ActionCase, TestCase, TestFixture
from pysoa_like.test.plan.parser import ServiceTestPlanFixtureParser
from pysoa_like.test.server import PyTestServerTestCase

__all__ = ["FixtureTestCaseData", "ServicePlanTestCase"]

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True

#: Fixture files: names not starting with a dot and ending in ``.pysoa``.
DEFAULT_FIXTURE_REGEX = re.compile(r"^[^.].*\.pysoa$")


@attr.s(eq=False)
class FixtureTestCaseData:
    """What the pytest plugin needs to know about one test case of one fixture.

    Attributes:
        name: The test case's name.
        description: Its description, a newline and the fixture file.
        fixture_name: The fixture file's base name without ``.pysoa``.
        fixture_file: The fixture file.
        line_number: The case's first line.
        skip: The skip reason (``None`` or empty: not skipped).
        callable: The test function (``self`` is a plan class instance).
        test_fixture: Every parsed test case of the fixture.
        is_first_fixture_case: No non-skipped case comes before it in the file.
        is_last_fixture_case: It is the file's last non-skipped case.
        case_index: Its position in ``test_fixture``.
    """

    name: str = attr.ib()
    description: str = attr.ib()
    fixture_name: str = attr.ib()
    fixture_file: str = attr.ib()
    line_number: int = attr.ib()
    skip: str | None = attr.ib()
    callable: Callable[[Any], None] = attr.ib()
    test_fixture: TestFixture = attr.ib()
    is_first_fixture_case: bool = attr.ib()
    is_last_fixture_case: bool = attr.ib()
    case_index: int = attr.ib(default=0)

    @property
    def description_text(self) -> str:
        """The description as written in the fixture (without the file path)."""
        return self.description.split("\n", 1)[0]


class ServicePlanTestCase(PyTestServerTestCase):
    """A pytest test class whose tests are the test cases of ``.pysoa`` fixture files.

    Override the hooks to prepare data (call ``super()`` first); they run in this order:
    ``setup_class``; per case ``setup_method`` (which on a fixture's first case begins with
    ``set_up_test_fixture``), ``set_up_test_case``, per action case ``set_up_test_case_action`` and
    ``tear_down_test_case_action``, then ``tear_down_test_case`` and ``teardown_method`` (which on a
    fixture's last case ends with ``tear_down_test_fixture``); ``teardown_class``.

    A method ``_process_stub_action_<name>(body)`` makes ``<name>`` a test-only action when the
    server has no such action: it receives the request body and returns a body (or an
    ``ActionResponse`` or ``JobResponse``), or raises ``ActionError`` or ``JobError``.

    Attributes:
        fixture_path: A directory searched recursively for fixture files (relative: to the directory
            of the module defining the class).
        fixture_regex: Which file names are fixtures.
        custom_fixtures: Fixture files to use instead of searching ``fixture_path``, in this order.
        model_constants: Values for ``[[name.path]]`` substitutions (dicts or lists of dicts).
    """

    fixture_path: ClassVar[str | None] = None
    fixture_regex: ClassVar[re.Pattern[str]] = DEFAULT_FIXTURE_REGEX
    custom_fixtures: ClassVar[Sequence[str]] = ()
    model_constants: ClassVar[Mapping[str, Any]] = {}
    # What a failure report shows: the values named in its fixture entry, and the fixture line.
    _pysoa_plan_failure: tuple[dict[str, Any], int]

    # Finding and parsing fixtures

    @classmethod
    def _base_directory(cls) -> str:
        try:
            return os.path.dirname(os.path.abspath(inspect.getfile(cls)))
        except (TypeError, OSError):
            return os.getcwd()

    @classmethod
    def get_fixture_file_names(cls) -> list[str]:
        """The fixture files of this class: ``custom_fixtures`` if set, else the matches under ``fixture_path``.

        Returns:
            The files (matches sorted by path); empty when neither attribute is set.

        Raises:
            FixtureLoadError: ``fixture_path`` is not a directory, or holds no fixture file.
        """
        base = cls._base_directory()
        if cls.custom_fixtures:
            return [os.path.join(base, name) for name in cls.custom_fixtures]
        if not cls.fixture_path:
            return []
        root = os.path.join(base, cls.fixture_path)
        if not os.path.isdir(root):
            raise FixtureLoadError(f"Fixture path {root} of {cls.__name__} does not exist or is not a directory")
        regex = cls.fixture_regex if hasattr(cls.fixture_regex, "match") else re.compile(cls.fixture_regex)
        found = sorted(
            os.path.join(directory, name)
            for directory, _, names in os.walk(root)
            for name in names
            if regex.match(name)
        )
        if not found:
            raise FixtureLoadError(f"No fixture files under {root} match {regex.pattern!r} ({cls.__name__})")
        return found

    @classmethod
    def get_fixture_test_information(cls) -> Iterator[FixtureTestCaseData]:
        """Parse every fixture file and yield one record per test case, fixture by fixture, in file order.

        Raises:
            FixtureLoadError, FixtureSyntaxError: A fixture cannot be read or parsed.
        """
        for file_name in cls.get_fixture_file_names():
            fixture_name = os.path.basename(file_name)
            fixture_name = fixture_name[: -len(".pysoa")] if fixture_name.endswith(".pysoa") else fixture_name
            fixture = ServiceTestPlanFixtureParser(file_name, fixture_name).parse_test_fixture()
            runnable = [index for index, case in enumerate(fixture) if not case.get("skip")]
            for index, case in enumerate(fixture):
                data = FixtureTestCaseData(
                    name=case["name"],
                    description=case["description"],
                    fixture_name=fixture_name,
                    fixture_file=file_name,
                    line_number=case["line_number"],
                    skip=case.get("skip") or None,
                    callable=_unset_callable,
                    test_fixture=fixture,
                    is_first_fixture_case=not any(other < index for other in runnable),
                    is_last_fixture_case=bool(runnable) and index == runnable[-1],
                    case_index=index,
                )
                data.callable = _make_test_function(data)
                yield data

    # Hooks

    @classmethod
    def _pysoa_fixture_states(cls) -> dict[str, _runner.FixtureState]:
        states: dict[str, _runner.FixtureState] | None = cls.__dict__.get("_pysoa_plan_fixture_states")
        if states is None:
            states = {}
            cls._pysoa_plan_fixture_states = states  # type: ignore[attr-defined]
        return states

    @classmethod
    def setup_class(cls) -> None:
        """Reset the fixture bookkeeping, then run the base class set-up."""
        cls._pysoa_plan_fixture_states = {}  # type: ignore[attr-defined]
        super().setup_class()

    @classmethod
    def teardown_class(cls) -> None:
        """Tear down any fixture still set up (its last case did not run), then run the base class tear-down.

        Raises:
            Exception: The last error of those tear-downs, after all were tried.
        """
        error: BaseException | None = None
        for state in cls._pysoa_fixture_states().values():
            if state.set_up:
                try:
                    _runner.tear_down_fixture(cls(), state, state.fixture)
                except Exception as exc:
                    error = exc
        super().teardown_class()
        if error is not None:
            raise error

    def setup_method(self, method: Any = None) -> None:
        """On a fixture's first executed case, set the fixture up; then build :attr:`client`."""
        data: FixtureTestCaseData | None = getattr(self, "_pysoa_plan_case_data", None)
        if data is not None:
            state = type(self)._pysoa_fixture_states().setdefault(data.fixture_file, _runner.FixtureState())
            if not state.set_up:
                _runner.set_up_fixture(self, state, data.test_fixture)
        super().setup_method(method)

    def teardown_method(self, method: Any = None) -> None:
        """Tear the server down; after a fixture's last case, tear the fixture down too."""
        try:
            super().teardown_method(method)
        finally:
            data: FixtureTestCaseData | None = getattr(self, "_pysoa_plan_case_data", None)
            if data is not None and getattr(self, "_pysoa_plan_closes_fixture", False):
                state = type(self)._pysoa_fixture_states().get(data.fixture_file)
                if state is not None and state.set_up:
                    _runner.tear_down_fixture(self, state, data.test_fixture)

    def set_up_test_fixture(self, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called before a fixture's first case (before :attr:`client` exists)."""

    def tear_down_test_fixture(self, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called after a fixture's last case."""

    def set_up_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called before each test case, before the directives' set-up (mocks, stubs, frozen time)."""

    def tear_down_test_case(self, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any) -> None:
        """Called after each test case, after the directives' tear-down."""

    def set_up_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Called before each action case (``action_name`` has no index), before the directives' set-up."""

    def tear_down_test_case_action(
        self, action_name: str, action_case: ActionCase, test_case: TestCase, test_fixture: TestFixture, **kwargs: Any
    ) -> None:
        """Called after each action case, after the directives' tear-down."""

    def _run_plan_test_case(self, data: FixtureTestCaseData) -> None:
        state = type(self)._pysoa_fixture_states().setdefault(data.fixture_file, _runner.FixtureState())
        self._pysoa_plan_failure = ({}, data.line_number)
        try:
            _runner.run_test_case(self, data, state, getattr(self, "_pysoa_plan_closes_fixture", False))
        except Exception as exc:
            names, line_number = self._pysoa_plan_failure
            label = f"{type(self).__name__}::{data.fixture_name}::{data.name}"
            _runner.point_at_fixture(exc, data, names, line_number, label)
            # Not a bare `raise`: Python 3.10 would re-raise with the traceback it caught, without the entry just
            # added (this frame shows twice with --pysoa-disable-tb-prune).
            raise exc


def _unset_callable(plan: Any) -> None:  # pragma: no cover - replaced right after construction
    raise NotImplementedError


def plan_test_name(data: FixtureTestCaseData) -> str:
    """The test method name of a case: ``plan__<fixture>__<test>``."""
    return f"plan__{data.fixture_name}__{data.name}"


def _make_test_function(data: FixtureTestCaseData) -> Callable[[Any], None]:
    def test(self: ServicePlanTestCase) -> None:
        self._run_plan_test_case(data)

    test.__name__ = test.__qualname__ = plan_test_name(data)
    test.__doc__ = data.description
    test._pysoa_plan_case = data  # type: ignore[attr-defined]
    return test
