"""Request log lines written straight to the default console handler: the same text, only when safe."""

from __future__ import annotations

import copy
import functools
import io
import logging
import logging.config
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pysoa_like.common.logging import CachedTimeFormatter, PySOALogContextFilter
from pysoa_like.server import _request_logging
from pysoa_like.server._main import logging_to_configure
from pysoa_like.server._request_logging import RequestLogger, _direct_console_handler
from pysoa_like.server.settings import DEFAULT_LOGGING

# A parent that holds the console handler as the root does in a server (its own, so pytest's handlers
# on the real root stay out of the way), and the logger request lines come from.
_PARENT_NAME = "tests.direct_console"
_LOGGER_NAME = "tests.direct_console.job"
_REQUEST = {"control": {"continue_on_error": False}, "context": {"switches": [3]}, "actions": [{"action": "a"}]}
_RESPONSE = {"errors": [], "context": {}, "actions": [{"action": "a", "errors": [], "body": {"n": 1}}]}
_FIXED_NS = 1_795_000_000_123_456_789  # a time with a fraction of a second, to check the milliseconds


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The default server logging configuration on the parent logger, writing to a string."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    config = copy.deepcopy(DEFAULT_LOGGING)
    del config["root"]
    config["loggers"] = {_PARENT_NAME: {"handlers": ["console"], "level": "INFO", "propagate": False}}
    logging.config.dictConfig(logging_to_configure(config))  # (as the server does: no unused syslog handler)
    parent, logger = logging.getLogger(_PARENT_NAME), logging.getLogger(_LOGGER_NAME)
    PySOALogContextFilter.set_logging_request_context(request_id=17, correlation_id="corr-1")
    yield stream
    PySOALogContextFilter.clear_logging_request_context()
    for each in (parent, logger):
        each.handlers.clear()
        each.filters.clear()
        each.propagate, each.disabled = each is logger, False
        each.setLevel(logging.NOTSET)


def _console_only() -> None:
    """Take pytest's capturing handlers off the parent (pytest adds them during each test's call)."""
    parent = logging.getLogger(_PARENT_NAME)
    parent.handlers[:] = [handler for handler in parent.handlers if type(handler) is logging.StreamHandler]


def _fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: _FIXED_NS)
    monkeypatch.setattr(time, "time", lambda: _FIXED_NS / 1e9)


def _log_both(request_logger: RequestLogger) -> None:
    request_logger.log_request(_REQUEST)
    request_logger.log_response(_REQUEST, _RESPONSE)


def test_the_default_configuration_is_written_directly(console: io.StringIO) -> None:
    _console_only()
    direct = _direct_console_handler(logging.getLogger(_LOGGER_NAME), logging.INFO)
    assert direct is not None
    handler = logging.getLogger(_PARENT_NAME).handlers[0]
    assert direct == (handler, handler.formatter)


