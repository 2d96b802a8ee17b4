"""The keyword-argument schemas of the Redis transports, and their check at construction.

The transports declare these with ``ClassConfigurationSchema.provider``, so settings validation rejects a bad
``transport.kwargs`` at startup; the constructors check them again, so a transport built directly fails the same
way, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.fields._describe import explain_errors, suggest_keys
from pysoa_like.common.schema import FieldError
from pysoa_like.common.serializer.base import Serializer
from pysoa_like.core.constants import DEFAULT_REDIS_PORT, REDIS_BACKEND_TYPES, ProtocolVersion
from pysoa_like.core.endpoint import IGNORED_KEYS, USED_KEYS, endpoint_of

__all__ = ["RedisServerTransportSchema", "RedisTransportSchema", "check_transport_kwargs"]

_NUMBER = fields.Float


class _ReadAsTheTransportsDo(fields.Field):
    """A field whose valid-looking value is then read as the transports will read it (``problem``).

    A mistake found there (a URL scheme, a port, a connection keyword) is a settings error naming the key, worded by
    ``problem`` itself, instead of a ValueError at the first call.
    """

    def problem(self, value: Any) -> str | None:
        """What the transports would refuse in ``value`` (``None``: nothing)."""
        raise NotImplementedError

    def errors(self, value: Any) -> list[FieldError]:
        shape = super().errors(value)
        if shape:
            return shape
        problem = self.problem(value)
        return [FieldError(ERROR_CODE_INVALID, problem, "")] if problem else []

    def describe_error(self, value: Any, error: Any) -> str | None:
        """The error's own words when ``value`` has the right shape (the problem is then what it says)."""
        return None if super().errors(value) else str(error.message)


class _RedisHost(_ReadAsTheTransportsDo, fields.Any):
    """One entry of ``hosts``: one of its forms, with a URL scheme, port and URL database the transports read."""

    def problem(self, value: Any) -> str | None:
        # Imported when used: the backends import redis-py, which this module (imported by the asyncio driver) does not.
        from pysoa_like.common.transport.redis_gateway.backend.base import normalize_host

        try:
            endpoint_of(normalize_host(value, DEFAULT_REDIS_PORT), {})
        except ValueError as exc:
            return str(exc)
        return None


class _ConnectionKwargs(_ReadAsTheTransportsDo, fields.SchemalessDictionary):
    """``connection_kwargs``: a dict of redis-py keyword arguments, each one the transports honour."""

    def problem(self, value: Any) -> str | None:
        return _connection_kwargs_problem(value)


class _ReceiveTimeout(fields.Float):
    """``receive_timeout_in_seconds``: a number of seconds above 0. PySOA's 0 (a blocking pop without end) is refused
    in words that say why (``reason``) and what to write instead.

    Args:
        reason: Why this transport's wait must end.
        description: Documentation for introspection.
    """

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(gt=0, description=description)
        self.reason = reason

    def _is_wait_forever(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0

    def errors(self, value: Any) -> list[FieldError]:
        if self._is_wait_forever(value):
            message = (
                f"0 (wait forever, as in PySOA) is not supported: {self.reason}; "
                "use a number of seconds such as 5 (the default)"
            )
            return [FieldError(ERROR_CODE_INVALID, message)]
        return super().errors(value)

    def describe_error(self, value: Any, error: Any) -> str | None:
        """The refusal of 0 as it is worded (the usual words for other values)."""
        return str(error.message) if self._is_wait_forever(value) else None


def _connection_kwargs_problem(connection_kwargs: Mapping[str, Any]) -> str | None:
    unknown = sorted(set(connection_kwargs) - USED_KEYS - IGNORED_KEYS)
    if unknown:
        names = ", ".join(unknown)
        return f"{names}: not supported by the Redis transports{suggest_keys(unknown[0], sorted(USED_KEYS))}"
    try:
        endpoint_of(("localhost", DEFAULT_REDIS_PORT), connection_kwargs)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


_BACKEND_LAYER_KWARGS = fields.Dictionary(
    {
        "connection_kwargs": _ConnectionKwargs(
            key_type=fields.UnicodeString(),
            description="redis-py keyword arguments for every Redis connection (password, username, ssl, ...)",
        ),
        "hosts": fields.List(
            _RedisHost(
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
    {
        **_COMMON_CONTENTS,
        "receive_timeout_in_seconds": _ReceiveTimeout(
            "a call must end when its reply never comes", "The blocking-pop timeout (default 5)"
        ),
        **_CLIENT_CONTENTS,
    },
    optional_keys=(*_OPTIONAL, *_CLIENT_CONTENTS),
    description="The settings of the Redis client transport",
)

#: The keyword arguments of :class:`~pysoa_like.common.transport.redis_gateway.server.RedisServerTransport`.
RedisServerTransportSchema = fields.Dictionary(
    {
        **_COMMON_CONTENTS,
        "receive_timeout_in_seconds": _ReceiveTimeout(
            "a server must wake to notice a shutdown", "The blocking-pop timeout (default 5)"
        ),
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
