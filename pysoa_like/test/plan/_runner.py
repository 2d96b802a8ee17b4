"""Running one parsed test case: hooks in PySOA's order, one job per action case, failures pointing at the fixture."""

from __future__ import annotations

import copy
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pysoa_like.common.types import ActionResponse
from pysoa_like.test.plan.errors import DirectiveError, StatusError
from pysoa_like.test.plan.grammar.directive import ActionResults, TestCase, TestFixture, get_all_directives
from pysoa_like.test.plan.grammar.tools import substitute_variables
from pysoa_like.test.plan.parser import ACTION_LINES_KEY

if TYPE_CHECKING:
    from pysoa_like.test.plan import FixtureTestCaseData, ServicePlanTestCase

# Frames of this module are left out of plan failure tracebacks (unless --pysoa-disable-tb-prune).
__test_plan_prune_traceback = True

# Action-case keys resolved before the call (they configure it); the rest after it.
_BEFORE_CALL_KEYS = ("inputs", "job_control_inputs", "job_context_inputs", "stubbed_actions", "mock_patches")
# Actions every server has: never replaced by a test-only _process_stub_action_* method.
_BUILT_IN_ACTIONS = ("status", "introspect")


class FixtureState:
    """Set-up bookkeeping of one fixture file within one plan class."""

    def __init__(self) -> None:
        self.set_up = False
        self.ready = False
        self.results: list[ActionResults] = []
        self.fixture: TestFixture = []


class Outcome:
    """The first error of a test, and any later ones printed to stderr (they never replace the first)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def record(self, error: BaseException, what: str) -> None:
        """Keep ``error`` if it is the first; otherwise print it as an additional error."""
        if error is self.error:
            return
        if self.error is None:
            self.error = error
            return
        sys.stderr.write(f"Additional error while {what} (the test already failed):\n")
        sys.stderr.write("".join(traceback.format_exception(type(error), error, error.__traceback__)))

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run a block, recording an ``Exception`` it raises instead of propagating it."""
        try:
            yield
        except Exception as exc:
            self.record(exc, what)

    def raise_error(self) -> None:
        """Raise the first error, if any."""
        if self.error is not None:
            raise self.error


def call_directives(hook: str, *args: Any, **kwargs: Any) -> None:
    """Call ``hook`` on a fresh instance of every directive, in registration order.

    Raises:
        DirectiveError: No directive is registered, or one lacks the hook.
    """
    directives = get_all_directives()
    if not directives:
        raise DirectiveError("No test plan directives are registered")
    for directive in directives:
        method = getattr(directive(), hook, None)
        if method is None:
            raise DirectiveError(f"Directive {directive.__name__} has no {hook} hook; is it a Directive subclass?")
        method(*args, **kwargs)


def call_directives_all(outcome: Outcome, hook: str, *args: Any) -> None:
    """Call ``hook`` on every directive even if some raise (for tear-downs); errors go to ``outcome``."""
    for directive in get_all_directives():
        with outcome.step(f"running {directive.__name__}.{hook}"):
            getattr(directive(), hook)(*args)


def set_up_fixture(plan: ServicePlanTestCase, state: FixtureState, fixture: TestFixture) -> None:
    """Set a fixture up: the class hook, then the directives' (the fixture is ready only if all succeed)."""
    state.set_up, state.ready, state.results, state.fixture = True, False, [], fixture
    plan.set_up_test_fixture(fixture)
    call_directives("set_up_test_fixture", fixture)
    state.ready = True


def tear_down_fixture(plan: ServicePlanTestCase, state: FixtureState, fixture: TestFixture) -> None:
    """Tear a fixture down: the directives' hooks, then the class hook (all run; the first error is raised)."""
    state.set_up = state.ready = False
    outcome = Outcome()
    call_directives_all(outcome, "tear_down_test_fixture", fixture)
    with outcome.step("tearing the fixture down"):
        plan.tear_down_test_fixture(fixture)
    outcome.raise_error()


def _sources(plan: ServicePlanTestCase, bodies: dict[str, Any]) -> tuple[Any, ...]:
    return bodies, type(plan).model_constants or {}


def run_test_case(plan: ServicePlanTestCase, data: FixtureTestCaseData, state: FixtureState, closes: bool) -> None:
    """Run one test case: set-up hooks, each action case, the test-case assertions, tear-down hooks.

    Raises:
        StatusError: The fixture is not set up (its set-up failed).
        AssertionError: An expectation failed.
    """
    fixture = data.test_fixture
    test_case: TestCase = copy.deepcopy(fixture[data.case_index])
    results: ActionResults = {}
    plan._pysoa_plan_failure = ({"test_case": test_case, "test_fixture_results": state.results}, data.line_number)
    outcome = Outcome()
    try:
        if not state.ready:
            raise StatusError(
                f"Fixture {data.fixture_file} is not set up (its set-up failed in an earlier test case), "
                f"so test case {data.name} cannot run"
            )
        _run_case_body(plan, test_case, fixture, results, outcome)
    except Exception as exc:
        outcome.record(exc, "running the test case")
    finally:
        state.results.append(results)
        if closes:
            with outcome.step("checking the fixture results"):
                call_directives("assert_test_fixture_results", state.results, fixture)
    outcome.raise_error()


