"""Server settings (PySOA's ``ServerSettings`` keys and defaults)."""

from __future__ import annotations

import logging.handlers
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.fields import (
    ClassConfigurationSchema,
    Constant,
    Dictionary,
    Field,
    FieldError,
    Float,
    Integer,
    List,
    Nullable,
    SchemalessDictionary,
    UnicodeString,
)
from pysoa_like.common.fields._base import prefix_errors
from pysoa_like.common.fields.logging import PYTHON_LOGGING_CONFIG_SCHEMA, PythonLogLevel
from pysoa_like.common.settings import SOASettings
from pysoa_like.core.delivery import (
    AT_LEAST_ONCE,
    AT_MOST_ONCE,
    DEFAULT_DEAD_LETTER_MAX_LENGTH,
    DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_WORKER_TTL_SECONDS,
)
from pysoa_like.fleet.settings import (
    DEPENDENCIES_SCHEMA,
    EVENTS_SCHEMA,
    FLEET_SETTINGS_SCHEMA,
    PERIODIC_SCHEMA,
    REGISTRY_SCHEMA,
)

__all__ = ["DEFAULT_LOGGING", "ServerSettings"]

DEFAULT_SERVER_TRANSPORT = "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport"

# The default logging dictConfig: console output with the request context on every line, and PySOA's syslog
# handler (LOCAL7, UDP to localhost:514), defined but attached to no logger: settings may attach it, and the server
# builds it only then (see logging_to_configure in server/_main.py).
DEFAULT_LOGGING: dict[str, Any] = {
    "version": 1,
    "formatters": {
        "console": {
            # The standard formatter's exact output, with the time stamp's seconds formatted once per second.
            "class": "pysoa_like.common.logging.CachedTimeFormatter",
            "format": "%(asctime)s %(levelname)7s %(correlation_id)s %(request_id)s: %(message)s",
        },
        "syslog": {
            # PySOA's syslog line, field for field: syslog servers and their parsers may expect it.
            "format": (
                "%(service_name)s_service: %(name)s %(levelname)s %(module)s %(process)d "
                "correlation_id %(correlation_id)s request_id %(request_id)s %(message)s"
            ),
        },
    },
    "filters": {
        "pysoa_logging_context_filter": {"()": "pysoa_like.common.logging.PySOALogContextFilter"},
    },
    "handlers": {
        "console": {
            "level": "INFO",
            "class": "logging.StreamHandler",
            "formatter": "console",
            "filters": ["pysoa_logging_context_filter"],
        },
        "syslog": {
            "level": "INFO",
            "class": "pysoa_like.common.logging.SyslogHandler",
            "facility": logging.handlers.SysLogHandler.LOG_LOCAL7,
            "address": ("localhost", logging.handlers.SYSLOG_UDP_PORT),
            "formatter": "syslog",
            "filters": ["pysoa_logging_context_filter"],
        },
    },
    "loggers": {},
    "root": {"handlers": ["console"], "level": "INFO"},
    "disable_existing_loggers": False,
}


class _StringCollection(Field):
    """A set, frozenset, list or tuple of strings, normalised to a frozenset."""

    introspect_type = "set"
    normalizes = True

    def __init__(self, description: str | None = None) -> None:
        self.description = description
        # ``contents``, as on the container fields, so settings messages can say what an item expects.
        self.contents = self._item = UnicodeString()

    def errors(self, value: Any) -> list[FieldError]:
        if not isinstance(value, (AbstractSet, list, tuple)):
            return [FieldError(ERROR_CODE_INVALID, "Not a set, list or tuple of strings")]
        result: list[FieldError] = []
        for index, item in enumerate(value):
            result.extend(prefix_errors(self._item.errors(item), index))
        return result

    def normalize(self, value: Any) -> frozenset[str]:
        return frozenset(value)

    def introspect(self) -> dict[str, Any]:
        result: dict[str, Any] = {"type": "set", "contents": self._item.introspect()}
        if self.description:
            result["description"] = self.description
        return result


