"""The testing toolkit behaves as PySOA 1.4.9's does where PySOA's own tests pin it down."""

from __future__ import annotations

import asyncio
import os
import unittest
import warnings
from typing import Any

import pytest
from parameterized import parameterized

from pysoa_like.client.client import Client
from pysoa_like.client.errors import CallJobError
from pysoa_like.common.errors import Error
from pysoa_like.server.errors import ActionError, JobError
from pysoa_like.server.server import Server
from pysoa_like.test.assertions import (
    raises_call_action_error,
    raises_error_codes,
    raises_field_errors,
    raises_only_error_codes,
)
from pysoa_like.test.compatibility import mock
from pysoa_like.test.server import BaseServerTestCase, PyTestServerTestCase, UnitTestServerTestCase
from pysoa_like.test.stub_service import stub_action
from tests.unit.testing_toolkit._services import EchoServer

# stub_action with decorator libraries that re-apply patches through mock.patch's protocol


class TestStubActionWithParameterizedExpand(unittest.TestCase):
    """parameterized.expand re-applies stub_action per generated test through decorate_callable."""

    @parameterized.expand([(1,), (2,)])
    @stub_action("echo", "echo", body={"stubbed": True})
    def test_each_expansion_gets_an_active_stub(self, number: int, stub: Any) -> None:
        """Every generated test receives a fresh, active mock after its parameters."""
        client = Client({})
        assert client.call_action("echo", "echo", {"n": number}).body == {"stubbed": True}
        assert stub.call_bodies == ({"n": number},)


def test_decorate_callable_and_is_local_follow_mock_patch() -> None:
    """decorate_callable wraps a function with the stub active only while it runs; is_local tells."""
    stub = stub_action("echo", "echo", body={"x": 1})
    seen: list[Any] = []

    def probe(mock_arg: Any) -> None:
        seen.append((stub.is_local, Client({}).call_action("echo", "echo").body, mock_arg.call_count))

    wrapped = stub.decorate_callable(probe)
    assert wrapped.patchings == [stub]  # type: ignore[attr-defined]
    assert not stub.is_local
    wrapped()
    assert seen == [(True, {"x": 1}, 1)]
    assert not stub.is_local


def test_decorate_async_callable_is_offered() -> None:
    """decorate_async_callable (used for coroutine tests) keeps the stub active while awaited."""
    stub = stub_action("echo", "echo", body={"a": 1})

    async def probe(mock_arg: Any) -> Any:
        return Client({}).call_action("echo", "echo").body

    assert asyncio.run(stub.decorate_async_callable(probe)()) == {"a": 1}


# side_effect forms PySOA documents


@pytest.mark.parametrize("side_effect", [JobError, [JobError]])
def test_a_job_error_class_side_effect_fails_the_job(side_effect: Any) -> None:
    """A JobError class, alone or in a list, fails the job with a SERVER_ERROR naming the stub."""
    with stub_action("svc", "act", side_effect=side_effect), pytest.raises(CallJobError) as info:
        Client({}).call_action("svc", "act")
    assert [e.code for e in info.value.errors] == ["SERVER_ERROR"]
    assert "svc.act" in info.value.errors[0].message


def test_a_job_error_instance_in_a_list_fails_the_job() -> None:
    """A JobError instance inside a side_effect list fails the job with its own errors."""
    with stub_action("svc", "act", side_effect=[{"ok": 1}, JobError([Error(code="JOB", message="m")])]) as stub:
        client = Client({})
        assert client.call_action("svc", "act").body == {"ok": 1}
        with pytest.raises(CallJobError) as info:
            client.call_action("svc", "act")
    assert [e.code for e in info.value.errors] == ["JOB"]
    assert stub.call_count == 2


def test_an_action_error_class_side_effect_fails_the_action() -> None:
    """An ActionError class as a side effect fails the action instead of raising TypeError."""
    with stub_action("svc", "act", side_effect=ActionError):
        response = Client({}).call_action("svc", "act", raise_action_errors=False)
    assert [e.code for e in response.errors] == ["SERVER_ERROR"]


