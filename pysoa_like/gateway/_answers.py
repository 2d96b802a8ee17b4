"""The gateway's JSON answers: the error answer of a refused request (and :class:`JSONAnswer`, re-exported)."""

from __future__ import annotations

from typing import Any

from pysoa_like._web_json import JSONAnswer
from pysoa_like.gateway._headers import GatewayProblem

__all__ = ["API_HEADERS", "JSONAnswer", "problem_answer"]

#: Headers every answer of the call routes carries.
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def problem_answer(problem: GatewayProblem, correlation_id: str | None = None) -> JSONAnswer:
    """The JSON error answer of a request the gateway refuses (``{"errors": [...]}``, with the correlation id)."""
    error = {
        "code": problem.code,
        "message": problem.message,
        "field": problem.field,
        "is_caller_error": problem.status < 500,
    }
    content: dict[str, Any] = {"errors": [error]}
    headers = {**API_HEADERS, **problem.headers}
    if correlation_id is not None:
        content["correlation_id"] = correlation_id
        headers["X-Request-ID"] = correlation_id
    return JSONAnswer(content, status_code=problem.status, headers=headers)