class ServerSettings(SOASettings):
    """The settings of a server (service).

    See ``docs/settings.rst`` for every key, its default and an example. Class configurations
    (``transport``, ``middleware`` and ``coroutine_middleware`` items, ``metrics``) come out as
    ``{"path", "kwargs", "object"}``; ``extra_fields_to_redact`` comes out as a frozenset.
    """

    schema = {
        "transport": ClassConfigurationSchema(
            base_class="pysoa_like.common.transport.base:ServerTransport",
            default_path=DEFAULT_SERVER_TRANSPORT,
            description="The server transport class and its constructor kwargs",
        ),
        "middleware": List(
            ClassConfigurationSchema(base_class="pysoa_like.server.middleware:ServerMiddleware"),
            description="The server middleware applied to every job and action, outermost first",
        ),
        "client_routing": SchemalessDictionary(
            key_type=UnicodeString(),
            value_type=SchemalessDictionary(),
            description="Service name to client settings, for the client actions use to call other services",
        ),
        "logging": PYTHON_LOGGING_CONFIG_SCHEMA,
        "harakiri": Dictionary(
            {
                "timeout": Integer(gte=0, description="Seconds a request may take before the worker is killed; 0 off"),
                "shutdown_grace": Integer(gte=0, description="Seconds allowed for a graceful exit after harakiri"),
            },
            description="Killing a worker stuck on a request",
        ),
        "request_log_success_level": PythonLogLevel(description="Level of request/response logs for successes"),
        "request_log_error_level": PythonLogLevel(description="Level of request/response logs for errors"),
        "heartbeat_file": Nullable(
            UnicodeString(description="A file touched after every request and idle cycle ({{pid}}/{{fid}} allowed)")
        ),
        "readiness_file": Nullable(
            UnicodeString(
                description="A file present while the worker can reach its transport, absent during an outage "
                "({{pid}}/{{fid}} allowed)"
            )
        ),
        "extra_fields_to_redact": _StringCollection(description="More field names censored in request/response logs"),
        "request_log_max_length": Nullable(
            Integer(
                gte=1,
                description="The most characters of a logged request or response (long values shortened first); "
                "null for no limit",
            )
        ),
        "coroutine_middleware": List(
            ClassConfigurationSchema(base_class="pysoa_like.server.coroutine:CoroutineMiddleware"),
            description="Middleware wrapping coroutines run with request.run_coroutine",
        ),
        "concurrency": Integer(
            gte=1,
            lte=10000,
            description="Jobs one worker process runs at once: 1 (the default) serves one job at a time, as PySOA "
            "does; more runs them on an asyncio event loop (coroutine actions on the loop, plain actions in a thread "
            "pool of that size)",
        ),
        "fleet": Nullable(FLEET_SETTINGS_SCHEMA),
        "registry": REGISTRY_SCHEMA,
        "dependencies": DEPENDENCIES_SCHEMA,
        "events": EVENTS_SCHEMA,
        "periodic": PERIODIC_SCHEMA,
        "delivery": Constant(
            AT_MOST_ONCE,
            AT_LEAST_ONCE,
            description="at_most_once (PySOA's: a request whose worker dies is lost) or at_least_once (a request "
            "leaves Redis only once answered; a dead worker's requests are delivered again)",
        ),
        "at_least_once": Dictionary(
            {
                "max_deliveries": Integer(
                    gte=1, description="Deliveries of one request, each ended without a reply, before dead-lettering"
                ),
                "worker_ttl_seconds": Float(
                    gte=1, description="Seconds a worker is presumed alive after advertising (every quarter of it)"
                ),
                "idempotency_window_seconds": Float(
                    gte=1, description="The longest a finished non-idempotent job's reply is kept for redeliveries"
                ),
                "dead_letter_max_length": Integer(gte=1, description="The most requests the dead-letter list keeps"),
            },
            description="At-least-once delivery (used with delivery: at_least_once)",
        ),
    }

    defaults = {
        "transport": {"path": DEFAULT_SERVER_TRANSPORT},
        "client_routing": {},
        "logging": DEFAULT_LOGGING,
        "harakiri": {"timeout": 300, "shutdown_grace": 30},
        "request_log_success_level": "INFO",
        "request_log_error_level": "INFO",
        "heartbeat_file": None,
        "readiness_file": None,
        "extra_fields_to_redact": frozenset(),
        "request_log_max_length": 65536,
        "coroutine_middleware": [{"path": "pysoa_like.server.coroutine:DefaultCoroutineMiddleware"}],
        "concurrency": 1,
        "fleet": None,
        "registry": {"enabled": True, "refresh_interval_seconds": 5, "ttl_seconds": 15},
        "dependencies": {"services": {}, "wait_timeout_seconds": 30, "on_timeout": "start"},
        "events": {
            "redeliver_after_seconds": 15,
            "max_deliveries": 5,
            "retry_delay_seconds": 1,
            "block_seconds": 1,
            "prefetch": 1,
            "retention_seconds": 86400,
            "dead_letter_max_length": 10000,
        },
        "periodic": {"lock_ttl_seconds": 30},
        "delivery": AT_MOST_ONCE,
        "at_least_once": {
            "max_deliveries": DEFAULT_MAX_DELIVERIES,
            "worker_ttl_seconds": DEFAULT_WORKER_TTL_SECONDS,
            "idempotency_window_seconds": DEFAULT_IDEMPOTENCY_WINDOW_SECONDS,
            "dead_letter_max_length": DEFAULT_DEAD_LETTER_MAX_LENGTH,
        },
    }

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        registry = self["registry"]
        if registry["ttl_seconds"] <= registry["refresh_interval_seconds"]:
            raise self.ImproperlyConfigured(
                f"Invalid {type(self).__name__}:\n  - registry.ttl_seconds: must be more than "
                f"registry.refresh_interval_seconds (got {registry['ttl_seconds']} and "
                f"{registry['refresh_interval_seconds']}), or every entry would expire between two refreshes"
            )