def test_callables_in_a_side_effect_list_are_called_with_the_body() -> None:
    """A callable inside a side_effect list is called with the request body; its result is the response."""
    with stub_action("svc", "act", side_effect=[lambda body: {"doubled": body["n"] * 2}, {"plain": True}]):
        client = Client({})
        assert client.call_action("svc", "act", {"n": 4}).body == {"doubled": 8}
        assert client.call_action("svc", "act", {"n": 5}).body == {"plain": True}


def test_a_dict_side_effect_answers_every_call() -> None:
    """A dict alone as the side effect is the response body of every call."""
    with stub_action("svc", "act", side_effect={"same": True}):
        client = Client({})
        assert [client.call_action("svc", "act").body for _ in range(2)] == [{"same": True}] * 2


def test_a_fully_stubbed_job_has_an_empty_response_context() -> None:
    """With no server involved, the response context is {} as in PySOA (no correlation id echo)."""
    with stub_action("svc", "act", body={"a": 1}):
        job = Client({}).call_actions("svc", [{"action": "act"}], correlation_id="abc")
    assert job.context == {}


def test_client_offers_call_job_error() -> None:
    """Client.CallJobError exists beside Client.JobError and Client.CallActionError."""
    assert Client.CallJobError is CallJobError is Client.JobError


# assertion context managers fail like pytest.fail


@pytest.mark.parametrize(
    ("manager", "action"),
    [
        (lambda: raises_error_codes("NOT_RETURNED"), "fail"),
        (lambda: raises_only_error_codes("BROKEN"), "fail"),
        (lambda: raises_field_errors({"field": "NOT_RETURNED"}), "fail"),
        (raises_call_action_error, "echo"),
    ],
)
def test_raises_helpers_fail_as_pytest_fail(echo_client: Client, manager: Any, action: str) -> None:
    """A mismatch (or no CallActionError at all) is pytest.fail.Exception, and also an AssertionError."""
    with pytest.raises(pytest.fail.Exception) as info, manager():
        echo_client.call_action("echo", action)
    assert isinstance(info.value, AssertionError)


def test_raises_call_action_error_lets_a_failure_inside_the_block_through() -> None:
    """pytest.fail called inside the block is the test's failure, not reported as 'raised nothing'."""
    with pytest.raises(pytest.fail.Exception, match="from the block"), raises_call_action_error():
        pytest.fail("from the block")


# server test cases


class _InstanceLevel(BaseServerTestCase):
    """A test case configured on the instance, as PySOA's own tests do in setup_method."""


def test_instance_level_server_class_and_settings_are_used() -> None:
    """server_class and server_settings set on the instance are used, and service_name is set."""
    case = _InstanceLevel()
    case.server_class = EchoServer
    case.server_settings = {}
    case.setup_pysoa()
    assert case.service_name == "echo"
    assert case.call_action("echo", {"a": 1}).body == {"a": 1}
    case.teardown_pysoa()


class _NotAServer:
    service_name = "nope"


class _NamelessServer(Server):
    pass


@pytest.mark.parametrize(
    ("server_class", "message"),
    [(None, "must set server_class"), (_NotAServer, "must be a Server subclass"), (_NamelessServer, "service_name")],
)
def test_a_bad_server_class_is_a_type_error(server_class: Any, message: str) -> None:
    """No server class, a class that is not a Server, or a server without service_name: TypeError."""
    case = _InstanceLevel()
    case.server_class = server_class
    with pytest.raises(TypeError, match=message):
        case.setup_pysoa()


def test_missing_settings_are_an_assertion_error() -> None:
    """Without settings or PYSOA_SETTINGS_MODULE, setup fails with an AssertionError (as PySOA)."""
    case = _InstanceLevel()
    case.server_class = EchoServer
    environ = {k: v for k, v in os.environ.items() if k != "PYSOA_SETTINGS_MODULE"}
    with mock.patch.dict(os.environ, environ, clear=True), pytest.raises(AssertionError, match="PYSOA_SETTINGS"):
        case.setup_pysoa()


