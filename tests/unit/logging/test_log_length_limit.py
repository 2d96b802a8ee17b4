"""Length-limited log messages: long values shortened without being formatted whole, then the text cut."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pysoa_like.common.logging import RecursivelyCensoredDictWrapper
from pysoa_like.server.action import Action
from tests.unit.server._helpers import job, make_server, serve


class _NoWholeRepr(str):
    """A string that refuses to be formatted whole (slices are plain strings and format fine)."""

    __slots__ = ()

    def __repr__(self) -> str:
        raise AssertionError("the whole long value was formatted")


def test_without_a_limit_messages_are_formatted_whole() -> None:
    message = {"data": "x" * 10_000}
    assert RecursivelyCensoredDictWrapper.MAX_LENGTH is None
    assert str(RecursivelyCensoredDictWrapper(message)) == repr(message)


def test_short_messages_are_unchanged_under_a_limit() -> None:
    wrapper = RecursivelyCensoredDictWrapper.limited_to(200)
    message = {"a": [1, 2.5, None, True], "b": {"c": "d" * 50}, "e": b"bytes"}
    assert str(wrapper(message)) == repr(message)


def test_long_values_are_shortened_and_the_text_cut() -> None:
    wrapper = RecursivelyCensoredDictWrapper.limited_to(20_000)
    message = {"text": "t" * 5000, "raw": b"r" * 4097, "nested": [{"s": "s" * 4096}]}
    assert str(wrapper(message)) == (
        "{'text': " + repr("t" * 4096) + "...<904 more characters>, "
        "'raw': " + repr(b"r" * 4096) + "...<1 more bytes>, "
        "'nested': [{'s': " + repr("s" * 4096) + "}]}"
    )
    # Under a limit below 4,096 values are shortened to the limit, then the whole text is cut at it.
    cut = str(RecursivelyCensoredDictWrapper.limited_to(100)({"text": "t" * 5000}))
    shortened = "{'text': " + repr("t" * 100) + "...<4900 more characters>}"
    assert cut == shortened[:100] + f"...<{len(shortened) - 100} more characters>"


def test_a_huge_value_is_never_formatted_whole() -> None:
    wrapper = RecursivelyCensoredDictWrapper.limited_to(65536)
    formatted = str(wrapper({"actions": [{"body": {"data": _NoWholeRepr("x" * 2_000_000)}}]}))
    assert formatted.endswith("...<1995904 more characters>}}]}")
    assert len(formatted) < 4200


def test_masking_still_applies_under_a_limit() -> None:
    wrapper = RecursivelyCensoredDictWrapper.limited_to(50)
    formatted = str(wrapper({"password": "p" * 9000, "other": "o" * 9000}))
    assert "ppp" not in formatted and formatted.startswith("{'password': '**********', 'other': 'ooo")


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10"])
def test_limited_to_rejects_bad_limits(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_length"):
        RecursivelyCensoredDictWrapper.limited_to(bad)


def test_limited_to_keeps_the_class_when_nothing_changes_and_keeps_extra_fields() -> None:
    assert RecursivelyCensoredDictWrapper.limited_to(None) is RecursivelyCensoredDictWrapper
    extra = RecursivelyCensoredDictWrapper.with_extra_fields({"color"}).limited_to(1000)
    assert extra.MAX_LENGTH == 1000 and extra.limited_to(1000) is extra
    assert "blue" not in str(extra({"color": "blue"}))


class _Big(Action):
    def run(self, request: Any) -> dict[str, Any]:
        return {"data": "x" * request.body["size"]}


def test_the_server_logs_long_responses_shortened_by_default(caplog: pytest.LogCaptureFixture) -> None:
    server = make_server({"big": _Big})
    assert server.logging_dict_wrapper_class.MAX_LENGTH == 65536
    with caplog.at_level(logging.INFO, logger="pysoa_like.server.job"):
        serve(server, job({"action": "big", "body": {"size": 1_000_000}}))
    response_line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Job response"))
    assert "...<995904 more characters>" in response_line
    assert len(response_line) < 5000


def test_request_log_max_length_none_logs_everything(caplog: pytest.LogCaptureFixture) -> None:
    server = make_server({"big": _Big}, request_log_max_length=None)
    with caplog.at_level(logging.INFO, logger="pysoa_like.server.job"):
        serve(server, job({"action": "big", "body": {"size": 70_000}}))
    response_line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Job response"))
    assert "x" * 70_000 in response_line and "more characters" not in response_line
