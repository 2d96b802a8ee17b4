"""The raises_* context managers and the messages they fail with."""

from __future__ import annotations

import pytest

from pysoa_like.client.client import Client
from pysoa_like.test.assertions import (
    raises_call_action_error,
    raises_error_codes,
    raises_field_errors,
    raises_only_error_codes,
    raises_only_field_errors,
)


def test_raises_call_action_error_exposes_soa_errors(echo_client: Client) -> None:
    """After the block, exc_info.soa_errors holds the failed action's errors."""
    with raises_call_action_error() as exc_info:
        echo_client.call_action("echo", "fail")
    assert [e.code for e in exc_info.soa_errors] == ["BROKEN", "BAD"]


def test_raises_call_action_error_when_nothing_is_raised(echo_client: Client) -> None:
    """A block that raises nothing fails with a message saying so."""
    expected = pytest.raises(AssertionError, match="Expected the block to raise CallActionError")
    with expected, raises_call_action_error():
        echo_client.call_action("echo", "echo")


def test_error_codes_pass_and_only_rejects_extras(echo_client: Client) -> None:
    """raises_error_codes ignores other errors; raises_only_error_codes names them."""
    with raises_error_codes("BROKEN"):
        echo_client.call_action("echo", "fail")
    with pytest.raises(AssertionError) as info, raises_only_error_codes(["BROKEN"]):
        echo_client.call_action("echo", "fail")
    message = str(info.value)
    assert "Action 'fail' did not return only the error codes ['BROKEN']" in message
    assert "returned but not expected: name: BAD ('Bad')" in message


def test_missing_error_code_message(echo_client: Client) -> None:
    """A missing code is listed, and a code returned only on a field is pointed out."""
    with pytest.raises(AssertionError) as info, raises_error_codes({"GONE", "BAD"}):
        echo_client.call_action("echo", "fail")
    message = str(info.value)
    assert "expected but not returned: BAD (returned, but on a field: use the field-error assertion), GONE" in message
    assert "BROKEN ('It broke')" in message


def test_field_errors_pass_and_fail_with_details(echo_client: Client) -> None:
    """raises_field_errors matches per field; the failure lists missing and unexpected field errors."""
    with raises_field_errors({"name": "MISSING", "age": ["MISSING"]}):
        echo_client.call_action("echo", "validated", {})
    with pytest.raises(AssertionError) as info, raises_only_field_errors({"name": "INVALID"}):
        echo_client.call_action("echo", "validated", {})
    message = str(info.value)
    assert "did not return only these field errors: {name: ['INVALID']}" in message
    assert "expected but not returned: name: INVALID" in message
    assert "returned but not expected: name: MISSING" in message
    assert "age: MISSING" in message