def test_action_helpers_fail_as_pytest_fail() -> None:
    """assertActionRunsWith* mismatches are pytest.fail.Exception (and AssertionError)."""
    case = _InstanceLevel()
    case.server_class, case.server_settings = EchoServer, {}
    case.setup_pysoa()
    try:
        with pytest.raises(pytest.fail.Exception):
            case.assertActionRunsWithErrorCodes("fail", {}, "NOT_RETURNED")
        with pytest.raises(pytest.fail.Exception):
            case.assertActionRunsWithAndReturnErrors("echo", {})
    finally:
        case.teardown_pysoa()


class TestPyTestStyleAssertions(PyTestServerTestCase):
    """PyTestServerTestCase's exception and warning helpers are pytest's, as in PySOA."""

    server_class = EchoServer
    server_settings: Any = {}

    def test_assert_raises_context_has_value_and_exception(self) -> None:
        """The assertRaises context is pytest's ExceptionInfo: .value, and .exception after the block."""
        with self.assertRaises(ValueError) as context:
            raise ValueError("boom")
        assert str(context.value) == "boom"
        assert context.exception is context.value

    def test_assert_raises_fails_like_pytest_raises(self) -> None:
        """A block that raises nothing fails as pytest.raises does; a wrong regex is an AssertionError."""
        with pytest.raises(pytest.fail.Exception), self.assertRaises(ValueError):
            pass
        with pytest.raises(AssertionError), self.assertRaisesRegex(ValueError, "[a-z]+"):
            raise ValueError("1234")

    def test_assert_raises_call_form(self) -> None:
        """assertRaises(exc, callable, *args, **kwargs) calls it and returns None."""

        def explode(value: int, *, kind: type[Exception]) -> None:
            raise kind(value)

        assert self.assertRaises(KeyError, explode, 1, kind=KeyError) is None

    def test_assert_warns_context_has_list(self) -> None:
        """The assertWarns context is pytest's checker: .list, and unittest's .warning after the block."""
        with self.assertWarns(DeprecationWarning) as context:
            warnings.warn("old", DeprecationWarning, stacklevel=1)
        assert [str(w.message) for w in context.list] == ["old"]
        assert str(context.warning) == "old"

    @pytest.mark.filterwarnings("ignore:1234:FutureWarning")  # pytest.warns re-emits the unmatched warning
    def test_assert_warns_fails_like_pytest_warns(self) -> None:
        """A block that warns nothing (or nothing matching) fails as pytest.warns does."""
        with pytest.raises(pytest.fail.Exception), self.assertWarns(DeprecationWarning):
            pass
        with pytest.raises(pytest.fail.Exception), self.assertWarnsRegex(FutureWarning, "[a-z]+"):
            warnings.warn("1234", FutureWarning, stacklevel=1)

    @pytest.mark.parametrize(
        ("alias", "args"),
        [
            ("assertEquals", (1, 1)),
            ("failUnless", (True,)),
            ("failIfEqual", (1, 2)),
            ("assertRegexpMatches", ("a", "a")),
        ],
    )
    def test_deprecated_aliases_exist_and_warn(self, alias: str, args: tuple[Any, ...]) -> None:
        """PySOA's deprecated aliases exist on every Python version and warn when used."""
        with pytest.warns(DeprecationWarning, match=alias):
            getattr(self, alias)(*args)

    def test_service_name_is_set(self) -> None:
        """setup_pysoa sets self.service_name from the server class."""
        assert self.service_name == "echo"


class TestUnitTestCaseServiceName(UnitTestServerTestCase):
    """UnitTestServerTestCase sets self.service_name too."""

    server_class = EchoServer
    server_settings: Any = {}

    def test_service_name_is_set(self) -> None:
        """setup_pysoa sets self.service_name from the server class."""
        assert self.service_name == "echo"
