"""What one call asks for: :class:`CallOptions`, the checks of its arguments, and the headers of its job.

Every call method takes the same keyword arguments (:class:`CallKeywords`); they are read and checked once
into a :class:`CallOptions` value, which the call path (:mod:`pysoa_like.client.client`) passes around
instead of the keywords themselves. The keywords that shape the job are handed to ``Client.send_request``
as the caller gave them, so a ``send_request`` that a subclass or a test replaced sees what PySOA's did.

The argument checks report a mistake at once, naming the argument, and nothing is sent when one fails
(before them, ``context="abc"`` surfaced as an ``AttributeError`` deep in the call, ``timeout=float("inf")``
as an ``OverflowError`` from the transport, a float switch was silently truncated):

* a wrong type raises ``TypeError`` naming the argument and what was expected;
* a value of the right type that cannot be used raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.types import Context, Control, JobRequest, job_message
from pysoa_like.core.deadlines import bounded_expiry
from pysoa_like.core.message import suppress_response_requested
from pysoa_like.core.retry import RetryPolicy, retry_policy_of
from pysoa_like.core.switches import get_switch

__all__ = [
    "SHORTEST_WAIT_SECONDS",
    "CallKeywords",
    "CallOptions",
    "check_job_arguments",
    "check_mapping",
    "check_seconds",
    "job_of",
    "make_context_header",
    "make_control_header",
    "new_correlation_id",
    "options_of",
    "switch_list",
]


#: A reply may be waiting already when a call's time is up: it is still looked for this long.
SHORTEST_WAIT_SECONDS = 0.01


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


class CallKeywords(TypedDict, total=False):
    """The keyword arguments of every ``call_*`` method (the parallel calls also take ``catch_transport_errors``).

    The job's headers come from ``switches``, ``correlation_id``, ``continue_on_error``, ``context``,
    ``control_extra``, ``message_expiry_in_seconds`` and ``suppress_response`` (exactly the keywords of
    ``Client.send_request``); the others say how the call waits and what it returns.
    """

    expansions: Mapping[str, Any] | None
    raise_job_errors: bool
    raise_action_errors: bool
    catch_transport_errors: bool
    timeout: float | None
    switches: Iterable[Any] | None
    correlation_id: str | None
    continue_on_error: bool
    context: Mapping[str, Any] | None
    control_extra: Mapping[str, Any] | None
    message_expiry_in_seconds: float | None
    suppress_response: bool
    fallback: Any
    idempotent: bool | None
    retry: Mapping[str, Any] | bool | None


# The keywords of Client.send_request (the ones that shape the job), in its order.
_JOB_KEYWORDS = frozenset(
    (
        "switches",
        "correlation_id",
        "continue_on_error",
        "context",
        "control_extra",
        "message_expiry_in_seconds",
        "suppress_response",
    )
)


class CallOptions:
    """The options of one call, read once from its keyword arguments (see :class:`CallKeywords`).

    Args:
        expansions: ``{type: ["expansion", ...]}`` to expand in the responses.
        raise_job_errors: Raise ``CallJobError`` on job errors (else return them).
        raise_action_errors: Raise ``CallActionError`` with every failed action.
        catch_transport_errors: Parallel calls: return transport errors in place of responses.
        timeout: Seconds for the message expiry, ``control.timeout`` and the receive wait.
        fallback: What the call returns instead of failing (see :mod:`pysoa_like.client.fallbacks`).
        idempotent: Whether the call may be retried after a timeout or a server error (``None``: the
            service's ``retry`` setting says, by action).
        retry: This call's retry policy (a dict of the ``retry`` setting's keys), ``False`` for no retries,
            or ``None`` for the service's.
        job_keywords: The keywords of ``Client.send_request`` (switches, correlation id, ...).

    Raises:
        TypeError: A keyword that no call method takes, or an argument of the wrong type (see
            :func:`check_job_arguments`).
        ValueError: A ``timeout`` or ``message_expiry_in_seconds`` that is negative, NaN or infinite.
    """

    __slots__ = (
        "catch_transport_errors",
        "expansions",
        "expects_reply",
        "fallback",
        "idempotent",
        "job_keywords",
        "raise_action_errors",
        "raise_job_errors",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        expansions: Mapping[str, Any] | None = None,
        raise_job_errors: bool = True,
        raise_action_errors: bool = True,
        catch_transport_errors: bool = False,
        timeout: float | None = None,
        fallback: Any = None,
        idempotent: bool | None = None,
        retry: Any = None,
        **job_keywords: Any,
    ) -> None:
        if not _JOB_KEYWORDS.issuperset(job_keywords):
            unknown = sorted(set(job_keywords) - _JOB_KEYWORDS)
            raise TypeError(f"Unexpected keyword argument(s) for a client call: {', '.join(unknown)}")
        self.expansions = expansions
        self.raise_job_errors = raise_job_errors
        self.raise_action_errors = raise_action_errors
        self.catch_transport_errors = catch_transport_errors
        self.fallback = fallback
        if idempotent is not None and not isinstance(idempotent, bool):
            raise TypeError(f"idempotent must be True, False or None, got {idempotent!r}")
        self.idempotent = idempotent
        #: ``None`` (the service's policy), ``False`` (no retries) or this call's :class:`RetryPolicy`.
        self.retry: RetryPolicy | Literal[False] | None = (
            retry if retry is None or retry is False or isinstance(retry, RetryPolicy) else retry_policy_of(retry)
        )
        if timeout is not None:
            check_seconds(timeout, "timeout")
        if job_keywords:
            # Checked here, once: the stock send_request does not check a call method's keywords again.
            check_job_arguments(
                job_keywords.get("switches"),
                job_keywords.get("correlation_id"),
                job_keywords.get("context"),
                job_keywords.get("control_extra"),
                job_keywords.get("message_expiry_in_seconds"),
            )
        control_extra = job_keywords.get("control_extra")
        self.timeout = timeout
        if timeout and not job_keywords.get("message_expiry_in_seconds"):
            # The call's timeout is also its message expiry, unless one is given (PySOA's rule).
            job_keywords["message_expiry_in_seconds"] = timeout
        #: What ``send_request`` gets: the caller's job keywords (the timeout as the expiry if none).
        self.job_keywords: dict[str, Any] = job_keywords
        suppress_response = job_keywords.get("suppress_response")
        #: Whether the server will answer: not when the job's control says ``suppress_response`` (exactly True).
        self.expects_reply = not (suppress_response or control_extra) or not suppress_response_requested(
            make_control_header(False, bool(suppress_response), control_extra)
        )

    def with_correlation_id(self, base_context: Mapping[str, Any]) -> CallOptions:
        """These options with the correlation id made explicit (a new one unless given or in ``base_context``).

        The jobs of a parallel call share one correlation id, and the expansions of a call send their
        requests with the context of the call's job, so the call path fixes it before sending.
        """
        if self.job_keywords.get("correlation_id") is not None or base_context.get("correlation_id"):
            return self
        return CallOptions(
            self.expansions,
            self.raise_job_errors,
            self.raise_action_errors,
            self.catch_transport_errors,
            self.timeout,
            self.fallback,
            self.idempotent,
            self.retry,
            **{**self.job_keywords, "correlation_id": new_correlation_id()},
        )

    def with_timeout(self, timeout: float) -> CallOptions:
        """These options with ``timeout`` (a deadline's time left) instead, the message expiry cut to it."""
        expiry = self.job_keywords.get("message_expiry_in_seconds")
        return CallOptions(
            self.expansions,
            self.raise_job_errors,
            self.raise_action_errors,
            self.catch_transport_errors,
            timeout,
            self.fallback,
            self.idempotent,
            self.retry,
            **{**self.job_keywords, "message_expiry_in_seconds": bounded_expiry(expiry, timeout)},
        )

    def wait_left(self, started: float) -> float | None:
        """What is left of this call's ``timeout`` (``None``: the transport's default) counted from ``started``
        (``time.monotonic()``).

        A reply may already be waiting when the time is up, so it is still looked for, briefly.
        """
        timeout = self.timeout
        if not timeout:
            return timeout
        return max(timeout - (time.monotonic() - started), SHORTEST_WAIT_SECONDS)

    def job_context(self, base_context: Mapping[str, Any]) -> Context:
        """The context header of this call's job (give it :meth:`with_correlation_id` first)."""
        keywords = self.job_keywords
        return make_context_header(
            base_context, keywords.get("switches"), keywords.get("correlation_id"), keywords.get("context")
        )


# The options of a call given no keyword argument (options are never changed once made).
_DEFAULT_OPTIONS = CallOptions()


def options_of(keywords: Mapping[str, Any]) -> CallOptions:
    """The options of a call made with ``keywords`` (see :class:`CallKeywords`).

    Raises:
        TypeError: A keyword that no call method takes.
    """
    return CallOptions(**keywords) if keywords else _DEFAULT_OPTIONS


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


def job_of(
    base_context: Mapping[str, Any],
    service_context: Mapping[str, Any] | None,
    actions: Any,
    switches: Iterable[Any] | None = None,
    correlation_id: str | None = None,
    continue_on_error: bool = False,
    context: Mapping[str, Any] | None = None,
    control_extra: Mapping[str, Any] | None = None,
    message_expiry_in_seconds: float | None = None,
    suppress_response: bool = False,
    *,
    as_message: bool = False,
) -> JobRequest | dict[str, Any]:
    """The job one call sends (both clients build it here, from arguments :func:`check_job_arguments` accepted).

    Args:
        base_context: The client's base context.
        service_context: Context keys every request to the service carries (its ``api_token``), or ``None``.
        actions: The job's actions.
        switches, correlation_id, continue_on_error, context, control_extra, message_expiry_in_seconds,
            suppress_response: The keywords of ``Client.send_request``.
        as_message: Build the job's wire form at once (:func:`~pysoa_like.common.types.job_message`) rather than
            a ``JobRequest``: for a handler that no middleware sees the job of. The headers are then copied in
            wire form only when they hold the caller's values (a base, service or call context,
            ``control_extra``, a ``continue_on_error`` that is not a bool): what this module puts in them
            itself (flags, a whole-second timeout, the correlation id, the switches as ints) already is.
    """
    callers_values = bool(
        base_context or service_context or context or control_extra or type(continue_on_error) is not bool
    )
    if service_context is not None:
        base_context = {**base_context, **service_context}
    control = make_control_header(continue_on_error, suppress_response, control_extra, message_expiry_in_seconds)
    context_header = make_context_header(base_context, switches, correlation_id, context)
    if as_message:
        return job_message(control, context_header, actions, copy_headers=callers_values)
    return JobRequest(control=control, context=context_header, actions=actions)
