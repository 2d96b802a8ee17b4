"""Helpers for turning requests and failures into responses: client versions and error records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pysoa_like.common.errors import Error

__all__ = [
    "DEFAULT_CLIENT_VERSION",
    "correlation_context",
    "parse_client_version",
    "schema_errors_to_job_errors",
    "suppress_response_requested",
]

# PySOA assumes a client that sends no ``client_version`` is this old (it predates the field).
DEFAULT_CLIENT_VERSION: tuple[int, ...] = (0, 40, 0)


def parse_client_version(value: Any, logger: logging.Logger) -> tuple[int, ...]:
    """The client's version from ``meta["client_version"]``, as a tuple of ints.

    A missing value counts as :data:`DEFAULT_CLIENT_VERSION`. A malformed one (PySOA crashed on a
    string element) is logged and treated the same way, so the reply omits fields old clients do not
    understand.

    Args:
        value: The raw ``client_version`` meta value.
        logger: Where to report a malformed value.
    """
    if value is None:
        return DEFAULT_CLIENT_VERSION
    if isinstance(value, list | tuple) and value:
        for part in value:
            if type(part) is not int:
                break
        else:
            return tuple(value)
    logger.warning("Ignoring malformed client_version %r; treating the client as version 0.40.0", value)
    return DEFAULT_CLIENT_VERSION


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
    """Whether a (possibly malformed) job request asked for no reply (``control.suppress_response``)."""
    if isinstance(job_request, dict):
        control = job_request.get("control")
        if isinstance(control, dict):
            return control.get("suppress_response") is True
    return False
