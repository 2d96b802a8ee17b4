"""What an HTTP request's headers give a call: correlation id, trace context, switches, deadline, API token.

Pure: the headers in, a :class:`CallHeaders` out, or a :class:`GatewayProblem` saying which header
is wrong. ``docs/gateway.rst`` ("Headers") describes each header.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

import attr

from pysoa_like.auth import API_TOKEN_CONTEXT_KEY, InvalidTokenError, bearer_token

__all__ = ["CallHeaders", "GatewayProblem", "correlation_id_of", "read_call_headers"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
# A request id is kept as given when it is short and printable (it goes into logs and headers).
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_SWITCH = re.compile(r"[+-]?[0-9]+")
_MAX_TRACESTATE = 512
# The switches MessagePack can carry (its integers).
_SWITCH_RANGE = range(-(2**63), 2**64)


class GatewayProblem(Exception):
    """A request the gateway refuses before calling anything.

    Args:
        status: The HTTP status.
        code: The error code in the body (``BAD_REQUEST``, ``NOT_FOUND``, ...).
        message: What is wrong, for the caller.
        field: The header or body part at fault, if any.
        headers: Extra response headers (``WWW-Authenticate``, ``Allow``).
    """

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CallHeaders:
    """What a call takes from its HTTP request's headers.

    Attributes:
        correlation_id: From ``X-Request-ID``, else the ``traceparent``'s trace id, else a new one.
        switches: From ``X-Switches``.
        timeout: Seconds, from ``X-Timeout`` or the gateway's default.
        context: Extra request context: ``api_token`` (from ``Authorization: Bearer``), ``traceparent``
            and ``tracestate``.
    """

    correlation_id: str
    switches: list[int]
    timeout: float
    context: dict[str, Any]


def _traceparent(value: str | None) -> tuple[str, str] | None:
    """(header, trace id) of a valid W3C ``traceparent``; ``None`` for none or an invalid one (ignored, as W3C says)."""
    if value is None:
        return None
    value = value.strip()
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return value, trace_id


def _field_lines(headers: Mapping[str, str], name: str) -> list[str]:
    """Every line of header ``name`` (lower case) in the request: headers with ``getlist`` (Starlette's) give each line
    of a header sent more than once, a plain mapping its one value."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    value = headers.get(name)
    return [] if value is None else [value]


def _single(headers: Mapping[str, str], name: str, shown: str) -> str | None:
    """The value of a header that holds one value (``name`` in lower case), or None when it is absent.

    Raises:
        GatewayProblem: It was sent on several lines (400): which one the caller meant cannot be told.
    """
    lines = _field_lines(headers, name)
    if len(lines) > 1:
        raise GatewayProblem(
            400, "BAD_REQUEST", f"{shown} was sent {len(lines)} times; send it once, with one value", shown
        )
    return lines[0] if lines else None


def _switches(value: str | None) -> list[int]:
    """The switches of one ``X-Switches`` line: integers separated by commas, spaces or both (``1, 5``)."""
    if value is None or not value.strip():
        return []
    if any(not item.strip() for item in value.split(",")):
        raise GatewayProblem(
            400,
            "BAD_REQUEST",
            "X-Switches has an empty item (a comma at an end, or two commas in a row): send comma-separated "
            "integers (1, 5)",
            "X-Switches",
        )
    switches = []
    for part in value.replace(",", " ").split():
        # Plain decimal digits only: int() would also read "1_5" (a typo for "1,5") as 15.
        if not _SWITCH.fullmatch(part):
            raise GatewayProblem(
                400, "BAD_REQUEST", f"X-Switches must be comma-separated integers (1, 5), got {part!r}", "X-Switches"
            )
        # More significant digits than 2**64 has is out of range (and int() refuses thousands of them).
        switches.append(int(part) if len(part.lstrip("+-").lstrip("0")) <= 20 else _SWITCH_RANGE.stop)
        if switches[-1] not in _SWITCH_RANGE:
            raise GatewayProblem(
                400, "BAD_REQUEST", f"X-Switches: {part} is out of range (-2**63 to 2**64 - 1)", "X-Switches"
            )
    return switches


def _timeout(value: str | None, default: float, maximum: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise GatewayProblem(
            400, "BAD_REQUEST", f"X-Timeout must be a positive number of seconds, got {value!r}", "X-Timeout"
        )
    if seconds > maximum:
        raise GatewayProblem(
            400, "BAD_REQUEST", f"X-Timeout may be at most {maximum:g} seconds, got {value}", "X-Timeout"
        )
    return seconds


def correlation_id_of(headers: Mapping[str, str]) -> str:
    """The correlation id of a request (headers' names in lower case), also for answers refusing it: its
    ``X-Request-ID`` when valid, else the trace id of a valid ``traceparent``, else a new one."""
    request_id = (headers.get("x-request-id") or "").strip()
    if _REQUEST_ID.match(request_id):
        return request_id
    trace = _traceparent(headers.get("traceparent"))
    return trace[1] if trace is not None else uuid.uuid4().hex


def read_call_headers(headers: Mapping[str, str], default_timeout: float, max_timeout: float) -> CallHeaders:
    """What the request's headers (names in lower case; with ``getlist``, as Starlette's, for a header sent on several
    lines) give the call.

    Raises:
        GatewayProblem: A malformed ``X-Request-ID``, ``X-Switches`` or ``X-Timeout``, or an ``X-Request-ID`` or
            ``X-Timeout`` sent more than once (400), or an
            ``Authorization`` header that is not a bearer token (401).
    """
    context: dict[str, Any] = {}
    try:
        token = bearer_token(headers.get("authorization"))
    except InvalidTokenError as exc:
        raise GatewayProblem(
            401,
            "AUTH_INVALID",
            f"{exc.reason}: send Authorization: Bearer <token>",
            "Authorization",
            {"WWW-Authenticate": 'Bearer error="invalid_request"'},
        ) from None
    if token is not None:
        context[API_TOKEN_CONTEXT_KEY] = token
    trace = _traceparent(headers.get("traceparent"))
    if trace is not None:
        context["traceparent"] = trace[0]
        tracestate = headers.get("tracestate")
        if tracestate and len(tracestate) <= _MAX_TRACESTATE:
            context["tracestate"] = tracestate
    request_id = _single(headers, "x-request-id", "X-Request-ID")
    if request_id is not None:
        request_id = request_id.strip()
        if not _REQUEST_ID.match(request_id):
            raise GatewayProblem(
                400,
                "BAD_REQUEST",
                "X-Request-ID must be 1 to 200 printable ASCII characters without spaces",
                "X-Request-ID",
            )
        correlation_id = request_id
    elif trace is not None:
        correlation_id = trace[1]
    else:
        correlation_id = uuid.uuid4().hex
    return CallHeaders(
        correlation_id=correlation_id,
        # A list header sent on several lines is one list (RFC 9110 section 5.3): each line is read as a whole header.
        switches=[switch for line in _field_lines(headers, "x-switches") for switch in _switches(line)],
        timeout=_timeout(_single(headers, "x-timeout", "X-Timeout"), default_timeout, max_timeout),
        context=context,
    )
