"""The settings schemas of the fleet features (no Redis import: server settings use them)."""

from __future__ import annotations

from pysoa_like.common import fields
from pysoa_like.common.transport.redis_gateway._settings_schema import _BACKEND_LAYER_KWARGS
from pysoa_like.core.constants import REDIS_BACKEND_TYPES

__all__ = ["DEPENDENCIES_SCHEMA", "EVENTS_SCHEMA", "FLEET_SETTINGS_SCHEMA", "PERIODIC_SCHEMA", "REGISTRY_SCHEMA"]

#: The shape of the ``fleet`` setting (servers) and argument (clients): the Redis of the fleet features.
FLEET_SETTINGS_SCHEMA = fields.Dictionary(
    {
        "backend_type": fields.Constant(
            *REDIS_BACKEND_TYPES, description="redis.standard, redis.sentinel or redis.cluster"
        ),
        "backend_layer_kwargs": _BACKEND_LAYER_KWARGS,
    },
    optional_keys=("backend_layer_kwargs",),
    description="The Redis of events, periodic tasks and the service registry (default: the transport's)",
)

#: The ``registry`` server setting.
REGISTRY_SCHEMA = fields.Dictionary(
    {
        "enabled": fields.Boolean(description="Whether the worker registers itself (default true)"),
        "refresh_interval_seconds": fields.Float(gt=0, description="How often the entry is refreshed (default 5)"),
        "ttl_seconds": fields.Float(
            gt=0, description="How long an entry lives without a refresh: a dead worker drops out within this (15)"
        ),
    },
    description="The worker's entry in the service registry",
)

#: The ``dependencies`` server setting.
DEPENDENCIES_SCHEMA = fields.Dictionary(
    {
        "services": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(),
            value_type=fields.Nullable(fields.UnicodeString(description="The minimum version, or null for any")),
            description="Services this one needs: name -> minimum version (or null)",
        ),
        "wait_timeout_seconds": fields.Float(
            gte=0, description="How long a starting worker waits for them before serving (default 30)"
        ),
        "on_timeout": fields.Constant(
            "start", "exit", description="'start': serve anyway and report it in status (default); 'exit': stop"
        ),
    },
    description="Dependency gating at startup",
)

#: The ``events`` server setting.
EVENTS_SCHEMA = fields.Dictionary(
    {
        "redeliver_after_seconds": fields.Float(
            gt=0, description="An event in hand this long without a sign of life is given to another worker (15)"
        ),
        "max_deliveries": fields.Integer(gte=1, description="Deliveries before an event is dead-lettered (5)"),
        "retry_delay_seconds": fields.Float(
            gt=0, description="Wait before a failed event is delivered again, doubling each time (1)"
        ),
        "block_seconds": fields.Float(gt=0, description="How long one read waits for events (1)"),
        "prefetch": fields.Integer(gte=1, description="Events read at once per stream (1)"),
        "retention_seconds": fields.Float(
            gt=0, description="How long streams keep events this service publishes (86400)"
        ),
        "dead_letter_max_length": fields.Integer(gte=1, description="About how many events a dead-letter stream keeps"),
    },
    description="Event handling and publishing",
)

#: The ``periodic`` server setting.
PERIODIC_SCHEMA = fields.Dictionary(
    {
        "lock_ttl_seconds": fields.Float(
            gt=0, description="How long a task's run lock outlives a worker that died running it (30)"
        ),
    },
    description="Periodic tasks",
)
