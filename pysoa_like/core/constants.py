"""Constants of the Redis Gateway transport: protocol versions, features, backend types and defaults.

Every value here is part of the wire contract with PySOA 1.4.9 peers or one of its setting defaults; change
none of them without checking PROTOCOL.md.
"""

from __future__ import annotations

import enum
import re

from pysoa_like.common.transport.errors import InvalidMessageError

__all__ = [
    "CLIENT_ACL_RULES",
    "DEFAULT_CHUNK_MESSAGES_LARGER_THAN_BYTES",
    "DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT",
    "DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_SERVER",
    "DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT",
    "DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER",
    "DEFAULT_MAXIMUM_REPLY_BYTES",
    "DEFAULT_MESSAGE_EXPIRY_IN_SECONDS",
    "DEFAULT_PROTOCOL_VERSION",
    "DEFAULT_QUEUE_CAPACITY",
    "DEFAULT_QUEUE_FULL_RETRIES",
    "DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS",
    "DEFAULT_REDIS_PORT",
    "DEFAULT_SENTINEL_PORT",
    "EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS",
    "MINIMUM_CHUNKED_MESSAGE_BYTES",
    "QUEUE_FULL_BACKOFF_DIVISOR",
    "QUEUE_NAME_PREFIX",
    "REDIS_BACKEND_TYPES",
    "REDIS_BACKEND_TYPE_CLUSTER",
    "REDIS_BACKEND_TYPE_SENTINEL",
    "REDIS_BACKEND_TYPE_STANDARD",
    "REGISTRY_ACL_RULES",
    "REPLY_QUEUE_MARKER",
    "SERVER_ACL_RULES",
    "SERVICE_QUEUE_NAME_PREFIX",
    "TRANSACTION_ACL_RULES",
    "VERSION_MARKER_PATTERN",
    "WATCHED_CLIENT_ACL_RULES",
    "WATCHED_SERVER_ACL_RULES",
    "ProtocolFeature",
    "ProtocolVersion",
    "UnsupportedProtocolVersionError",
]

# Backend types, the values of the transport setting ``backend_type``.
REDIS_BACKEND_TYPE_STANDARD = "redis.standard"
REDIS_BACKEND_TYPE_SENTINEL = "redis.sentinel"
REDIS_BACKEND_TYPE_CLUSTER = "redis.cluster"
REDIS_BACKEND_TYPES: tuple[str, ...] = (
    REDIS_BACKEND_TYPE_STANDARD,
    REDIS_BACKEND_TYPE_SENTINEL,
    REDIS_BACKEND_TYPE_CLUSTER,
)

# Size limits on the serialized envelope (headers excluded), in bytes.
DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT = 1024 * 100
# The most bytes (framing included) a client reads for one chunked reply, all chunks together.
DEFAULT_MAXIMUM_REPLY_BYTES = 1024 * 1024 * 100
DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER = 1024 * 250
# The smallest chunk size a server may be configured with (when chunking is enabled at all).
MINIMUM_CHUNKED_MESSAGE_BYTES = 1024 * 100
# Oversized-message WARNING thresholds; 0 disables the log.
DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT = DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT
DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_SERVER = DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER
# Chunking threshold default: -1 means responses are never chunked.
DEFAULT_CHUNK_MESSAGES_LARGER_THAN_BYTES = -1

# Every Redis key the transport touches starts with this.
QUEUE_NAME_PREFIX = "pysoa:"
# A service's request queue name is this plus the service name (the key adds QUEUE_NAME_PREFIX).
SERVICE_QUEUE_NAME_PREFIX = "service."
# A key containing this character is a reply queue: it is hashed to a host instead of round-robin.
REPLY_QUEUE_MARKER = "!"

# The least Redis ACL rules (Redis 6.2 and later) of a client and of a server, for ``ACL SETUSER <user> on >pw ...``
# (docs/security.rst explains each command). Every key they touch starts with ``pysoa:service.``.
CLIENT_ACL_RULES = "~pysoa:service.* resetchannels -@all +evalsha +eval +llen +rpush +expire +ltrim +blpop +lpop"
SERVER_ACL_RULES = "~pysoa:service.* resetchannels -@all +evalsha +eval +llen +rpush +expire +ltrim +blpop"
# What a server's service registry entry needs on top (on by default; see docs/service_registry.rst), on the Redis of
# its fleet (its transport's, unless the ``fleet`` setting names another).
# ``+lpush``: failed jobs' errors pushed to the service's recent errors (trimmed by the server's LTRIM and EXPIRE).
REGISTRY_ACL_RULES = (
    "~pysoa:registry:* +time +zadd +zrem +zremrangebyscore +zrangebyscore +hset +hget +hdel +pttl +pexpire +lpush "
    "+script|load"
)
# Optional, both sides: messages of 32 KiB or more are pushed in a transaction (less Redis CPU) when allowed.
TRANSACTION_ACL_RULES = "+multi +exec"
# Optional: what a client with ``detect_dead_workers`` and the servers it calls need on top.
WATCHED_CLIENT_ACL_RULES = "+exists"
WATCHED_SERVER_ACL_RULES = "+set +pexpire +del"

