"""Checks of the arguments of client calls, so that a mistake is reported at once, naming the argument.

Before these, a bad argument surfaced as whatever broke first deep inside the call: ``context="abc"`` as an
``AttributeError``, ``switches=5`` and ``timeout="5"`` as a ``TypeError`` about something else,
``timeout=float("nan")`` as a ``ValueError`` and ``timeout=float("inf")`` as an ``OverflowError`` from the
transport, a float switch silently truncated. Nothing is sent when a check fails.

* a wrong type raises ``TypeError`` naming the argument and what was expected;
* a value of the right type that cannot be used raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from pysoa_like.common._short_text import short_repr
from pysoa_like.core.message import get_switch

__all__ = ["check_job_arguments", "check_mapping", "check_seconds", "switch_list"]


def check_seconds(value: Any, name: str) -> None:
    """Check a duration argument: None, or a finite number of seconds (``0`` means the default, as in PySOA).

    Raises:
        TypeError: ``value`` is not a number (a bool or a string included).
        ValueError: ``value`` is negative, NaN or infinite.
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds (int or float) or None, got {short_repr(value)}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds, 0 or more, got {value!r}")


def check_mapping(value: Any, name: str) -> None:
    """Check a mapping argument (None allowed).

    Raises:
        TypeError: ``value`` is not a mapping.
    """
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict) or None, got {short_repr(value)}")


def switch_list(switches: Any, name: str) -> list[int]:
    """The switches of an argument, as ints.

    Raises:
        TypeError: ``switches`` is not a list, tuple or set, or an item is not a switch (a float or a bool is
            not: a float was silently truncated, and the server refuses both).
    """
    if isinstance(switches, str | bytes | Mapping) or not isinstance(switches, Iterable):
        raise TypeError(f"{name} must be a list, tuple or set of switches, got {short_repr(switches)}")
    result = []
    for switch in switches:
        try:
            result.append(get_switch(switch))
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}") from None
    return result


def check_job_arguments(
    switches: Any,
    correlation_id: Any,
    context: Any,
    control_extra: Any,
    message_expiry_in_seconds: Any,
) -> None:
    """Check the arguments that shape a job (those of ``Client.send_request`` but the actions).

    Raises:
        TypeError: An argument has the wrong type (the message names it).
        ValueError: An argument's value cannot be used (the message names it).
    """
    if switches is not None:
        switch_list(switches, "switches")
    if correlation_id is not None and not isinstance(correlation_id, str):
        raise TypeError(f"correlation_id must be a string or None, got {short_repr(correlation_id)}")
    # (Each check is called only for an argument given: most calls give none of these.)
    if context is not None:
        check_mapping(context, "context")
        context_switches = context.get("switches")
        if context_switches is not None:
            switch_list(context_switches, 'context["switches"]')
    if control_extra is not None:
        check_mapping(control_extra, "control_extra")
    if message_expiry_in_seconds is not None:
        check_seconds(message_expiry_in_seconds, "message_expiry_in_seconds")
