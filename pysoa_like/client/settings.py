"""Client settings: one per service in the ``Client`` configuration (PySOA's ``ClientSettings``)."""

from __future__ import annotations

from pysoa_like.common.fields import (
    Boolean,
    ClassConfigurationSchema,
    Dictionary,
    Float,
    Integer,
    List,
    Nullable,
    SchemalessDictionary,
    UnicodeString,
)
from pysoa_like.common.settings import SOASettings

__all__ = ["ClientSettings"]

# Where the default transport lives; it is only imported when a settings object is built.
DEFAULT_CLIENT_TRANSPORT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


class ClientSettings(SOASettings):
    """The settings of a client for one service.

    Keys: ``transport`` (a ``ClientTransport`` class configuration, default the Redis client
    transport), ``middleware`` (``ClientMiddleware`` class configurations, default ``[]``),
    ``metrics`` (default the no-op recorder), ``minimum_version`` (default ``None``): calls are
    refused with ``ServiceVersionError`` while no live instance of the service, in the service registry,
    has at least this version, and ``api_token`` (default ``None``): the API token sent in the context of
    every request to the service, for its private actions (a call's own ``context`` wins). ``circuit_breaker``,
    ``bulkhead``, ``retry`` (default ``None``: off) and ``fallbacks`` (default ``{}``) are described in
    ``docs/resilience.rst``. Base classes
    are named lazily (as strings), so this module imports neither the transports nor the client.
    """

    schema = {
        "transport": ClassConfigurationSchema(
            base_class="pysoa_like.common.transport.base:ClientTransport",
            default_path=DEFAULT_CLIENT_TRANSPORT,
            description="The client transport class and its constructor kwargs",
        ),
        "middleware": List(
            ClassConfigurationSchema(base_class="pysoa_like.client.middleware:ClientMiddleware"),
            description="The client middleware applied to every request, outermost first",
        ),
        "minimum_version": Nullable(
            UnicodeString(description="Refuse calls while no live instance of the service has this version or later")
        ),
        "api_token": Nullable(
            UnicodeString(description="The API token sent in the context of every request (for private actions)")
        ),
        "circuit_breaker": Nullable(
            Dictionary(
                {
                    "failure_ratio": Float(gt=0, lte=1, description="Open at this fraction of failed calls"),
                    "minimum_calls": Integer(gte=1, description="... over at least this many calls in the window"),
                    "window_seconds": Float(gt=0, description="How far back calls count"),
                    "cool_down_seconds": Float(gte=0, description="How long it stays open before a probe call"),
                    "half_open_calls": Integer(gte=1, description="Probe calls at a time; as many successes close it"),
                    "per_action": Boolean(description="One breaker per action instead of one per service"),
                },
                optional_keys=(
                    "failure_ratio",
                    "minimum_calls",
                    "window_seconds",
                    "cool_down_seconds",
                    "half_open_calls",
                    "per_action",
                ),
                description="A circuit breaker for calls to the service (off when null)",
            )
        ),
        "bulkhead": Nullable(
            Dictionary(
                {
                    "max_in_flight": Integer(gte=1, description="Most calls in flight to it from this process"),
                    "wait": Boolean(description="Wait (up to the call's deadline) for room instead of failing at once"),
                },
                optional_keys=("wait",),
                description="A bound on the calls in flight to the service (off when null)",
            )
        ),
        "retry": Nullable(
            Dictionary(
                {
                    "attempts": Integer(gte=1, description="Tries in all, the first included"),
                    "base_delay_seconds": Float(gte=0, description="The first backoff cap (doubled each retry)"),
                    "max_delay_seconds": Float(gte=0, description="The largest backoff cap"),
                    "budget_ratio": Float(gte=0, description="Retries at most this fraction of recent calls ..."),
                    "budget_minimum": Integer(gte=0, description="... plus this many"),
                    "budget_window_seconds": Float(gt=0, description="How far back the budget counts"),
                    "idempotent_actions": List(
                        UnicodeString(), description="Actions retried after a timeout or a server error too"
                    ),
                },
                optional_keys=(
                    "attempts",
                    "base_delay_seconds",
                    "max_delay_seconds",
                    "budget_ratio",
                    "budget_minimum",
                    "budget_window_seconds",
                    "idempotent_actions",
                ),
                description="Retries of failed calls, within a budget (off when null)",
            )
        ),
        "fallbacks": SchemalessDictionary(
            key_type=UnicodeString(),
            description="Action name (or '*') -> what a failed call returns: a body dict, a response or a callable",
        ),
    }

    defaults = {
        "transport": {"path": DEFAULT_CLIENT_TRANSPORT},
        "minimum_version": None,
        "api_token": None,
        "circuit_breaker": None,
        "bulkhead": None,
        "retry": None,
        "fallbacks": {},
    }
