"""The server test cases: setup, settings lookup, assertion helpers and their failure messages."""

from __future__ import annotations

import os
import unittest
import warnings
from typing import Any

import pytest

from pysoa_like.test.compatibility import mock
from pysoa_like.test.server import (
    PyTestServerTestCase,
    ServerTestCase,
    UnitTestServerTestCase,
    server_settings_from_environment,
)
from tests.functional.mistaken_servers import FieldClassSchemaServer
from tests.unit.testing_toolkit._services import EchoServer


class _EchoCase(PyTestServerTestCase):
    server_class = EchoServer
    server_settings: Any = {}


@pytest.fixture
def case() -> Any:
    """A set-up echo test case, torn down afterwards."""
    instance = _EchoCase()
    instance.setup_method()
    yield instance
    instance.teardown_method()


def test_server_test_case_is_the_pytest_variant() -> None:
    """ServerTestCase is PySOA's name for PyTestServerTestCase."""
    assert ServerTestCase is PyTestServerTestCase


def test_call_action_defaults_to_the_service_under_test(case: Any) -> None:
    """call_action fills in the service; coroutine actions work."""
    assert case.call_action("echo", {"a": 1}).body == {"a": 1}
    assert case.call_action("async_double", {"value": 4}).body == {"value": 8}


def test_teardown_stops_the_event_loop_thread() -> None:
    """After teardown the server's coroutine thread is stopped."""
    instance = _EchoCase()
    instance.setup_method()
    instance.call_action("async_double", {"value": 1})
    server = instance.client.handlers["echo"].transport.server  # type: ignore[attr-defined]
    instance.teardown_method()
    assert not server._async_event_loop_thread.is_running


def test_action_ran_without_errors_message(case: Any) -> None:
    """Expecting errors from a successful action fails naming it and its body."""
    with pytest.raises(AssertionError, match=r"Action 'echo' of service 'echo' ran without errors.*\{'a': 1\}"):
        case.assertActionRunsWithErrorCodes("echo", {"a": 1}, "ANY")


def test_error_code_helpers(case: Any) -> None:
    """Codes match errors without a field; only= reports the field error as unexpected."""
    case.assertActionRunsWithErrorCodes("fail", {}, "BROKEN")
    with pytest.raises(AssertionError) as info:
        case.assertActionRunsWithOnlyErrorCodes("fail", {}, ["BROKEN"])
    assert "returned but not expected: name: BAD ('Bad')" in str(info.value)
    with pytest.raises(AssertionError, match="expected but not returned: MISSING_CODE"):
        case.assertActionRunsWithErrorCodes("fail", {}, {"BROKEN", "MISSING_CODE"})


def test_field_error_helpers(case: Any) -> None:
    """Field errors match per field; mismatches list both sides."""
    case.assertActionRunsWithOnlyFieldErrors("validated", {}, {"name": "MISSING", "age": "MISSING"})
    case.assertActionRunsWithFieldErrors("validated", {"age": -1}, {"name": {"MISSING"}})
    with pytest.raises(AssertionError) as info:
        case.assertActionRunsWithOnlyFieldErrors("validated", {"age": -1}, {"age": "MISSING"})
    message = str(info.value)
    assert "Action 'validated' of service 'echo' did not return only these field errors: {age: ['MISSING']}" in message
    assert "expected but not returned: age: MISSING" in message
    assert "returned but not expected: " in message and "name: MISSING" in message and "age: INVALID" in message


def test_return_errors_helper(case: Any) -> None:
    """assertActionRunsWithAndReturnErrors returns the errors for custom checks."""
    assert [e.code for e in case.assertActionRunsWithAndReturnErrors("fail", {})] == ["BROKEN", "BAD"]


def test_unittest_assertions_are_polyfilled(case: Any) -> None:
    """assertEqual, assertRaises and fail behave as in unittest."""
    case.assertEqual(1, 1)
    with case.assertRaises(ZeroDivisionError):
        _ = 1 / 0
    with pytest.raises(AssertionError, match="1 != 2"):
        case.assertEqual(1, 2)
    with pytest.raises(AssertionError, match="stop here"):
        case.fail("stop here")


def test_cleanups_run_last_added_first() -> None:
    """addCleanup callbacks run at teardown in reverse order."""
    order: list[int] = []
    instance = _EchoCase()
    instance.setup_method()
    instance.addCleanup(order.append, 1)
    instance.addCleanup(order.append, 2)
    instance.teardown_method()
    assert order == [2, 1]


def test_legacy_set_up_warns_and_runs() -> None:
    """A legacy setUp still runs, with a DeprecationWarning."""

    class Legacy(_EchoCase):
        def setUp(self) -> None:
            self.ran = True

    instance = Legacy()
    with pytest.warns(DeprecationWarning, match="setUp is deprecated"):
        instance.setup_method()
    instance.teardown_method()
    assert instance.ran


def test_missing_server_class_message() -> None:
    """A test case without server_class fails with a message saying what to set."""
    with pytest.raises(TypeError, match="NoServer must set server_class"):
        type("NoServer", (PyTestServerTestCase,), {})().setup_method()


