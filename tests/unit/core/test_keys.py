"""Tests of key names: request queues, reply queues and client ids (PROTOCOL.md section 1)."""

from __future__ import annotations

import re

import pytest

from pysoa_like.common.transport.base import get_hex_thread_id
from pysoa_like.common.transport.redis_gateway.protocol import (
    make_reply_to,
    new_client_id,
    queue_key,
    queue_name_of,
    request_queue_key,
    validate_service_name,
)
from pysoa_like.core.keys import new_reply_queue_suffix


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


def test_reply_queue_suffixes_are_random_hex() -> None:
    """A thread's reply queue suffix is 16 fresh hex digits (not its thread id), and makes a valid reply queue name."""
    suffix = new_reply_queue_suffix()
    assert re.fullmatch(r"[0-9a-f]{16}", suffix)
    assert suffix != new_reply_queue_suffix()
    assert make_reply_to("echo", new_client_id(), suffix).endswith("!" + suffix)


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
