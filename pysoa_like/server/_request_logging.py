"""Request and response logging for servers, censored and cheap when the level is off."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from pysoa_like.common.logging import RecursivelyCensoredDictWrapper

__all__ = ["RequestLogger", "log_level"]


def log_level(value: Any) -> int:
    """A logging level from a name (``'INFO'``) or a number."""
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).upper())
    if not isinstance(level, int):
        raise ValueError(f"Unknown log level {value!r}")
    return level


def _has_errors(response: Mapping[str, Any]) -> bool:
    if response.get("errors"):
        return True
    for action in response.get("actions") or ():
        # Exact dicts (every response the server builds) skip the slower abstract-class check.
        if (type(action) is dict or isinstance(action, Mapping)) and action.get("errors"):
            return True
    return False


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

    def _emit(self, level: int, message: str, value: Any, function: str) -> None:
        """Log one line as ``logger.log`` would, minus its search of the stack for the caller.

        The caller is known (``function`` here, at the line calling this), so the record gets the same
        ``pathname``, ``funcName`` and ``lineno`` without walking frames. The level must already be
        known to be enabled.
        """
        logger = self.logger
        line = sys._getframe(1).f_lineno
        record = logger.makeRecord(logger.name, level, __file__, line, message, (self.wrap(value),), None, function)
        logger.handle(record)

    def log_request(self, request: Any) -> None:
        """Log an incoming job request at the success level."""
        if self.logger.isEnabledFor(self.success_level):
            self._emit(self.success_level, "Job request: %s", request, "log_request")

    def log_response(self, request: Any, response: Mapping[str, Any]) -> None:
        """Log a job response, at the error level if it has errors."""
        logger = self.logger
        success_enabled = logger.isEnabledFor(self.success_level)
        error_enabled = logger.isEnabledFor(self.error_level)
        if not success_enabled and not error_enabled:
            return  # nothing can be logged: the response is not even searched for errors
        if _has_errors(response):
            if not error_enabled:
                return
            level = self.error_level
            if not success_enabled:
                self._emit(level, "Job request: %s", request, "log_response")
        elif success_enabled:
            level = self.success_level
        else:
            return
        self._emit(level, "Job response: %s", response, "log_response")