def test_direct_lines_are_the_standard_path_lines(console: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte for byte what the logging machinery writes for the same lines at the same instant."""
    _console_only()
    _fixed_time(monkeypatch)
    request_logger = RequestLogger(logging.getLogger(_LOGGER_NAME), logging.INFO, logging.ERROR)
    _log_both(request_logger)
    direct = console.getvalue()
    console.seek(0)
    console.truncate()
    monkeypatch.setattr(_request_logging, "_direct_console_handler", lambda logger, level: None)
    _log_both(request_logger)
    standard = console.getvalue()
    assert direct == standard
    # The expected text, spelled out: the time stamp's milliseconds are those of the fixed instant.
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(_FIXED_NS // 10**9)) + ",123"
    assert direct.splitlines() == [
        f"{stamp}    INFO corr-1 17: Job request: {_REQUEST!r}",
        f"{stamp}    INFO corr-1 17: Job response: {_RESPONSE!r}",
    ]


def test_direct_lines_outside_a_request_context_match_too(
    console: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    _console_only()
    _fixed_time(monkeypatch)
    PySOALogContextFilter.clear_logging_request_context()
    try:
        request_logger = RequestLogger(logging.getLogger(_LOGGER_NAME), logging.WARNING, logging.ERROR)
        request_logger.log_request({"password": "hunter2"})
        monkeypatch.setattr(_request_logging, "_direct_console_handler", lambda logger, level: None)
        request_logger.log_request({"password": "hunter2"})
    finally:
        PySOALogContextFilter.set_logging_request_context(request_id=17, correlation_id="corr-1")
    first, second = console.getvalue().splitlines()
    assert first == second
    assert first.endswith(" WARNING -- --: Job request: {'password': '**********'}")


def _add_root_handler(root: logging.Logger, logger: logging.Logger) -> None:
    root.addHandler(logging.NullHandler())


def _handler_on_the_logger(root: logging.Logger, logger: logging.Logger) -> None:
    logger.addHandler(logging.NullHandler())


def _logger_filter(root: logging.Logger, logger: logging.Logger) -> None:
    logger.addFilter(logging.Filter())


def _disabled_logger(root: logging.Logger, logger: logging.Logger) -> None:
    logger.disabled = True


def _no_propagation(root: logging.Logger, logger: logging.Logger) -> None:
    logger.propagate = False  # the line would reach no handler at all (logging's last resort)


def _handler_level_above(root: logging.Logger, logger: logging.Logger) -> None:
    root.handlers[0].setLevel(logging.ERROR)


def _handler_subclass(root: logging.Logger, logger: logging.Logger) -> None:
    class Subclass(logging.StreamHandler):  # type: ignore[type-arg]
        pass

    old = root.handlers[0]
    new = Subclass(old.stream)  # type: ignore[attr-defined]
    new.setFormatter(old.formatter)
    new.addFilter(old.filters[0])
    root.handlers[:] = [new]


def _extra_handler_filter(root: logging.Logger, logger: logging.Logger) -> None:
    root.handlers[0].addFilter(logging.Filter())


def _no_handler_filter(root: logging.Logger, logger: logging.Logger) -> None:
    handler = root.handlers[0]
    handler.removeFilter(handler.filters[0])


def _filter_subclass(root: logging.Logger, logger: logging.Logger) -> None:
    class Subclass(PySOALogContextFilter):
        pass

    handler = root.handlers[0]
    handler.filters[:] = [Subclass()]


def _formatter(make: Callable[[], logging.Formatter]) -> Callable[[logging.Logger, logging.Logger], None]:
    def change(root: logging.Logger, logger: logging.Logger) -> None:
        root.handlers[0].setFormatter(make())

    return change


def _gmtime_converter(root: logging.Logger, logger: logging.Logger) -> None:
    formatter = root.handlers[0].formatter
    assert formatter is not None
    formatter.converter = time.gmtime


def _msec_format(root: logging.Logger, logger: logging.Logger) -> None:
    formatter = root.handlers[0].formatter
    assert formatter is not None
    formatter.default_msec_format = "%s.%03d"


_DEFAULT_FORMAT = DEFAULT_LOGGING["formatters"]["console"]["format"]
_CHANGES: dict[str, Callable[[logging.Logger, logging.Logger], None]] = {
    "second-root-handler": _add_root_handler,
    "handler-on-the-logger": _handler_on_the_logger,
    "logger-filter": _logger_filter,
    "disabled-logger": _disabled_logger,
    "no-propagation": _no_propagation,
    "handler-level-above": _handler_level_above,
    "handler-subclass": _handler_subclass,
    "extra-handler-filter": _extra_handler_filter,
    "no-handler-filter": _no_handler_filter,
    "filter-subclass": _filter_subclass,
    "plain-formatter": _formatter(lambda: logging.Formatter(_DEFAULT_FORMAT)),
    "other-format": _formatter(lambda: CachedTimeFormatter("%(levelname)s %(message)s")),
    "date-format": _formatter(lambda: CachedTimeFormatter(_DEFAULT_FORMAT, "%H:%M")),
    "brace-style": _formatter(
        lambda: CachedTimeFormatter(
            "{asctime} {levelname:>7} {correlation_id} {request_id}: {message}", style="{", validate=False
        )
    ),
    "style-defaults": _formatter(lambda: CachedTimeFormatter(_DEFAULT_FORMAT, defaults={"extra": 1})),
    "gmtime-converter": _gmtime_converter,
    "msec-format": _msec_format,
}


@pytest.mark.parametrize("change", list(_CHANGES.values()), ids=list(_CHANGES))
def test_any_other_logging_setup_takes_the_standard_path(
    change: Callable[[logging.Logger, logging.Logger], None], console: io.StringIO
) -> None:
    _console_only()
    logger = logging.getLogger(_LOGGER_NAME)
    change(logging.getLogger(_PARENT_NAME), logger)
    assert _direct_console_handler(logger, logging.INFO) is None


def test_a_custom_record_factory_takes_the_standard_path(console: io.StringIO) -> None:
    _console_only()
    seen: list[logging.LogRecord] = []
    stock = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = stock(*args, **kwargs)
        seen.append(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        logger = logging.getLogger(_LOGGER_NAME)
        assert _direct_console_handler(logger, logging.INFO) is None
        RequestLogger(logger, logging.INFO, logging.ERROR).log_request(_REQUEST)
    finally:
        logging.setLogRecordFactory(stock)
    assert [record.getMessage() for record in seen] == [f"Job request: {_REQUEST!r}"]
    assert console.getvalue().endswith(f"Job request: {_REQUEST!r}\n")


def test_a_logger_subclass_takes_the_standard_path(console: io.StringIO) -> None:
    _console_only()

    class Subclass(logging.Logger):
        pass

    logger = Subclass(_LOGGER_NAME)
    logger.parent = logging.getLogger(_PARENT_NAME)
    assert _direct_console_handler(logger, logging.INFO) is None


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_errors_are_handled_as_the_handler_would(console: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value that cannot be formatted reaches handleError with the record the standard path would make."""
    _console_only()
    handled: list[logging.LogRecord] = []
    handler = logging.getLogger(_PARENT_NAME).handlers[0]
    monkeypatch.setattr(handler, "handleError", handled.append)
    request_logger = RequestLogger(logging.getLogger(_LOGGER_NAME), logging.INFO, logging.ERROR)
    request_logger.log_request({"value": _Unprintable()})
    assert console.getvalue() == ""
    (record,) = handled
    assert record.funcName == "log_request"
    assert record.pathname == _request_logging.__file__
    assert record.msg == "Job request: %s" and record.levelno == logging.INFO


def test_write_errors_are_handled_as_the_handler_would(console: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    _console_only()
    handled: list[logging.LogRecord] = []
    handler: Any = logging.getLogger(_PARENT_NAME).handlers[0]
    monkeypatch.setattr(handler, "handleError", handled.append)

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    handler.setStream(Broken())
    RequestLogger(logging.getLogger(_LOGGER_NAME), logging.INFO, logging.ERROR).log_response(_REQUEST, _RESPONSE)
    (record,) = handled
    assert record.funcName == "log_response"
    assert record.getMessage() == f"Job response: {_RESPONSE!r}"


_CLASS_METHODS = [
    (logging.Logger, "callHandlers"),
    (logging.Logger, "makeRecord"),
    (logging.Logger, "handle"),
    (logging.Handler, "handle"),
    (logging.Handler, "format"),
    (logging.StreamHandler, "emit"),
    (logging.Formatter, "format"),
    (logging.PercentStyle, "format"),
    (logging.LogRecord, "getMessage"),
    (CachedTimeFormatter, "formatTime"),
    (PySOALogContextFilter, "filter"),
]


@pytest.mark.parametrize(("owner", "name"), _CLASS_METHODS, ids=[f"{o.__name__}.{n}" for o, n in _CLASS_METHODS])
def test_a_logging_method_wrapped_on_its_class_takes_the_standard_path(
    owner: type, name: str, console: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like Sentry's wrapper of Logger.callHandlers: the wrapper sees every line (functools.wraps or not)."""
    _console_only()
    original = getattr(owner, name)
    calls: list[str] = []

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    logger = logging.getLogger(_LOGGER_NAME)
    assert _direct_console_handler(logger, logging.INFO) is None
    RequestLogger(logger, logging.INFO, logging.ERROR).log_request(_REQUEST)
    assert calls
    assert console.getvalue().endswith(f"Job request: {_REQUEST!r}\n")
    monkeypatch.undo()
    assert _direct_console_handler(logger, logging.INFO) is not None


@pytest.mark.parametrize("name", ["emit", "format", "flush", "handle", "filter"])
def test_a_method_replaced_on_the_handler_itself_takes_the_standard_path(name: str, console: io.StringIO) -> None:
    _console_only()
    handler = logging.getLogger(_PARENT_NAME).handlers[0]
    setattr(handler, name, getattr(handler, name))
    assert _direct_console_handler(logging.getLogger(_LOGGER_NAME), logging.INFO) is None


def test_a_method_replaced_on_the_formatter_itself_takes_the_standard_path(console: io.StringIO) -> None:
    _console_only()
    formatter: Any = logging.getLogger(_PARENT_NAME).handlers[0].formatter
    formatter.formatMessage = formatter.formatMessage
    assert _direct_console_handler(logging.getLogger(_LOGGER_NAME), logging.INFO) is None


def test_direct_lines_make_no_log_record(console: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the default setup the request logger writes the lines itself: it never builds a record."""
    _console_only()

    def no_record(*args: Any) -> logging.LogRecord:
        raise AssertionError("a LogRecord was made")

    monkeypatch.setattr(RequestLogger, "_record", staticmethod(no_record))
    _log_both(RequestLogger(logging.getLogger(_LOGGER_NAME), logging.INFO, logging.ERROR))
    assert [line.split(": ", 1)[1][:12] for line in console.getvalue().splitlines()] == ["Job request:", "Job response"]


_STREAM_KINDS: dict[str, Callable[[Any], io.TextIOWrapper]] = {
    # How Python sets up sys.stderr, and how other programs commonly open their log streams.
    "write-through, unbuffered (sys.stderr under -u)": lambda path: io.TextIOWrapper(
        io.FileIO(path, "wb"), write_through=True
    ),
    "line-buffered (sys.stderr)": lambda path: io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(path, "wb")), line_buffering=True
    ),
    "write-through, buffered": lambda path: io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(path, "wb")), write_through=True
    ),
    "block-buffered": lambda path: io.TextIOWrapper(io.BufferedWriter(io.FileIO(path, "wb"))),
}


@pytest.mark.parametrize("kind", list(_STREAM_KINDS))
def test_direct_lines_reach_the_file_at_once_whatever_the_buffering(
    kind: str, console: io.StringIO, tmp_path: Any
) -> None:
    """The handler's flush is left out only where the write itself already put the line in the file."""
    _console_only()
    path = tmp_path / "console.log"
    stream = _STREAM_KINDS[kind](path)
    handler = logging.getLogger(_PARENT_NAME).handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        _log_both(RequestLogger(logging.getLogger(_LOGGER_NAME), logging.INFO, logging.ERROR))
        lines = path.read_text().splitlines()
    finally:
        stream.close()
    assert [line.split(": ", 1)[1][:12] for line in lines] == ["Job request:", "Job response"]


def test_only_streams_that_flush_themselves_skip_the_flush(tmp_path: Any) -> None:
    skipped = {}
    for kind, make in _STREAM_KINDS.items():
        with make(tmp_path / "x.log") as stream:
            skipped[kind] = _request_logging._flushed_by_write(stream, "\n")
            if stream.line_buffering:
                assert not _request_logging._flushed_by_write(stream, "\r")
    assert skipped == {
        "write-through, unbuffered (sys.stderr under -u)": True,
        "line-buffered (sys.stderr)": True,
        "write-through, buffered": False,
        "block-buffered": False,
    }
    assert not _request_logging._flushed_by_write(io.StringIO(), "\n")
