"""The keyword-argument schemas of the Redis transports, and their check at construction.

The transports declare these with ``ClassConfigurationSchema.provider``, so settings validation rejects a bad
``transport.kwargs`` at startup; the constructors check them again, so a transport built directly fails the same
way, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.fields._describe import explain_errors
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.core.constants import REDIS_BACKEND_TYPES, ProtocolVersion

__all__ = ["RedisServerTransportSchema", "RedisTransportSchema", "check_transport_kwargs"]

_NUMBER = fields.Float

_BACKEND_LAYER_KWARGS = fields.Dictionary(
    {
        "connection_kwargs": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(),
            description="redis-py keyword arguments for every Redis connection (password, username, ssl, ...)",
        ),
        "hosts": fields.List(
            fields.Any(
                fields.Tuple(fields.UnicodeString(), fields.Integer()),
                fields.List(fields.Anything(), min_length=2, max_length=2),
                fields.UnicodeString(),
            ),
            description="The Redis hosts (or Sentinels, or a cluster's startup nodes): 'host', 'host:port', "
            "('host', port), or redis://, rediss://, unix:// URLs (standard backend; redis:// and rediss:// for "
            "a cluster). The order forms the hash ring.",
        ),
        "redis_db": fields.Integer(gte=0, description="The Redis database number (a shortcut for db)"),
        "redis_port": fields.Integer(gte=1, lte=65535, description="The port of host names given without one"),
        "sentinel_failover_retries": fields.Integer(
            gte=0, description="Retries (with backoff) while Sentinel knows no master (Sentinel backend only)"
        ),
        "sentinel_services": fields.List(
            fields.UnicodeString(), min_length=1, description="The Sentinel services forming the ring, in order"
        ),
        "sentinel_kwargs": fields.SchemalessDictionary(
            key_type=fields.UnicodeString(), description="redis-py keyword arguments for the Sentinel connections"
        ),
    },
    optional_keys=(
        "connection_kwargs",
        "hosts",
        "redis_db",
        "redis_port",
        "sentinel_failover_retries",
        "sentinel_services",
        "sentinel_kwargs",
    ),
    description="The arguments of the Redis backend (connections and hosts)",
)

_COMMON_CONTENTS: dict[str, Any] = {
    "backend_type": fields.Constant(
        *REDIS_BACKEND_TYPES, description="redis.standard, redis.sentinel or redis.cluster"
    ),
    "backend_layer_kwargs": _BACKEND_LAYER_KWARGS,
    "message_expiry_in_seconds": _NUMBER(gt=0, description="Lifetime of sent messages (default 60)"),
    "queue_capacity": fields.Integer(gte=1, description="Refuse to push to a list this long (default 10000)"),
    "queue_full_retries": fields.Integer(gte=0, description="Retries on a full queue (default 10)"),
    "receive_timeout_in_seconds": _NUMBER(gt=0, description="The blocking-pop timeout (default 5)"),
    "default_serializer_config": fields.ClassConfigurationSchema(
        base_class=Serializer, description="The serializer of sent requests (default msgpack)"
    ),
    "maximum_message_size_in_bytes": fields.Integer(gte=1, description="The largest serialized envelope sent"),
    "log_messages_larger_than_bytes": fields.Integer(gte=0, description="WARNING above this size; 0 disables"),
    "protocol_version": fields.Any(
        fields.Constant(1, 2, 3),
        fields.ObjectInstance(ProtocolVersion),
        description="The protocol version of sent requests (1, 2 or 3; default 3)",
    ),
}
_OPTIONAL = tuple(key for key in _COMMON_CONTENTS if key != "backend_type")

_CLIENT_CONTENTS: dict[str, Any] = {
    "maximum_reply_size_in_bytes": fields.Integer(
        gte=1, description="The most bytes read for one chunked reply, all chunks together (default 100 MiB)"
    ),
    "detect_dead_workers": fields.Boolean(
        description="Tell a caller when the worker handling its request died (default false; costs the server "
        "three small commands per request)"
    ),
    "require_reply_nonce": fields.Boolean(
        description="Refuse replies that do not echo the request's nonce (default true; every PySOA 1.4.9 and "
        "pysoa_like server echoes it)"
    ),
}

#: The keyword arguments of :class:`~pysoa_like.common.transport.redis_gateway.client.RedisClientTransport`.
RedisTransportSchema = fields.Dictionary(
    {**_COMMON_CONTENTS, **_CLIENT_CONTENTS},
    optional_keys=(*_OPTIONAL, *_CLIENT_CONTENTS),
    description="The settings of the Redis client transport",
)

#: The keyword arguments of :class:`~pysoa_like.common.transport.redis_gateway.server.RedisServerTransport`.
RedisServerTransportSchema = fields.Dictionary(
    {
        **_COMMON_CONTENTS,
        "chunk_messages_larger_than_bytes": fields.Integer(
            gte=-1, description="Chunk responses larger than this for v3 clients; -1 (default) disables"
        ),
    },
    optional_keys=(*_OPTIONAL, "chunk_messages_larger_than_bytes"),
    description="The settings of the Redis server transport",
)


def check_transport_kwargs(schema: fields.Dictionary, kwargs: Mapping[str, Any], transport: str) -> None:
    """Validate a transport's keyword arguments (``None`` values count as absent).

    Args:
        schema: :data:`RedisTransportSchema` or :data:`RedisServerTransportSchema`.
        kwargs: The keyword arguments given to the constructor.
        transport: The transport's class name, for the message.

    Raises:
        ValueError: Naming every bad key and what was expected.
    """
    given = {key: value for key, value in kwargs.items() if value is not None}
    problems = schema.errors(given)
    if problems:
        raise ValueError(f"Invalid {transport} settings: {'; '.join(explain_errors(schema, given, problems))}")
