"""JSON log lines for log pipelines: one JSON object per record.

Use it as the formatter of any handler in the ``logging`` server setting::

    "formatters": {"json": {"()": "pysoa_like.common.json_logging.JSONFormatter"}}

or start the service with ``pysoa-like serve ... --log-format json`` (which makes every formatter of
the logging configuration this one). Each line holds ``time`` (UTC, ISO 8601 with milliseconds),
``level``, ``logger``, ``message``, ``service``, ``request_id``, ``correlation_id`` and ``action``
(``null`` outside a request or an action), ``exception`` when there is one, and every field given
with ``extra=`` (non-JSON values as their ``str``). The server's request log lines add ``event``
(``job_request`` or ``job_response``), ``actions``, and on responses ``duration_ms``, ``outcome``
(``success`` or ``error``) and ``error_codes``. Their messages are censored exactly as in text logs.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

from pysoa_like.common.logging import PySOALogContextFilter, request_context_ids

__all__ = ["JSONFormatter"]

# Every attribute a plain LogRecord has, plus what the context filter adds: not copied as extra fields.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "correlation_id",
    "request_id",
    "service_name",
    "action_name",
    "taskName",
}
_ABSENT = ("--", "(n/a)", "unknown", None, "")


def _present(value: Any) -> Any:
    return None if value in _ABSENT else value


class JSONFormatter(logging.Formatter):
    """Formats each record as one line of JSON (see the module documentation for the keys).

    The request context comes from the record when :class:`~pysoa_like.common.logging.PySOALogContextFilter`
    put it there, else from the context of the code that logged, so the formatter works with or
    without the filter.

    Args:
        fmt: Ignored (accepted so ``logging.config`` can pass a ``format``).
        datefmt: Ignored; times are always UTC ISO 8601.
        style: Ignored.
        validate: Ignored.
    """

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%", validate: bool = True):
        super().__init__()

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON object."""
        fields = vars(record)
        if "request_id" in fields:
            correlation_id, request_id = fields.get("correlation_id"), fields.get("request_id")
        else:
            correlation_id, request_id = request_context_ids()
        service = fields.get("service_name") or PySOALogContextFilter.get_service_name()
        action = fields["action_name"] if "action_name" in fields else PySOALogContextFilter.get_logging_action_name()
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": _present(service),
            "request_id": _present(request_id),
            "correlation_id": _present(correlation_id),
            "action": _present(action),
        }
        for key, value in fields.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
