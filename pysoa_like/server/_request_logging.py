"""Request and response logging for servers, censored and cheap when the level is off."""

from __future__ import annotations

import functools
import io
import logging
import sys
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

from pysoa_like.common import logging as pysoa_logging
from pysoa_like.common.logging import (
    CachedTimeFormatter,
    PySOALogContextFilter,
    RecursivelyCensoredDictWrapper,
    request_context_ids,
)

__all__ = ["RequestLogger", "has_errors", "log_level"]


def log_level(value: Any) -> int:
    """A logging level from a name (``'INFO'``) or a number."""
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).upper())
    if not isinstance(level, int):
        raise ValueError(f"Unknown log level {value!r}")
    return level


def has_errors(response: Mapping[str, Any]) -> bool:
    """Whether a job response dict carries a job error or an action error."""
    if response.get("errors"):
        return True
    for action in response.get("actions") or ():
        # Exact dicts (every response the server builds) skip the slower abstract-class check.
        if (type(action) is dict or isinstance(action, Mapping)) and action.get("errors"):
            return True
    return False


def _action_names(request: Any) -> list[str]:
    actions = request.get("actions") if isinstance(request, Mapping) else None
    if not isinstance(actions, list | tuple):
        return []
    return [str(a.get("action")) for a in actions if isinstance(a, Mapping)]


def _request_fields(request: Any) -> dict[str, Any]:
    """The structured fields of a request log line."""
    return {"event": "job_request", "actions": _action_names(request)}


def _response_fields(request: Any, response: Mapping[str, Any], duration: float | None) -> dict[str, Any]:
    """The structured fields of a response log line: actions, duration, outcome and error codes."""
    codes = [str(e.get("code")) for e in response.get("errors") or () if isinstance(e, Mapping)]
    for action in response.get("actions") or ():
        if isinstance(action, Mapping):
            codes.extend(str(e.get("code")) for e in action.get("errors") or () if isinstance(e, Mapping))
    fields: dict[str, Any] = {
        "event": "job_response",
        "actions": _action_names(request),
        "outcome": "error" if codes else "success",
        "error_codes": codes,
    }
    if duration is not None:
        fields["duration_ms"] = round(duration * 1000.0, 3)
    return fields


# The default console format (DEFAULT_LOGGING) with its fields in order.
_DEFAULT_FORMAT = "%(asctime)s %(levelname)7s %(correlation_id)s %(request_id)s: %(message)s"
_DEFAULT_LINE = "%s %7s %s %s: %s"
_STOCK_TIME_FORMAT = logging.Formatter.default_time_format
_STOCK_MSEC_FORMAT = logging.Formatter.default_msec_format


def _stock_methods() -> tuple[Any, ...]:
    """The logging methods a record would go through on the way to the console, as they are now.

    Read from the classes on every line: a library that wraps one of them (Sentry wraps
    ``Logger.callHandlers``, tracers ``Logger.makeRecord``) must see every record.
    """
    logger, handler, formatter, style = logging.Logger, logging.StreamHandler, CachedTimeFormatter, logging.PercentStyle
    return (
        logger.handle,
        logger.callHandlers,
        logger.makeRecord,
        logger.filter,
        handler.handle,
        handler.filter,
        handler.emit,
        handler.flush,
        handler.format,
        handler.handleError,
        formatter.format,
        formatter.formatMessage,
        formatter.usesTime,
        formatter.formatTime,
        formatter.local_time_stamp,
        style.format,
        getattr(style, "_format", None),
        style.usesTime,
        logging.LogRecord.__init__,
        logging.LogRecord.getMessage,
        PySOALogContextFilter.filter,
    )


def _is_unwrapped(function: Any) -> bool:
    """Whether ``function`` is a plain function defined in the standard logging module or in pysoa_like's.

    A wrapper is defined elsewhere, so its globals are another module's even when ``functools.wraps``
    copied the wrapped function's name and module.
    """
    return (
        type(function) is types.FunctionType
        and any(function.__globals__ is namespace for namespace in _STOCK_NAMESPACES)
        and not hasattr(function, "__wrapped__")
    )


