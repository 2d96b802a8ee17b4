"""Helpers for turning requests and failures into responses: error records, context echo, reply suppression."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pysoa_like.common._header_rules import suppress_response_requested as suppress_control_requested
from pysoa_like.common.errors import Error

__all__ = [
    "correlation_context",
    "schema_errors_to_job_errors",
    "suppress_response_requested",
]


def schema_errors_to_job_errors(problems: Iterable[Any]) -> list[Error]:
    """Job-level errors for job request validation failures (never caller errors, as in PySOA)."""
    return [
        p if isinstance(p, Error) else Error(code=p.code, message=p.message, field=p.pointer, is_caller_error=False)
        for p in problems
    ]


def correlation_context(job_request: Any) -> dict[str, Any]:
    """``{"correlation_id": ...}`` from a (possibly malformed) job request, or ``{}``."""
    if isinstance(job_request, dict):
        context = job_request.get("context")
        if isinstance(context, dict) and "correlation_id" in context:
            return {"correlation_id": context["correlation_id"]}
    return {}


def suppress_response_requested(job_request: Any) -> bool:
    """Whether a (possibly malformed) job request asked for no reply (see :mod:`pysoa_like.common._header_rules`)."""
    return isinstance(job_request, dict) and suppress_control_requested(job_request.get("control"))
