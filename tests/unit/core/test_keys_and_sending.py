"""Tests of key names, the send script and the queue-full policy (PROTOCOL.md sections 1 and 3)."""

from __future__ import annotations

import re

import pytest

from pysoa_like.common.transport.base import get_hex_thread_id
from pysoa_like.common.transport.redis_gateway.protocol import (
    QUEUE_FULL_ERROR,
    SEND_MESSAGE_LUA_SCRIPT,
    make_reply_to,
    new_client_id,
    queue_full_backoff_seconds,
    queue_full_error_message,
    queue_key,
    queue_name_of,
    request_queue_key,
    validate_service_name,
)


def test_request_queue_key() -> None:
    """A service's request queue key is ``pysoa:service.<name>``."""
    assert request_queue_key("echo") == "pysoa:service.echo"


@pytest.mark.parametrize("name", ["bad!name", "!", ""])
def test_service_names_with_bang_or_empty_are_rejected(name: str) -> None:
    """Service names that are empty or contain ``!`` raise a ValueError saying why."""
    with pytest.raises(ValueError, match=r"(?i)service name"):
        validate_service_name(name)
    with pytest.raises(ValueError, match=r"(?i)service name"):
        request_queue_key(name)


def test_reply_to_has_pysoa_shape() -> None:
    """``reply_to`` is ``service.<S>.<uuid4 hex>!<thread hex>`` and contains ``!``."""
    client_id = new_client_id()
    reply_to = make_reply_to("echo", client_id, get_hex_thread_id())
    assert re.fullmatch(r"service\.echo\.[0-9a-f]{32}![0-9a-f]{12,}", reply_to)
    assert reply_to.startswith(f"service.echo.{client_id}!")


def test_client_ids_are_fresh() -> None:
    """Every client id is new."""
    assert new_client_id() != new_client_id()


def test_reply_to_rejects_bang_in_parts() -> None:
    """A ``!`` in the service name, client id or thread id is refused."""
    with pytest.raises(ValueError, match="reserves"):
        make_reply_to("a!b", "c", "d")
    with pytest.raises(ValueError, match="client id nor the thread id"):
        make_reply_to("a", "c!", "d")


def test_queue_keys_are_prefixed_and_the_name_opaque() -> None:
    """The reply key is ``pysoa:`` plus reply_to as received (observed example)."""
    reply_to = "service.echo.878e78cabfd6460382c8eacec0a793cf!7f9c5f051b80"
    assert queue_key(reply_to) == "pysoa:service.echo.878e78cabfd6460382c8eacec0a793cf!7f9c5f051b80"
    assert queue_name_of(queue_key(reply_to)) == reply_to
    assert queue_key("anything at all") == "pysoa:anything at all"


def test_send_script_semantics_in_text() -> None:
    """The script checks LLEN against the capacity, replies ``queue full``, then RPUSHes and EXPIREs."""
    script = SEND_MESSAGE_LUA_SCRIPT[SEND_MESSAGE_LUA_SCRIPT.index("local key") :]
    assert QUEUE_FULL_ERROR == "queue full"
    assert script.index("LLEN") < script.index("error_reply('queue full')") < script.index("RPUSH")
    assert script.index("RPUSH") < script.index("EXPIRE")
    assert "KEYS[1]" in script and "ARGV[3]" in script


@pytest.mark.parametrize(
    ("retry", "jitter", "expected"), [(0, 0.0, 0.25), (0, 0.5, 0.375), (3, 0.0, 2.0), (9, 1.0, 128.25)]
)
def test_queue_full_backoff(retry: int, jitter: float, expected: float) -> None:
    """Retry i sleeps ``(2**i + random()) / 4.0`` seconds."""
    assert queue_full_backoff_seconds(retry, lambda: jitter) == expected


def test_queue_full_backoff_default_jitter_in_range() -> None:
    """With the real random source the first backoff lies in [0.25, 0.5)."""
    assert all(0.25 <= queue_full_backoff_seconds(0) < 0.5 for _ in range(50))


def test_queue_full_error_message() -> None:
    """The final send error names the queue and the retry count as PySOA does."""
    assert queue_full_error_message("service.echo", 10) == "Redis queue service.echo was full after 10 retries"