def _run_case_body(
    plan: ServicePlanTestCase, test_case: TestCase, fixture: TestFixture, results: ActionResults, outcome: Outcome
) -> None:
    own_set_up = False
    try:
        plan.set_up_test_case(test_case, fixture)
        own_set_up = True
        call_directives("set_up_test_case", test_case, fixture)
        bodies: dict[str, Any] = {}
        for path in test_case["actions"]:
            _run_action_case(plan, path, test_case, fixture, results, bodies, outcome)
            outcome.raise_error()
        plan._pysoa_plan_failure = ({"test_case": test_case, "test_fixture_results": results}, test_case["line_number"])
        call_directives("assert_test_case_results", results, test_case, fixture, msg=test_case.get("name"))
    except Exception as exc:
        outcome.record(exc, "running the test case")
    finally:
        call_directives_all(outcome, "tear_down_test_case", test_case, fixture)
        if own_set_up:
            with outcome.step("running tear_down_test_case"):
                plan.tear_down_test_case(test_case, fixture)


def _run_action_case(
    plan: ServicePlanTestCase,
    path: str,
    test_case: TestCase,
    fixture: TestFixture,
    results: ActionResults,
    bodies: dict[str, Any],
    outcome: Outcome,
) -> None:
    name = path.rpartition(".")[0]
    action_case = test_case[path]
    sources = _sources(plan, bodies)
    for key in _BEFORE_CALL_KEYS:
        if key in action_case:
            substitute_variables(action_case[key], *sources)
    own_set_up = False
    try:
        plan.set_up_test_case_action(name, action_case, test_case, fixture)
        own_set_up = True
        call_directives("set_up_test_case_action", name, action_case, test_case, fixture)
        with _test_only_action(plan, name):
            job_response = plan.client.call_actions(
                plan.service_name,
                [{"action": name, "body": action_case.get("inputs") or {}}],
                context=action_case.get("job_context_inputs") or {},
                control_extra=action_case.get("job_control_inputs") or {},
                raise_job_errors=False,
                raise_action_errors=False,
            )
        action_response: ActionResponse | None = job_response.actions[0] if job_response.actions else None
        results[path] = action_response
        bodies[path] = action_response.body if action_response is not None else None
        plan._pysoa_plan_failure = (
            {"job_response": job_response, "action_results": results, "action_case": action_case},
            test_case.get(ACTION_LINES_KEY, {}).get(path, test_case["line_number"]),
        )
        for key, value in action_case.items():
            if key not in _BEFORE_CALL_KEYS and not key.startswith("_"):
                action_case[key] = substitute_variables(value, *sources)
        call_directives(
            "assert_test_case_action_results", name, action_case, test_case, fixture, action_response, job_response,
            msg=path,
        )  # fmt: skip
    except Exception as exc:
        outcome.record(exc, f"running action case {path}")
    finally:
        call_directives_all(outcome, "tear_down_test_case_action", name, action_case, test_case, fixture)
        if own_set_up:
            with outcome.step("running tear_down_test_case_action"):
                plan.tear_down_test_case_action(name, action_case, test_case, fixture)


@contextmanager
def _test_only_action(plan: ServicePlanTestCase, name: str) -> Iterator[None]:
    """Route the call to ``_process_stub_action_<name>`` when the server has no such action."""
    handler: Callable[[dict[str, Any]], Any] | None = getattr(plan, f"_process_stub_action_{name}", None)
    server_class = plan.server_class
    known = name in _BUILT_IN_ACTIONS or (server_class is not None and name in server_class.action_class_map)
    if handler is None or known:
        yield
        return
    from pysoa_like.test.stub_service import stub_action

    with stub_action(
        plan.service_name, name, side_effect=handler,
        register_response_schema_contract=False, register_request_schema_contract=False,
    ):  # fmt: skip
        yield


def point_at_fixture(
    error: BaseException, data: FixtureTestCaseData, names: dict[str, Any], line_number: int, label: str
) -> None:
    """Append a traceback entry pointing at ``line_number`` of the test case's fixture file to ``error``.

    The entry's "function" is named ``Class::fixture::test``, its arguments are ``names`` (shown by
    pytest's long tracebacks), and its source is the fixture file, so failure reports list the case
    from its first line to ``line_number`` (the failing action case's first line, or the case's).
    """
    frame = _fixture_frame(data, names, label)
    entry = types.TracebackType(None, frame, frame.f_lasti, line_number)
    entries: list[types.TracebackType] = []
    tb = error.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    chain = entry
    for original in reversed(entries):
        chain = types.TracebackType(chain, original.tb_frame, original.tb_lasti, original.tb_lineno)
    error.__traceback__ = chain


def _fixture_frame(data: FixtureTestCaseData, names: dict[str, Any], label: str) -> types.FrameType:
    arguments = ", ".join(names)
    source = f"def _case({arguments}):\n    return _getframe()\n"
    namespace: dict[str, Any] = {"_getframe": sys._getframe}
    exec(compile(source, data.fixture_file, "exec"), namespace)
    function = namespace["_case"]
    replacements: dict[str, Any] = {"co_firstlineno": data.line_number, "co_name": label}
    if sys.version_info >= (3, 11):
        replacements["co_qualname"] = label
    function.__code__ = function.__code__.replace(**replacements)
    frame: types.FrameType = function(*names.values())
    return frame
