"""mock directives: what they store, how the patched mocks behave, and how call expectations are checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from unittest import mock

import pytest

from pysoa_like.test.plan.errors import FixtureSyntaxError
from pysoa_like.test.plan.grammar.directive import TestCase as PlanCase
from pysoa_like.test.plan.grammar.directive import TestFixture as PlanFixture
from tests.unit.testing_toolkit.plan import _logic
from tests.unit.testing_toolkit.plan.conftest import call_hooks

Parse = Callable[..., PlanFixture]
LOGIC = "tests.unit.testing_toolkit.plan._logic"
ORIGINAL_NOTIFY = _logic.notify


def case_of(parse: Parse, *lines: str) -> PlanCase:
    """The one test case made of ``lines`` plus an action line."""
    (case,) = parse("test name: t\ntest description: d\nact: input: a: b\n" + "".join(f"{line}\n" for line in lines))
    return case


@pytest.fixture
def test_level() -> Iterator[Callable[[PlanCase], None]]:
    """``start(case)``: run the test-level set-up hooks; the tear-down hooks run after the test."""
    started: list[PlanCase] = []

    def start(case: PlanCase) -> None:
        started.append(case)
        call_hooks("set_up_test_case", case, [case])

    yield start
    for case in started:
        call_hooks("tear_down_test_case", case, [case])


def test_results_are_stored_per_target_and_attribute_path(parse: Parse) -> None:
    """JSON values, exception classes (builtin or module:Class), delete, and side-effect sequences."""
    case = case_of(
        parse,
        f'mock: {LOGIC}.notify: return_value: {{"queued": true, "ids": [1, 2]}}',
        f"mock: {LOGIC}.notify: side_effect: 7",
        f"mock: {LOGIC}.notify: side_effect: exception ValueError",
        f"mock: {LOGIC}.notify: side_effect: exception pysoa_like.server.errors:ActionError",
        f"mock: {LOGIC}.notify: legacy: delete",
        f'mock: {LOGIC}.notify: template.name: "loan"',
        f'mock: {LOGIC}.notify: template.name: "return"',
        f'act: mock: {LOGIC}.Notifier: send.return_value: {{"mock.ANY": true}}',
    )
    from pysoa_like.server.errors import ActionError

    configure = case["mock_patches"][f"{LOGIC}.notify"]["configure"]
    assert configure["return_value"] == {"queued": True, "ids": [1, 2]}
    assert configure["return_value"].queued is True
    assert configure["side_effect"] == [7, ValueError, ActionError]
    assert repr(configure["legacy"]) == "<delete>"
    assert configure["template.name"] == "return"
    assert case["act.0"]["mock_patches"][f"{LOGIC}.Notifier"]["configure"]["send.return_value"] is mock.ANY


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"mock: {LOGIC}.notify: return_value: {{oops", "Invalid JSON value '{oops'"),
        (f"mock: {LOGIC}.notify: side_effect: exception NoSuchError", "Cannot find exception 'NoSuchError'"),
        (f"mock: {LOGIC}.notify: side_effect: exception nowhere.module:X", "Cannot find exception 'nowhere.module:X'"),
        (f"mock: {LOGIC}.notify: return_value: delete", "Cannot delete 'return_value'"),
        (f"mock: {LOGIC}.notify: a.side_effect: delete", "Cannot delete 'a.side_effect'"),
        (f'mock: {LOGIC}.notify: expect called: ["m-100"]', r"JSON \[\[positional arguments\]"),
        (f"mock: {LOGIC}.notify: expect called: [[], [], {{}}]", "positional arguments"),
        (f"mock: {LOGIC}.notify: expect called: not json", "Invalid JSON value"),
        (f"mock: {LOGIC}.notify: 1bad: 2", "no directive matches it"),
        (f"mock: {LOGIC}..notify: a: 2", "no directive matches it"),
        (f"mock: {LOGIC}.notify: expect called", "no directive matches it"),
    ],
)
def test_malformed_mock_lines(parse: Parse, line: str, message: str) -> None:
    """Bad JSON, unknown exceptions, impossible deletes, bad call lists and bad names are syntax errors."""
    with pytest.raises(FixtureSyntaxError, match=message):
        case_of(parse, line)


def test_called_and_not_called_cannot_be_mixed_for_one_path(parse: Parse) -> None:
    """Expecting calls and no call of the same attribute is contradictory."""
    with pytest.raises(FixtureSyntaxError, match="both 'called' and 'not called'"):
        case_of(parse, f"mock: {LOGIC}: expect called notify: [[], {{}}]", f"mock: {LOGIC}: expect not called notify:")
    with pytest.raises(FixtureSyntaxError, match="both"):
        case_of(parse, f"act: mock: {LOGIC}: expect not called:", f"act: mock: {LOGIC}: expect called: [[], {{}}]")


def test_configured_mock_replaces_the_target_until_tear_down(parse: Parse, test_level: Callable[..., None]) -> None:
    """The target is patched with a MagicMock configured by attribute path (shorter paths first)."""
    case = case_of(
        parse,
        f'mock: {LOGIC}.notify: return_value.title: "Dune"',
        f'mock: {LOGIC}.notify: return_value: {{"replaced": "first"}}',
        f"mock: {LOGIC}.notify: legacy: delete",
    )
    test_level(case)
    assert isinstance(_logic.notify, mock.MagicMock)
    result = _logic.notify()
    assert result.replaced == "first" and result.title == "Dune"
    with pytest.raises(AttributeError):
        _ = _logic.notify.legacy
    call_hooks("tear_down_test_case", case, [case])
    assert _logic.notify is ORIGINAL_NOTIFY


def test_side_effects_are_a_sequence_one_per_call(parse: Parse, test_level: Callable[..., None]) -> None:
    """Each call takes the next element; exception classes are raised; then StopIteration (as in PySOA)."""
    case = case_of(
        parse,
        f"mock: {LOGIC}.next_reference: side_effect: 1",
        f"mock: {LOGIC}.next_reference: side_effect: exception KeyError",
    )
    test_level(case)
    assert _logic.next_reference("L") == 1
    with pytest.raises(KeyError):
        _logic.next_reference("L")
    with pytest.raises(StopIteration):
        _logic.next_reference("L")


def test_call_expectations_pass_for_exactly_these_calls_in_order(parse: Parse, test_level: Callable[..., None]) -> None:
    """Expected calls must appear consecutively and in order, and be all the calls; mock.ANY matches anything."""
    case = case_of(
        parse,
        f'mock: {LOGIC}.notify: expect called: [["m-1"], {{"template": "loan"}}]',
        f'mock: {LOGIC}.notify: expect called: [["m-2"], {{"template": {{"mock.ANY": true}}}}]',
        f"mock: {LOGIC}.next_reference: expect not called:",
    )
    test_level(case)
    _logic.notify("m-1", template="loan")
    _logic.notify("m-2", template="anything")
    call_hooks("assert_test_case_results", {}, case, [case], msg="t")


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ([("m-2", "x"), ("m-1", "loan")], "was not called as expected"),
        ([("m-1", "loan")], "was not called as expected"),
        ([("m-1", "loan"), ("m-2", "x"), ("m-3", "x")], "to be called 2 time"),
    ],
)
def test_call_expectations_fail_on_wrong_order_missing_or_extra_calls(
    parse: Parse, test_level: Callable[..., None], calls: list[tuple[str, str]], message: str
) -> None:
    """Order, missing calls and extra calls are all failures naming the mocked object."""
    case = case_of(
        parse,
        f'mock: {LOGIC}.notify: expect called: [["m-1"], {{"template": "loan"}}]',
        f'mock: {LOGIC}.notify: expect called: [["m-2"], {{"template": "x"}}]',
    )
    test_level(case)
    for member, template in calls:
        _logic.notify(member, template=template)
    with pytest.raises(AssertionError, match=f"t: .*{LOGIC}.notify.*{message}"):
        call_hooks("assert_test_case_results", {}, case, [case], msg="t")


def test_not_called_fails_when_called(parse: Parse, test_level: Callable[..., None]) -> None:
    """expect not called fails as soon as the object (or the attribute) was called, showing the calls."""
    case = case_of(parse, f"mock: {LOGIC}.notify: expect not called:", f"mock: {LOGIC}.notify: expect not called x:")
    test_level(case)
    _logic.notify.x()
    with pytest.raises(AssertionError, match=r"notify\.x not to be called, but it was called 1 time"):
        call_hooks("assert_test_case_results", {}, case, [case])
    _logic.notify("m-1")
    with pytest.raises(AssertionError, match=r"not to be called, but it was called 1 time.*call\('m-1'\)"):
        call_hooks("assert_test_case_results", {}, case, [case])


def test_action_level_mocks_live_around_one_action(parse: Parse) -> None:
    """Action-level mocks are patched in the action set-up and checked with that action's assertions."""
    case = case_of(parse, f'act: mock: {LOGIC}.notify: expect called: [["m-1"], {{}}]')
    action = case["act.0"]
    call_hooks("set_up_test_case_action", "act", action, case, [case])
    try:
        assert isinstance(_logic.notify, mock.MagicMock)
        with pytest.raises(AssertionError, match=r"act\.0: .*was not called as expected"):
            call_hooks("assert_test_case_action_results", "act", action, case, [case], None, None, msg="act.0")
        _logic.notify("m-1")
        call_hooks("assert_test_case_action_results", "act", action, case, [case], None, None, msg="act.0")
    finally:
        call_hooks("tear_down_test_case_action", "act", action, case, [case])
    assert _logic.notify is ORIGINAL_NOTIFY


def test_tear_down_stops_only_the_directives_own_patches(parse: Parse, test_level: Callable[..., None]) -> None:
    """A patch the user started stays active after the test-level mocks are stopped (PySOA stopped it too)."""
    case = case_of(parse, f"mock: {LOGIC}.notify: return_value: 1")
    user_patch = mock.patch(f"{LOGIC}.next_reference", return_value="mine")
    user_patch.start()
    try:
        test_level(case)
        call_hooks("tear_down_test_case", case, [case])
        assert _logic.notify is ORIGINAL_NOTIFY
        assert _logic.next_reference("L") == "mine"
    finally:
        user_patch.stop()


def test_mock_targets_and_paths_may_use_capital_letters(parse: Parse) -> None:
    """Class names can be patched (PySOA accepted lower-case names only)."""
    case = case_of(parse, "mock: library.logic.BookRepo: Find.return_value: 1")
    assert case["mock_patches"]["library.logic.BookRepo"]["configure"] == {"Find.return_value": 1}
