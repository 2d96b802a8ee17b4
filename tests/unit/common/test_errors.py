"""Tests for the exception trees."""

from __future__ import annotations

import pytest

from pysoa_like.client import errors as client_errors
from pysoa_like.common.errors import Error, PySOAError
from pysoa_like.common.serializer import errors as serializer_errors
from pysoa_like.common.transport import errors as transport_errors
from pysoa_like.common.types import ActionResponse
from pysoa_like.server import errors as server_errors


@pytest.mark.parametrize(
    ("exc_class", "parent"),
    [
        (transport_errors.PySOATransportError, PySOAError),
        (transport_errors.MessageTooLarge, transport_errors.PySOATransportError),
        (transport_errors.InvalidMessageError, transport_errors.PySOATransportError),
        (transport_errors.TransientPySOATransportError, transport_errors.PySOATransportError),
        (transport_errors.MessageReceiveTimeout, transport_errors.TransientPySOATransportError),
        (transport_errors.MessageSendTimeout, transport_errors.TransientPySOATransportError),
        (transport_errors.MessageReceiveError, transport_errors.TransientPySOATransportError),
        (transport_errors.MessageSendError, transport_errors.TransientPySOATransportError),
        (transport_errors.ConnectionError, transport_errors.TransientPySOATransportError),
        (serializer_errors.SerializationError, PySOAError),
        (serializer_errors.InvalidMessage, serializer_errors.SerializationError),
        (serializer_errors.InvalidField, serializer_errors.SerializationError),
        (client_errors.PySOAClientError, PySOAError),
        (client_errors.ImproperlyConfigured, client_errors.PySOAClientError),
        (client_errors.InvalidExpansionKey, client_errors.PySOAClientError),
        (client_errors.CallJobError, client_errors.PySOAClientError),
        (client_errors.CallActionError, client_errors.PySOAClientError),
        (server_errors.PySOAServerError, PySOAError),
        (server_errors.JobError, server_errors.PySOAServerError),
        (server_errors.ActionError, server_errors.PySOAServerError),
        (server_errors.ResponseValidationError, server_errors.PySOAServerError),
    ],
)
def test_exception_tree(exc_class: type[Exception], parent: type[Exception]) -> None:
    """Every exception sits at its PySOA place in the tree, under PySOAError."""
    assert issubclass(exc_class, parent)
    assert issubclass(exc_class, PySOAError)


def test_message_too_large_keeps_size() -> None:
    """MessageTooLarge records the refused size and its message."""
    exc = transport_errors.MessageTooLarge(2048, "Message exceeds maximum message size")
    assert exc.message_size_in_bytes == 2048
    assert "maximum" in str(exc)


def test_action_error_marks_caller_errors_by_default() -> None:
    """ActionError sets is_caller_error on every error unless told otherwise; None keeps the flags."""
    errors = [Error("A", "a"), Error("B", "b", is_caller_error=True)]
    assert [e.is_caller_error for e in server_errors.ActionError(errors).errors] == [True, True]
    kept = server_errors.ActionError(errors, set_is_caller_error_to=None).errors
    assert [e.is_caller_error for e in kept] == [False, True]
    cleared = server_errors.ActionError(errors, set_is_caller_error_to=False).errors
    assert [e.is_caller_error for e in cleared] == [False, False]


def test_job_error_clears_caller_flag_by_default() -> None:
    """JobError errors are not caller errors unless set_is_caller_error_to says so."""
    errors = [Error("A", "a", is_caller_error=True)]
    assert server_errors.JobError(errors).errors[0].is_caller_error is False
    assert server_errors.JobError(errors, set_is_caller_error_to=None).errors[0].is_caller_error is True


def test_client_errors_carry_their_payload_and_readable_text() -> None:
    """CallJobError keeps .errors and CallActionError keeps .actions, and both read well."""
    job_error = client_errors.CallJobError([Error("INVALID", "bad")])
    assert job_error.errors[0].code == "INVALID"
    assert "INVALID: bad" in str(job_error)
    action_error = client_errors.CallActionError([ActionResponse("a", errors=[Error("MISSING", "m", field="x")])])
    assert action_error.actions[0].action == "a"
    assert "a: MISSING: m (field x)" in str(action_error)


def test_response_validation_error_describes_failures() -> None:
    """ResponseValidationError names the action and each failing pointer and code, as PySOA words it."""

    class _E:
        code = "MISSING"
        message = "Missing key: x"
        pointer = "x"

    exc = server_errors.ResponseValidationError("act", [_E()])
    assert exc.action == "act"
    assert str(exc) == "act had an invalid response:\n\tx MISSING: Missing key: x"
