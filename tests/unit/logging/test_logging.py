"""The request-context log filter, censoring wrapper and syslog splitting."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.common.logging import (
    REQUEST_LOG_CONTEXT,
    RUNNING_ACTION_NAME,
    PySOALogContextFilter,
    RecursivelyCensoredDictWrapper,
    SyslogHandler,
)


def _record() -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, "msg", None, None)


def _filtered() -> dict[str, Any]:
    record = _record()
    assert PySOALogContextFilter().filter(record) is True
    return {k: getattr(record, k) for k in ("correlation_id", "request_id", "service_name", "action_name")}


@pytest.fixture(autouse=True)
def _reset_service_name() -> Any:
    previous = PySOALogContextFilter.get_service_name()
    yield
    PySOALogContextFilter.set_service_name(previous)


def test_filter_defaults_outside_a_request() -> None:
    """Outside a request the filter fills in PySOA's placeholder values ('--' for both ids)."""
    PySOALogContextFilter.set_service_name(None)
    assert _filtered() == {
        "correlation_id": "--",
        "request_id": "--",
        "service_name": "unknown",
        "action_name": "(n/a)",
    }


def _set_by_pysoa_methods() -> Callable[[], None]:
    PySOALogContextFilter.set_logging_request_context(request_id=1, correlation_id="outer")
    PySOALogContextFilter.set_logging_action_name("a")

    def clear() -> None:
        PySOALogContextFilter.clear_logging_action_name()
        PySOALogContextFilter.clear_logging_request_context()

    return clear


def _set_with_tokens() -> Callable[[], None]:
    request_token = REQUEST_LOG_CONTEXT.set({"request_id": 1, "correlation_id": "outer"})
    action_token = RUNNING_ACTION_NAME.set("a")

    def reset() -> None:
        RUNNING_ACTION_NAME.reset(action_token)
        REQUEST_LOG_CONTEXT.reset(request_token)

    return reset


@pytest.mark.parametrize("set_outer", [_set_by_pysoa_methods, _set_with_tokens], ids=["pysoa_methods", "tokens"])
def test_nested_contexts_restore_the_outer_values(set_outer: Callable[[], Callable[[], None]]) -> None:
    """Request contexts and action names nest: clearing the inner one restores the outer one, whether the outer was
    pushed with PySOA's methods or set with tokens on the context variables (as the server does)."""
    PySOALogContextFilter.set_service_name("svc")
    clear_outer = set_outer()
    try:
        PySOALogContextFilter.set_logging_request_context(request_id=2, correlation_id="inner")
        PySOALogContextFilter.set_logging_action_name("b")
        assert _filtered() == {"correlation_id": "inner", "request_id": 2, "service_name": "svc", "action_name": "b"}
        PySOALogContextFilter.clear_logging_action_name()
        PySOALogContextFilter.clear_logging_request_context()
        assert _filtered() == {"correlation_id": "outer", "request_id": 1, "service_name": "svc", "action_name": "a"}
        assert PySOALogContextFilter.get_logging_request_context() == {"request_id": 1, "correlation_id": "outer"}
        assert PySOALogContextFilter.get_logging_action_name() == "a"
    finally:
        clear_outer()
    assert PySOALogContextFilter.get_logging_request_context() is None
    assert PySOALogContextFilter.get_logging_action_name() is None


def test_contexts_do_not_leak_between_threads() -> None:
    """A context set in one thread is invisible in another."""
    PySOALogContextFilter.set_logging_request_context(request_id=5)
    try:
        seen: list[Any] = []
        thread = threading.Thread(target=lambda: seen.append(PySOALogContextFilter.get_logging_request_context()))
        thread.start()
        thread.join()
        assert seen == [None]
    finally:
        PySOALogContextFilter.clear_logging_request_context()


def test_censoring_masks_sensitive_values_at_any_depth() -> None:
    """Sensitive keys are masked at any depth, in lists too, without changing the wrapped dict."""
    data = {
        "user": {"Password": "hunter2", "name": "ann", "cards": [{"card_number": 4111111111111111}]},
        "api-key": ["k1", "k2"],
        "token": "",
        "pin": True,
    }
    text = str(RecursivelyCensoredDictWrapper(data))
    assert "hunter2" not in text and "4111111111111111" not in text and "k1" not in text
    assert "'name': 'ann'" in text and "'token': ''" in text and "'pin': True" in text
    assert data["user"]["Password"] == "hunter2"  # type: ignore[index]


def test_extra_fields_are_censored_by_a_subclass() -> None:
    """``with_extra_fields`` adds keys to censor without touching the base class."""
    wrapper = RecursivelyCensoredDictWrapper.with_extra_fields({"color"})
    assert "blue" not in repr(wrapper({"color": "blue"}))
    assert "blue" in repr(RecursivelyCensoredDictWrapper({"color": "blue"}))
    assert RecursivelyCensoredDictWrapper.with_extra_fields(set()) is RecursivelyCensoredDictWrapper


def test_censoring_is_lazy_and_cached() -> None:
    """Nothing is computed until the wrapper is formatted, and formatting is done once."""
    wrapper = RecursivelyCensoredDictWrapper({"secret": "s"})
    assert wrapper._censored is None
    first = repr(wrapper)
    assert wrapper._censored is first and str(wrapper) is first


def test_wrapper_refuses_non_mappings() -> None:
    """Only mappings can be wrapped."""
    with pytest.raises(ValueError):
        RecursivelyCensoredDictWrapper(["a"])  # type: ignore[arg-type]


def test_syslog_splitting_truncates_or_fragments() -> None:
    """Long records are truncated or split into ``(cont'd #n)`` fragments that each fit the limit."""
    handler = SyslogHandler(maximum_length=200)
    try:
        handler.append_nul = False
        parts = handler.split_message(b"<14>", b"", b"a" * 500)
        assert len(parts) > 2 and all(len(p) <= 200 for p in parts)
        assert b"(cont'd #2)" in parts[1]
        handler.overflow = SyslogHandler.OVERFLOW_BEHAVIOR_TRUNCATE
        assert handler.split_message(b"<14>", b"", b"a" * 500) == [b"<14>" + b"a" * 196]
        assert handler.split_message(b"<14>", b"", b"short") == [b"<14>short"]
    finally:
        handler.close()
