"""Tests for FutureSOAResponse."""

from __future__ import annotations

import traceback

import pytest

from pysoa_like.client.client import Client, FutureSOAResponse
from pysoa_like.common.transport.errors import MessageReceiveTimeout


class Source:
    """A get_response callable that plays a script of outcomes and counts calls."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.timeouts: list[float | None] = []

    def __call__(self, timeout: float | None) -> object:
        self.timeouts.append(timeout)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_future_response_alias() -> None:
    """Client.FutureResponse is FutureSOAResponse."""
    assert Client.FutureResponse is FutureSOAResponse


def test_result_is_fetched_once_and_cached() -> None:
    """result() blocks once and returns the cached value afterwards, ignoring later timeouts."""
    source = Source("value")
    future: FutureSOAResponse[object] = FutureSOAResponse(source)
    assert future.running() and not future.done()
    assert future.result(3) == "value"
    assert future.result(1) == "value"
    assert source.timeouts == [3]
    assert future.done() and not future.running()


def test_falsy_result_is_cached() -> None:
    """A falsy value such as None still counts as done."""
    source = Source(None)
    future: FutureSOAResponse[object] = FutureSOAResponse(source)
    assert future.result() is None
    assert future.result() is None
    assert future.done()
    assert len(source.timeouts) == 1


def failing_inner_function() -> None:
    raise KeyError("boom")


def test_exception_is_cached_and_reraised_with_original_traceback() -> None:
    """A non-timeout exception is cached and re-raised with the traceback of where it happened."""

    def get(_timeout: float | None) -> None:
        failing_inner_function()

    future: FutureSOAResponse[None] = FutureSOAResponse(get)
    with pytest.raises(KeyError) as first:
        future.result()
    with pytest.raises(KeyError) as second:
        future.result()
    assert first.value is second.value
    names = [frame.name for frame in traceback.extract_tb(second.value.__traceback__)]
    assert "failing_inner_function" in names
    assert future.done()


def test_timeout_is_not_cached_so_result_can_be_retried() -> None:
    """A MessageReceiveTimeout leaves the future running; the next result() tries again."""
    source = Source(MessageReceiveTimeout("slow"), "late")
    future: FutureSOAResponse[object] = FutureSOAResponse(source)
    with pytest.raises(MessageReceiveTimeout):
        future.result(0.1)
    assert future.running()
    assert future.result(2) == "late"
    assert source.timeouts == [0.1, 2]


def test_exception_returns_and_caches_the_error() -> None:
    """exception() returns the call's exception and caches it (PySOA bug 19)."""
    error = ValueError("bad")
    source = Source(error)
    future: FutureSOAResponse[object] = FutureSOAResponse(source)
    assert future.exception() is error
    assert future.exception() is error
    assert len(source.timeouts) == 1
    with pytest.raises(ValueError):
        future.result()


def test_exception_returns_none_on_success() -> None:
    """exception() is None when the call succeeded."""
    future: FutureSOAResponse[object] = FutureSOAResponse(Source(1))
    assert future.exception() is None
    assert future.result() == 1


def test_exception_raises_timeouts() -> None:
    """exception() raises, rather than returns, a MessageReceiveTimeout."""
    future: FutureSOAResponse[object] = FutureSOAResponse(Source(MessageReceiveTimeout("slow")))
    with pytest.raises(MessageReceiveTimeout):
        future.exception()
    assert future.running()
