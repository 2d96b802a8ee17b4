"""Building the ``context`` and ``control`` headers of outgoing job requests."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.common._header_rules import get_switch
from pysoa_like.common.types import Context, Control

__all__ = ["make_context_header", "make_control_header", "new_correlation_id"]


# The MAC address (as 12 hex digits) and the last timestamp used, as in the standard library's uuid1().
_node_hex: str | None = None
_last_timestamp = 0
# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
# Module-level so tests can pin the clock and the clock sequence.
_time_ns = time.time_ns
_getrandbits = random.getrandbits


def new_correlation_id() -> str:
    """A new version-1 UUID as 32 hex digits: exactly what PySOA sends (``uuid.uuid1().hex``).

    The value is what ``uuid.uuid1(node=uuid.getnode())`` gives for the same clock reading and random
    clock sequence (the MAC address is looked up once), written straight to hex: building the
    ``UUID`` object (and, without a node, asking the OS for a time-safe uuid) cost several times more.
    Like the standard library, timestamps are kept strictly increasing within the process.
    """
    global _node_hex, _last_timestamp
    if _node_hex is None:
        _node_hex = format(uuid.getnode(), "012x")
    timestamp = _time_ns() // 100 + _UUID_EPOCH_OFFSET
    if timestamp <= _last_timestamp:
        timestamp = _last_timestamp + 1
    _last_timestamp = timestamp
    # time_low, time_mid, then time_hi with version 1; the 14-bit clock sequence with the RFC 4122 variant.
    time_fields = (
        ((timestamp & 0xFFFFFFFF) << 32) | ((timestamp >> 16) & 0xFFFF0000) | 0x1000 | ((timestamp >> 48) & 0x0FFF)
    )
    return f"{time_fields:016x}{_getrandbits(14) | 0x8000:04x}{_node_hex}"


def _merge_switches(merged: dict[int, None], switches: Iterable[Any] | None) -> None:
    if switches:
        for switch in switches:
            merged[get_switch(switch)] = None


def make_context_header(
    base_context: Mapping[str, Any],
    switches: Iterable[Any] | None = None,
    correlation_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Context:
    """Build a request's context header without modifying any argument.

    The result is the client's base context, then the correlation id (the explicit one, else the base
    context's, else a new ``uuid1().hex``), then the switches (the union of the base context's, the
    ``switches`` argument and ``context["switches"]``, as a list of ints without duplicates), then
    every other key of ``context``.

    Args:
        base_context: The client's base context.
        switches: Switches for this request.
        correlation_id: The correlation id for this request.
        context: Extra context keys for this request.

    Returns:
        A new dict.
    """
    header: dict[str, Any] = dict(base_context)
    if correlation_id is not None:
        header["correlation_id"] = correlation_id
    elif not header.get("correlation_id"):
        header["correlation_id"] = new_correlation_id()
    base_switches = base_context.get("switches")
    context_switches = None
    if context:
        context_switches = context.get("switches")
        for key, value in context.items():
            if key != "switches":
                header[key] = value
    if base_switches or switches or context_switches:
        merged: dict[int, None] = {}  # an ordered set, so the wire order is stable
        _merge_switches(merged, base_switches)
        _merge_switches(merged, switches)
        _merge_switches(merged, context_switches)
        header["switches"] = list(merged)
    else:
        header["switches"] = []
    return header


def make_control_header(
    continue_on_error: bool = False,
    suppress_response: bool = False,
    control_extra: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> Control:
    """Build a request's control header.

    Args:
        continue_on_error: Whether the server runs the remaining actions after one fails.
        suppress_response: Whether the server sends no reply.
        control_extra: Free-form keys for middleware; they override the two flags above.
        timeout: The call's timeout or message expiry. When given (and ``control_extra`` has no
            ``timeout``) it is sent as ``timeout``, rounded up to whole seconds as PySOA servers
            expect an int.

    Returns:
        A new dict.
    """
    control: dict[str, Any] = {"continue_on_error": continue_on_error, "suppress_response": bool(suppress_response)}
    if control_extra:
        control.update(control_extra)
    if timeout and "timeout" not in control:
        control["timeout"] = timeout if type(timeout) is int else math.ceil(timeout)
    return control