_STOCK_NAMESPACES = (vars(logging), vars(pysoa_logging))
# The last tuple of _stock_methods() found unwrapped (checked again only when one of them changes).
_verified_methods: tuple[Any, ...] = ()
# Instance attributes that would replace a method on the way (handleError is called as an attribute here too).
_HANDLER_OVERRIDES = frozenset({"handle", "filter", "emit", "flush", "format"})
_FORMATTER_OVERRIDES = frozenset({"format", "formatMessage", "usesTime", "formatTime", "local_time_stamp"})


def _methods_are_stock() -> bool:
    global _verified_methods
    methods = _stock_methods()
    if methods == _verified_methods:
        return True
    if all(_is_unwrapped(method) for method in methods):
        _verified_methods = methods
        return True
    return False


def _direct_console_handler(
    logger: logging.Logger, level: int
) -> tuple[logging.StreamHandler[Any], CachedTimeFormatter] | None:
    """The handler (and its formatter) a request log line can be written to directly, or ``None``.

    Only when a record of ``level`` from ``logger`` would reach exactly one handler, and everything
    on its way is what the default server logging configuration sets up and nothing else: a plain
    ``Logger`` with no filters and the stock record factory, one plain ``StreamHandler`` that takes
    the level, the request-context filter alone and a :class:`CachedTimeFormatter` with the default
    format and time stamp, and none of the logging methods involved replaced (on their classes or on
    these objects). The line written is then the one the standard path would write, and no code
    could have seen the record it does not make. Checked on every line, so any change to the logging
    setup takes effect at once; the lists are read once each, so another thread changing them at the
    same moment cannot make this fail.
    """
    if type(logger) is not logging.Logger or logger.filters or logger.disabled:
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord or not _methods_are_stock():
        return None
    overridden = logger.__dict__
    if "handle" in overridden or "callHandlers" in overridden or "makeRecord" in overridden:
        return None
    found: Any = None
    current: Any = logger
    while current is not None:
        handlers = current.handlers
        if handlers:
            try:
                (one,) = handlers
            except ValueError:
                return None
            if found is not None:
                return None
            found = one
        if not current.propagate:
            break
        current = current.parent
    if type(found) is not logging.StreamHandler or level < found.level:
        return None
    if not _HANDLER_OVERRIDES.isdisjoint(found.__dict__):
        return None
    try:
        (context_filter,) = found.filters
    except ValueError:
        return None
    if type(context_filter) is not PySOALogContextFilter or "filter" in context_filter.__dict__:
        return None
    formatter = found.formatter
    if (
        type(formatter) is not CachedTimeFormatter
        or not _FORMATTER_OVERRIDES.isdisjoint(formatter.__dict__)
        or formatter._fmt != _DEFAULT_FORMAT
        or type(formatter._style) is not logging.PercentStyle
        or formatter._style._fmt != _DEFAULT_FORMAT
        or getattr(formatter._style, "_defaults", None)
        or formatter.datefmt is not None
        or formatter.converter is not time.localtime
        or formatter.default_time_format != _STOCK_TIME_FORMAT
        or formatter.default_msec_format != _STOCK_MSEC_FORMAT
    ):
        return None
    handler: logging.StreamHandler[Any] = found
    return handler, formatter


def _flushed_by_write(stream: Any, terminator: str) -> bool:
    """Whether writing a line ending in ``terminator`` to ``stream`` leaves nothing for a flush to do.

    True for a plain text stream that is line-buffered (it flushes itself at each newline) or that
    writes through to an unbuffered file. ``sys.stderr`` is the first, or the second under ``python -u``
    or ``PYTHONUNBUFFERED``. A ``flush`` after the write would find nothing to write.
    """
    if type(stream) is not io.TextIOWrapper:
        return False
    if stream.line_buffering:
        return terminator == "\n"
    return stream.write_through and type(stream.buffer) is io.FileIO


