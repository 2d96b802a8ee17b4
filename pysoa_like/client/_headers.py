"""Building the ``context`` and ``control`` headers of outgoing job requests."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.common.types import Context, Control

__all__ = ["make_context_header", "make_control_header", "new_correlation_id", "switch_to_int"]


_node: int | None = None


def new_correlation_id() -> str:
    """A new ``uuid1().hex``, as PySOA generates.

    The MAC address is looked up once and passed in: ``uuid1()`` without it asks the OS for a
    time-safe uuid on every call, which costs several times more.
    """
    global _node
    if _node is None:
        _node = uuid.getnode()
    return uuid.uuid1(_node).hex


def switch_to_int(switch: Any) -> int:
    """Turn a switch (an int, anything with ``__int__``, or an object with an int-like ``.value``) into an int.

    Raises:
        ValueError: The value cannot be read as a switch.
    """
    if type(switch) is int:
        return switch
    if hasattr(switch, "__int__"):
        return int(switch)
    value = getattr(switch, "value", None)
    if value is not None and hasattr(value, "__int__"):
        return int(value)
    raise ValueError(f"Switch {switch!r} is neither an integer nor an object with an integer value")


def _merge_switches(merged: dict[int, None], switches: Iterable[Any] | None) -> None:
    if switches:
        for switch in switches:
            merged[switch_to_int(switch)] = None


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
    merged: dict[int, None] = {}  # an ordered set, so the wire order is stable
    _merge_switches(merged, base_context.get("switches"))
    _merge_switches(merged, switches)
    if context:
        _merge_switches(merged, context.get("switches"))
        for key, value in context.items():
            if key != "switches":
                header[key] = value
    header["switches"] = list(merged)
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
    control: dict[str, Any] = {"continue_on_error": continue_on_error, "suppress_response": suppress_response}
    if control_extra:
        control.update(control_extra)
    if timeout and "timeout" not in control:
        control["timeout"] = timeout if type(timeout) is int else math.ceil(timeout)
    return control
