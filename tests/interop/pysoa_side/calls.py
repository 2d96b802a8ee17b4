"""Run a list of client calls and describe the outcomes as tagged JSON; shared by both client sides.

Runs inside the PySOA 1.4.9 venv (driven by ``run_client.py``) and in the pysoa_like test process (with
a pysoa_like ``Client``), so both directions produce outcomes of exactly the same shape. Only the
standard library, ``attr`` and :mod:`tagged` are imported.

A call is ``{"method": "call_action", "kwargs": <tagged kwargs>}``; the method is any public ``Client``
method (``call_action``, ``call_actions``, ``call_actions_parallel``, ``call_jobs_parallel``, ...). An
outcome is ``{"result": <tagged value>}`` or ``{"exception": {"type", "message", "errors", "actions"}}``.
Response objects become plain dicts (``attr.asdict``) and generators become lists.
"""

from __future__ import annotations

import types
from typing import Any

import attr

try:
    from . import tagged
except ImportError:  # run as a top-level script module inside the PySOA venv
    import tagged  # type: ignore[import-not-found,no-redef,unused-ignore]

__all__ = ["describe", "run_calls"]


def describe(value: Any) -> Any:
    """Turn response objects (attrs classes), lists of them and generators into plain data.

    Args:
        value: What a client method returned.

    Returns:
        Dicts, lists and body values only.
    """
    if isinstance(value, types.GeneratorType):
        value = list(value)
    if attr.has(type(value)):
        return attr.asdict(value, recurse=True)
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    return value


def _describe_exception(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "errors": describe(getattr(exc, "errors", None)),
        "actions": describe(getattr(exc, "actions", None)),
    }


def run_calls(client: Any, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each call on ``client`` in order and describe each outcome (tagged, JSON-ready).

    Args:
        client: A PySOA or pysoa_like ``Client``.
        calls: ``[{"method": name, "kwargs": tagged kwargs}, ...]``.

    Returns:
        One outcome per call: ``{"result": tagged}`` or ``{"exception": tagged}``.
    """
    outcomes = []
    for call in calls:
        kwargs = tagged.decode(call.get("kwargs", {"$dict": []}))
        try:
            result = describe(getattr(client, call["method"])(**kwargs))
        except Exception as exc:
            outcomes.append({"exception": tagged.encode(_describe_exception(exc))})
        else:
            outcomes.append({"result": tagged.encode(result)})
    return outcomes
