"""JSON log lines: the formatter, the request logger's structured fields and ``--log-format json``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pysoa_like.common.json_logging import JSONFormatter
from pysoa_like.common.logging import PySOALogContextFilter
from pysoa_like.server._overrides import apply_log_format
from pysoa_like.server._request_logging import RequestLogger


@pytest.fixture
def json_lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose one handler writes JSON lines to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("tests.json_logging")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    PySOALogContextFilter.set_service_name("orders")
    try:
        yield logger, stream
    finally:
        PySOALogContextFilter.set_service_name(None)
        logger.handlers = []


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_outside_a_request_has_null_ids(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    """Outside a request the ids and action are null; time is UTC ISO 8601 with milliseconds."""
    logger, stream = json_lines
    logger.warning("hello %s", "there", extra={"user_id": 7, "when": object})
    (line,) = _lines(stream)
    assert line["message"] == "hello there"
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.json_logging"
    assert line["service"] == "orders"
    assert (line["request_id"], line["correlation_id"], line["action"]) == (None, None, None)
    assert str(line["time"]).endswith("+00:00") and len(str(line["time"])) == len("2026-01-01T00:00:00.000+00:00")
    assert line["user_id"] == 7
    assert line["when"] == str(object)


def test_a_record_inside_a_request_carries_its_context_with_or_without_the_filter(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    """The request id, correlation id and action come from the context (or the filter's record attributes)."""
    logger, stream = json_lines
    PySOALogContextFilter.set_logging_request_context(request_id=12, correlation_id="c-1")
    PySOALogContextFilter.set_logging_action_name("pay")
    try:
        logger.info("plain")
        logger.handlers[0].addFilter(PySOALogContextFilter())
        logger.info("filtered")
    finally:
        PySOALogContextFilter.clear_logging_action_name()
        PySOALogContextFilter.clear_logging_request_context()
    for line in _lines(stream):
        assert (line["request_id"], line["correlation_id"], line["action"]) == (12, "c-1", "pay")
        assert "action_name" not in line


def test_exceptions_are_included(json_lines: tuple[logging.Logger, io.StringIO]) -> None:
    """A logged exception's traceback is in ``exception``."""
    logger, stream = json_lines
    try:
        raise ValueError("bad")
    except ValueError:
        logger.exception("failed")
    (line,) = _lines(stream)
    assert "ValueError: bad" in str(line["exception"])


def test_request_log_lines_have_duration_outcome_and_censored_messages(
    json_lines: tuple[logging.Logger, io.StringIO],
) -> None:
    """The response line says how long the job took, whether it failed and with which codes; secrets stay masked."""
    logger, stream = json_lines
    request_logger = RequestLogger(logger, logging.INFO, logging.ERROR)
    request = {"control": {}, "context": {}, "actions": [{"action": "pay", "body": {"password": "hunter2"}}]}
    request_logger.log_request(request)
    request_logger.log_response(request, {"actions": [{"action": "pay", "body": {"ok": True}}]}, 0.0123)
    failed = {"actions": [{"action": "pay", "errors": [{"code": "DECLINED", "message": "no"}]}]}
    request_logger.log_response(request, failed, 0.5)
    logged_request, success, failure = _lines(stream)
    assert logged_request["event"] == "job_request"
    assert logged_request["actions"] == ["pay"]
    assert "hunter2" not in stream.getvalue()
    assert "'password': '**********'" in str(logged_request["message"])
    assert (success["event"], success["outcome"], success["error_codes"], success["duration_ms"]) == (
        "job_response", "success", [], 12.3,
    )  # fmt: skip
    assert (failure["level"], failure["outcome"], failure["error_codes"], failure["duration_ms"]) == (
        "ERROR", "error", ["DECLINED"], 500.0,
    )  # fmt: skip


def test_log_format_json_replaces_every_formatter_and_fills_handlers_without_one() -> None:
    """``json`` swaps each formatter for the JSON formatter; ``text`` and nothing leave the config as it is."""
    config = {
        "version": 1,
        "formatters": {"plain": {"format": "%(message)s"}},
        "handlers": {"a": {"class": "logging.StreamHandler", "formatter": "plain"}, "b": {"class": "x"}},
    }
    converted = apply_log_format(config, "json")
    assert converted["formatters"]["plain"] == {"()": "pysoa_like.common.json_logging.JSONFormatter"}
    assert converted["handlers"]["b"]["formatter"] == "pysoa_like_json"
    assert config["formatters"]["plain"] == {"format": "%(message)s"}
    assert apply_log_format(config, "text") == config
    with pytest.raises(ValueError, match="Unknown log format 'xml'"):
        apply_log_format(config, "xml")
