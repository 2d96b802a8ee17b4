"""What one call asks for: :class:`CallOptions` and the checks of its arguments.

Every call method takes the same keyword arguments (:class:`CallKeywords`); they are read and checked once
into a :class:`CallOptions` value, which the call path (:mod:`pysoa_like.client.client`) passes around
instead of the keywords themselves. The keywords that shape the job are handed to ``Client.send_request``
as the caller gave them, so a ``send_request`` that a subclass or a test replaced sees what PySOA's did; the
service's handler builds the job from them (:func:`~pysoa_like.client._service_handler.job_of`).

The argument checks report a mistake at once, naming the argument, and nothing is sent when one fails
(before them, ``context="abc"`` surfaced as an ``AttributeError`` deep in the call, ``timeout=float("inf")``
as an ``OverflowError`` from the transport, a float switch was silently truncated):

* a wrong type raises ``TypeError`` naming the argument and what was expected;
* a value of the right type that cannot be used raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

from pysoa_like.client._service_handler import make_context_header, make_control_header, new_correlation_id
from pysoa_like.common._short_text import short_repr
from pysoa_like.common.types import Context
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