# Lifetime of a sent message (envelope ``__expiry__`` and Redis EXPIRE) when the caller gives none.
DEFAULT_MESSAGE_EXPIRY_IN_SECONDS = 60
# An explicit per-call expiry T gives Redis EXPIRE T + this, so the list outlives the message a little.
EXPLICIT_EXPIRY_REDIS_GRACE_SECONDS = 10
# The send script refuses to push when the list already holds this many messages.
DEFAULT_QUEUE_CAPACITY = 10000
# Retries after a "queue full" refusal, so at most this + 1 attempts.
DEFAULT_QUEUE_FULL_RETRIES = 10
# Divisor of the queue-full backoff: sleep (2**i + random()) / this before retry i.
QUEUE_FULL_BACKOFF_DIVISOR = 4.0
# BLPOP timeout when a receive call gives none (or 0); PySOA never blocks forever.
DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS = 5
# Port given to string hosts without one: Redis, and (per PySOA's quirk, only when asked) Sentinel.
DEFAULT_REDIS_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379

# Anchored at the start of a message; the number may have any count of digits.
#: The version marker ``pysoa-redis/N//`` that starts a version 3 message (N in group 1): the one definition.
VERSION_MARKER_PATTERN = rb"pysoa-redis/([0-9]+)//"
_VERSION_MARKER_RE = re.compile(VERSION_MARKER_PATTERN)
_V2_MARKER = b"content-type"


class UnsupportedProtocolVersionError(InvalidMessageError, ValueError):
    """A message carries a ``pysoa-redis/N//`` marker whose N is not a known protocol version.

    It is a ``ValueError`` too, because that is what PySOA raises for the same message.

    Args:
        version: The version number found in the marker (a short description for absurdly long numbers).
    """

    def __init__(self, version: int | str) -> None:
        self.version = version
        super().__init__(f"Unsupported Redis Gateway protocol version {version} (known: 1, 2, 3)")


class ProtocolVersion(enum.IntEnum):
    """The three framings of a message in a Redis list (PROTOCOL.md section 4)."""

    VERSION_1 = 1
    VERSION_2 = 2
    VERSION_3 = 3

    @property
    def prefix(self) -> bytes:
        """The version marker, ``b"pysoa-redis/N//"`` (sent only by version 3)."""
        return b"pysoa-redis/%d//" % self.value

    @staticmethod
    def extract_version(message: bytes) -> tuple[ProtocolVersion, bytes]:
        """Detect the protocol version of a received message and remove its version marker.

        PySOA's API, kept for compatibility; the transports use :func:`pysoa_like.core.message.parse_message`.

        Args:
            message: The raw bytes popped from Redis.

        Returns:
            The version and the message without its ``pysoa-redis/N//`` marker (the message itself when
            there was no marker).

        Raises:
            UnsupportedProtocolVersionError: If the marker names a version other than 1, 2 or 3.
        """
        match = _VERSION_MARKER_RE.match(message)
        if match is not None:
            return _version_from_marker_digits(match.group(1)), message[match.end() :]
        if message.startswith(_V2_MARKER):
            return ProtocolVersion.VERSION_2, message
        return ProtocolVersion.VERSION_1, message


# Longer digit strings are no version; converting them could even hit Python's int-size limit.
_MAXIMUM_VERSION_DIGITS = 18


def _version_from_marker_digits(digits: bytes) -> ProtocolVersion:
    """The protocol version named by the digits of a ``pysoa-redis/N//`` marker (shared with the framing module).

    Raises:
        UnsupportedProtocolVersionError: If the number is not 1, 2 or 3.
    """
    if len(digits) > _MAXIMUM_VERSION_DIGITS:
        raise UnsupportedProtocolVersionError(f"{digits[:8].decode('ascii')}... ({len(digits)} digits)")
    number = int(digits)
    if 1 <= number <= 3:
        return ProtocolVersion(number)
    raise UnsupportedProtocolVersionError(number)


class ProtocolFeature(enum.Enum):
    """Protocol features; each is understood from a minimum protocol version on."""

    CONTENT_TYPE_HEADER = "content-type-header"
    VERSION_MARKER = "version-marker"
    CHUNKED_RESPONSES = "chunked-responses"

    @property
    def minimum_version(self) -> ProtocolVersion:
        """The first protocol version that has this feature."""
        return _FEATURE_MINIMUM_VERSIONS[self]

    def supported_in(self, version: ProtocolVersion | int) -> bool:
        """Whether a peer speaking ``version`` understands this feature.

        Args:
            version: A protocol version (enum member or plain int).

        Returns:
            True if ``version`` is at least the feature's minimum version.
        """
        return int(version) >= int(self.minimum_version)


_FEATURE_MINIMUM_VERSIONS: dict[ProtocolFeature, ProtocolVersion] = {
    ProtocolFeature.CONTENT_TYPE_HEADER: ProtocolVersion.VERSION_2,
    ProtocolFeature.VERSION_MARKER: ProtocolVersion.VERSION_3,
    ProtocolFeature.CHUNKED_RESPONSES: ProtocolVersion.VERSION_3,
}

# The version clients send unless configured otherwise (PySOA's default since 1.0).
DEFAULT_PROTOCOL_VERSION = ProtocolVersion.VERSION_3