class RequestLogger:
    """Logs ``Job request: ...`` and ``Job response: ...`` lines through a censoring wrapper.

    Successful jobs are logged at ``success_level``; responses with errors at ``error_level``, in
    which case the request is logged again at that level if the success level hid it.

    Args:
        logger: The logger (``pysoa_like.server.job`` for servers).
        success_level: The level for requests and clean responses.
        error_level: The level for responses that carry errors.
        wrapper_class: The censoring wrapper class (with any extra fields to redact).
    """

    def __init__(
        self,
        logger: logging.Logger,
        success_level: int,
        error_level: int,
        wrapper_class: type[RecursivelyCensoredDictWrapper] = RecursivelyCensoredDictWrapper,
    ) -> None:
        self.logger = logger
        self.success_level = success_level
        self.error_level = error_level
        self.wrapper_class = wrapper_class

    def wrap(self, value: Any) -> Any:
        """The censoring wrapper around ``value`` (or ``value`` itself if it is not a mapping)."""
        return self.wrapper_class(value) if type(value) is dict or isinstance(value, Mapping) else value

    def _emit(
        self, level: int, message: str, value: Any, function: str, fields: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        """Log one line as ``logger.log`` would, minus its search of the stack for the caller.

        The caller is known (``function`` here, at the line calling this), so the record gets the same
        ``pathname``, ``funcName`` and ``lineno`` without walking frames. The level must already be
        known to be enabled. When the line can only reach the stock console handler of the default
        logging configuration, it is written there directly (:func:`_direct_console_handler`);
        otherwise the record gets the structured ``fields`` (made only then) as extra attributes,
        for formatters such as :class:`~pysoa_like.common.json_logging.JSONFormatter`.
        """
        logger = self.logger
        argument = self.wrap(value)
        direct = _direct_console_handler(logger, level)
        if direct is not None:
            handler, formatter = direct
            with handler.lock:  # type: ignore[union-attr]  # a StreamHandler always has its lock
                try:
                    correlation_id, request_id = request_context_ids()
                    now = time.time_ns()
                    line = _DEFAULT_LINE % (
                        formatter.local_time_stamp(now // 1_000_000_000, (now // 1_000_000) % 1000 + 0.0),
                        logging.getLevelName(level),
                        correlation_id,
                        request_id,
                        message % (argument,),
                    )
                    stream = handler.stream
                    terminator = handler.terminator
                    stream.write(line + terminator)
                    if not _flushed_by_write(stream, terminator):
                        handler.flush()
                except RecursionError:
                    raise
                except Exception:
                    # What StreamHandler.emit does with any error (under the lock), given the record it would have had.
                    handler.handleError(self._record(logger, level, message, argument, function))
            return
        logger.handle(self._record(logger, level, message, argument, function, fields() if fields else None))

    @staticmethod
    def _record(
        logger: logging.Logger,
        level: int,
        message: str,
        argument: Any,
        function: str,
        extra: Mapping[str, Any] | None = None,
    ) -> logging.LogRecord:
        """The record of one line, naming the caller of :meth:`_emit` (two frames up) as its source."""
        line = sys._getframe(2).f_lineno
        return logger.makeRecord(logger.name, level, __file__, line, message, (argument,), None, function, extra)

    def log_request(self, request: Any) -> None:
        """Log an incoming job request at the success level."""
        if self.logger.isEnabledFor(self.success_level):
            fields = functools.partial(_request_fields, request)
            self._emit(self.success_level, "Job request: %s", request, "log_request", fields)

    def log_response(
        self, request: Any, response: Mapping[str, Any], duration: float | None = None, failed: bool | None = None
    ) -> None:
        """Log a job response, at the error level if it has errors.

        Args:
            request: The job request (logged again at the error level if the success level hid it).
            response: The job response dict.
            duration: Seconds the job took, for the structured ``duration_ms`` field.
            failed: Whether the response has errors, when the caller already knows (``None``: search it).
        """
        logger = self.logger
        success_enabled = logger.isEnabledFor(self.success_level)
        error_enabled = logger.isEnabledFor(self.error_level)
        if not success_enabled and not error_enabled:
            return  # nothing can be logged: the response is not even searched for errors
        if has_errors(response) if failed is None else failed:
            if not error_enabled:
                return
            level = self.error_level
            if not success_enabled:
                fields = functools.partial(_request_fields, request)
                self._emit(level, "Job request: %s", request, "log_response", fields)
        elif success_enabled:
            level = self.success_level
        else:
            return
        fields = functools.partial(_response_fields, request, response, duration)
        self._emit(level, "Job response: %s", response, "log_response", fields)