@pytest.mark.parametrize("case_class", [PyTestServerTestCase, UnitTestServerTestCase])
def test_an_action_schema_that_cannot_check_a_body_fails_setup_as_the_server_refuses_to_start(
    case_class: type[Any],
) -> None:
    """A schema holding a field class where its instance belongs fails setup with the message a server refusing to
    start gives (every call of the action was a SERVER_ERROR, seen only in the test's assertions)."""
    case = type("FieldClassCase", (case_class,), {"server_class": FieldClassSchemaServer, "server_settings": {}})
    instance = case("run") if case_class is UnitTestServerTestCase else case()
    setup = instance.setUp if case_class is UnitTestServerTestCase else instance.setup_method
    with pytest.raises(TypeError) as raised:
        setup()
    assert str(raised.value) == (
        "FieldClassSchemaServer (service 'field_class_schema'), action 'add': request_schema['number'] is the class "
        "Integer, not a field: write Integer() (an instance of it)"
    )


def test_settings_from_the_environment() -> None:
    """PYSOA_SETTINGS_MODULE's SOA_SERVER_SETTINGS is used when server_settings is None."""
    with mock.patch.dict(os.environ, {"PYSOA_SETTINGS_MODULE": "tests.unit.testing_toolkit._services"}):
        assert server_settings_from_environment(EchoServer) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "set the environment variable PYSOA_SETTINGS_MODULE"),
        ("no_such_module_xyz", "Could not import PYSOA_SETTINGS_MODULE='no_such_module_xyz'"),
        ("os", "defines neither SOA_SERVER_SETTINGS nor settings"),
    ],
)
def test_settings_lookup_failures_explain_themselves(value: str | None, message: str) -> None:
    """Each way the settings lookup can fail has its own message."""
    environ = {k: v for k, v in os.environ.items() if k != "PYSOA_SETTINGS_MODULE"}
    if value is not None:
        environ["PYSOA_SETTINGS_MODULE"] = value
    with mock.patch.dict(os.environ, environ, clear=True), pytest.raises(RuntimeError, match=message):
        server_settings_from_environment(EchoServer)


def test_unittest_variant_runs_under_unittest() -> None:
    """UnitTestServerTestCase works under the unittest runner, failures included."""

    class Case(UnitTestServerTestCase):
        server_class = EchoServer
        server_settings: Any = {}

        def test_ok(self) -> None:
            self.assertActionRunsWithErrorCodes("fail", {}, "BROKEN")

        def test_fails(self) -> None:
            self.assertActionRunsWithErrorCodes("echo", {}, "BROKEN")

    result = unittest.TestResult()
    with warnings.catch_warnings():
        unittest.defaultTestLoader.loadTestsFromTestCase(Case).run(result)
    assert result.testsRun == 2
    assert len(result.failures) == 1
    assert "ran without errors" in result.failures[0][1]


def test_legacy_hooks_may_call_super_in_pysoa_order() -> None:
    """Legacy setUpClass/setUp/tearDown/tearDownClass overrides may call super(); they run around the test."""
    calls: list[str] = []

    class Legacy(_EchoCase):
        @classmethod
        def setUpClass(cls) -> None:
            super().setUpClass()
            calls.append("setUpClass")

        @classmethod
        def tearDownClass(cls) -> None:
            super().tearDownClass()
            calls.append("tearDownClass")

        def setUp(self) -> None:
            super().setUp()
            calls.append(f"setUp with client={hasattr(self, 'client')}")

        def tearDown(self) -> None:
            super().tearDown()
            calls.append("tearDown")

    with pytest.warns(DeprecationWarning):
        Legacy.setup_class()
        instance = Legacy()
        instance.setup_method()
        instance.teardown_method()
        Legacy.teardown_class()
    assert calls == ["setUpClass", "setUp with client=True", "tearDown", "tearDownClass"]


def test_legacy_hooks_of_a_mixin_after_the_test_case_still_run() -> None:
    """A mixin listed after the test case in the bases keeps its legacy hooks run (with the warning), as before the
    base class had no-op hooks of its own."""
    calls: list[str] = []

    class LegacyMixin:
        @classmethod
        def setUpClass(cls) -> None:
            calls.append("mixin.setUpClass")

        def setUp(self) -> None:
            calls.append("mixin.setUp")

        def tearDown(self) -> None:
            calls.append("mixin.tearDown")

        @classmethod
        def tearDownClass(cls) -> None:
            calls.append("mixin.tearDownClass")

    class Mixed(_EchoCase, LegacyMixin):
        pass

    with pytest.warns(DeprecationWarning):
        Mixed.setup_class()
        instance = Mixed()
        instance.setup_method()
        instance.teardown_method()
        Mixed.teardown_class()
    assert calls == ["mixin.setUpClass", "mixin.setUp", "mixin.tearDown", "mixin.tearDownClass"]


def test_the_base_legacy_hooks_are_silent_no_ops(recwarn: pytest.WarningsRecorder) -> None:
    """Without overrides no legacy hook warns; the no-op hooks exist on the plain test case."""
    _EchoCase.setup_class()
    instance = _EchoCase()
    instance.setup_method()
    instance.setUp()
    instance.tearDown()
    instance.teardown_method()
    _EchoCase.setUpClass()
    _EchoCase.tearDownClass()
    _EchoCase.teardown_class()
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
