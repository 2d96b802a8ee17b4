"""The cheaper log records of request logging: same text and caller fields as the standard path."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysoa_like.common.logging import CachedTimeFormatter
from pysoa_like.server import _request_logging
from pysoa_like.server._request_logging import RequestLogger
from pysoa_like.server.settings import DEFAULT_LOGGING

_FORMAT = DEFAULT_LOGGING["formatters"]["console"]["format"].replace(" %(correlation_id)s %(request_id)s", "")


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message %s", ("arg",), None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


@pytest.mark.parametrize("datefmt", [None, "%H:%M:%S"])
def test_cached_time_formatter_matches_the_standard_formatter(datefmt: str | None) -> None:
    cached, standard = CachedTimeFormatter(_FORMAT, datefmt), logging.Formatter(_FORMAT, datefmt)
    now = time.time()
    # Several records within one second, then across second boundaries, then back in time.
    for created in (now, now + 0.001, now + 0.5, now + 1.2, now + 3600.7, now - 86400.3, now):
        record = _record(created)
        assert cached.format(record) == standard.format(record)


def test_cached_time_formatter_with_another_converter_behaves_like_its_base() -> None:
    cached, standard = CachedTimeFormatter(_FORMAT), logging.Formatter(_FORMAT)
    cached.converter = standard.converter = time.gmtime
    record = _record(time.time())
    assert cached.format(record) == standard.format(record)


def test_the_default_logging_configuration_uses_it() -> None:
    assert DEFAULT_LOGGING["formatters"]["console"]["class"] == "pysoa_like.common.logging.CachedTimeFormatter"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[tuple[logging.Logger, _Collect]]:
    logger = logging.getLogger("tests.cheap_records")
    handler = _Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_request_log_records_name_their_real_caller(collected: tuple[logging.Logger, _Collect]) -> None:
    logger, handler = collected
    request_logger = RequestLogger(logger, logging.INFO, logging.WARNING)
    request_logger.log_request({"actions": []})
    request_logger.log_response({"actions": []}, {"errors": [{"code": "X"}], "actions": []})
    records = handler.records
    assert [(r.levelno, r.getMessage()[:13]) for r in records] == [
        (logging.INFO, "Job request: "),
        (logging.WARNING, "Job response:"),
    ]
    source = Path(_request_logging.__file__).read_text().splitlines()
    for record, function in zip(records, ("log_request", "log_response"), strict=True):
        assert record.pathname == _request_logging.__file__
        assert record.funcName == function
        assert "self._emit(" in source[record.lineno - 1]
        assert record.name == logger.name


def test_request_log_records_go_through_logger_filters(collected: tuple[logging.Logger, _Collect]) -> None:
    logger, handler = collected
    drop_all = logging.Filter("nothing.matches")
    logger.addFilter(drop_all)
    try:
        RequestLogger(logger, logging.INFO, logging.INFO).log_request({"a": 1})
    finally:
        logger.removeFilter(drop_all)
    assert handler.records == []
