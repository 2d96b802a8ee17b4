"""Tests of the Redis Gateway constants module."""

from __future__ import annotations

import pytest

from pysoa_like.common.transport.errors import InvalidMessageError
from pysoa_like.common.transport.redis_gateway import constants
from pysoa_like.common.transport.redis_gateway.utils import make_redis_queue_name
from pysoa_like.core.constants import (
    ProtocolFeature,
    ProtocolVersion,
    UnsupportedProtocolVersionError,
)


def test_protocol_version_values_and_prefixes() -> None:
    """Each protocol version is its PySOA number and has the ``pysoa-redis/N//`` prefix."""
    assert [int(v) for v in ProtocolVersion] == [1, 2, 3]
    assert ProtocolVersion.VERSION_1.prefix == b"pysoa-redis/1//"
    assert ProtocolVersion.VERSION_3.prefix == b"pysoa-redis/3//"
    assert ProtocolVersion(2) is ProtocolVersion.VERSION_2


@pytest.mark.parametrize(
    ("message", "version", "rest"),
    [
        (
            b"pysoa-redis/3//content-type:application/json;{}",
            ProtocolVersion.VERSION_3,
            b"content-type:application/json;{}",
        ),
        (b"pysoa-redis/1//\x80", ProtocolVersion.VERSION_1, b"\x80"),
        (b"content-type:application/json;{}", ProtocolVersion.VERSION_2, b"content-type:application/json;{}"),
        (b"\x83\xaarequest_id", ProtocolVersion.VERSION_1, b"\x83\xaarequest_id"),
        (b"pysoa-redis/x//", ProtocolVersion.VERSION_1, b"pysoa-redis/x//"),
    ],
)
def test_extract_version_detects_marker_v2_and_v1(message: bytes, version: ProtocolVersion, rest: bytes) -> None:
    """``extract_version`` reads the marker, else the content-type start, else assumes version 1."""
    assert ProtocolVersion.extract_version(message) == (version, rest)


def test_extract_version_rejects_unknown_version_number() -> None:
    """A marker with an unknown number raises an error that is both InvalidMessageError and ValueError."""
    with pytest.raises(UnsupportedProtocolVersionError) as info:
        ProtocolVersion.extract_version(b"pysoa-redis/9//payload")
    assert info.value.version == 9
    assert isinstance(info.value, InvalidMessageError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("feature", "supported"),
    [
        (ProtocolFeature.CONTENT_TYPE_HEADER, [False, True, True]),
        (ProtocolFeature.VERSION_MARKER, [False, False, True]),
        (ProtocolFeature.CHUNKED_RESPONSES, [False, False, True]),
    ],
)
def test_protocol_features_minimum_versions(feature: ProtocolFeature, supported: list[bool]) -> None:
    """Each feature is supported from its minimum version on, for enum members and plain ints."""
    assert [feature.supported_in(v) for v in ProtocolVersion] == supported
    assert [feature.supported_in(n) for n in (1, 2, 3)] == supported


def test_protocol_features_are_distinct_members() -> None:
    """Features sharing a minimum version are still three separate enum members."""
    assert len(list(ProtocolFeature)) == 3


def test_backend_types_and_size_defaults() -> None:
    """Backend type names and size defaults are PySOA's exact values."""
    assert constants.REDIS_BACKEND_TYPE_STANDARD == "redis.standard"
    assert constants.REDIS_BACKEND_TYPE_SENTINEL == "redis.sentinel"
    assert constants.REDIS_BACKEND_TYPES == ("redis.standard", "redis.sentinel", "redis.cluster")
    assert constants.DEFAULT_MAXIMUM_MESSAGE_BYTES_CLIENT == 102400
    assert constants.DEFAULT_MAXIMUM_MESSAGE_BYTES_SERVER == 256000
    assert constants.MINIMUM_CHUNKED_MESSAGE_BYTES == 102400


def test_transport_setting_defaults() -> None:
    """The remaining setting defaults match PySOA 1.4.9."""
    assert constants.QUEUE_NAME_PREFIX == "pysoa:"
    assert constants.DEFAULT_MESSAGE_EXPIRY_IN_SECONDS == 60
    assert constants.DEFAULT_QUEUE_CAPACITY == 10000
    assert constants.DEFAULT_QUEUE_FULL_RETRIES == 10
    assert constants.DEFAULT_RECEIVE_TIMEOUT_IN_SECONDS == 5
    assert constants.DEFAULT_CHUNK_MESSAGES_LARGER_THAN_BYTES == -1
    assert constants.DEFAULT_PROTOCOL_VERSION is ProtocolVersion.VERSION_3
    assert constants.DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_CLIENT == 102400
    assert constants.DEFAULT_LOG_MESSAGES_LARGER_THAN_BYTES_SERVER == 256000


def test_make_redis_queue_name() -> None:
    """The queue name of a service is ``service.`` plus its name, unescaped."""
    assert make_redis_queue_name("echo") == "service.echo"
    assert make_redis_queue_name("a.b:c") == "service.a.b:c"
