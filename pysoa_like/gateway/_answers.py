"""The gateway's JSON answers: any string written safely, and the error answer of a refused request."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse

from pysoa_like.gateway._headers import GatewayProblem

__all__ = ["API_HEADERS", "JSONAnswer", "problem_answer"]

#: Headers every answer of the call routes carries.
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class JSONAnswer(JSONResponse):
    """A JSON answer that any string can be written into.

    Starlette writes JSON as UTF-8, which has no form for a lone UTF-16 surrogate (``"\\ud800"`` in JSON text):
    such strings reach the gateway legally, in request bodies (as JSON escapes) and in replies (MessagePack
    carries them, as PySOA writes them). An answer holding one is written with every non-ASCII character as a
    JSON escape instead, which any JSON parser reads back to the same strings.
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


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
