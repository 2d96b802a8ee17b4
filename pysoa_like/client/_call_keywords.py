"""The arguments of the client's call methods: their types, the keywords that shape a job, and their checks.

Every call method takes the same keyword arguments (:class:`CallKeywords`); ``client.py`` reads and checks them
once into a ``CallOptions`` value, which the call path passes around instead of the keywords themselves. The
keywords that shape the job (:data:`JOB_KEYWORDS`) are handed to ``Client.send_request`` as the caller gave them,
so a ``send_request`` that a subclass or a test replaced sees what PySOA's did; the service's handler builds the job
from them (``job_of``). A mistake is reported at once, naming the argument, and nothing is sent: a wrong type raises
``TypeError``, a value of the right type that cannot be used ``ValueError`` (before, ``context="abc"`` surfaced as an
``AttributeError`` deep in the call, ``timeout=float("inf")`` as an ``OverflowError`` from the transport, and a float
switch was silently truncated).

The check of a number of seconds (``check_seconds``) is ``client.py``'s: a call with a ``timeout`` runs it on its way.

PySOA 1.4.9 also took every option by position, in an order of its own per method (``call_action``'s is ``expansions,
raise_job_errors, raise_action_errors, timeout, switches, correlation_id, context, control_extra``). The call methods
take such options as ``*positional`` and only then, never on a call without them, name them here
(:func:`options_by_position`, after :data:`PYSOA_POSITIONAL_OPTIONS`), refusing too many and an option given twice as
Python refused them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypedDict, cast

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.types import ActionRequest
from pysoa_like.core.switches import get_switch

__all__ = [
    "JOB_KEYWORDS",
    "PYSOA_POSITIONAL_OPTIONS",
    "ActionRequestArgument",
    "ActionRequestArgumentIterable",
    "ActionRequestArgumentList",
    "CallKeywords",
    "JobRequestArgument",
    "check_expansions",
    "check_job_arguments",
    "check_mapping",
    "options_by_position",
    "switch_list",
]

#: An action to call: an :class:`ActionRequest` or a dict ``{"action": ..., "body": {...}}``.
ActionRequestArgument = ActionRequest | dict[str, Any]
ActionRequestArgumentList = list[ActionRequestArgument]
ActionRequestArgumentIterable = Iterable[ActionRequestArgument]
#: One job of :meth:`Client.call_jobs_parallel`: ``{"service_name": str, "actions": [...]}``.
JobRequestArgument = dict[str, Any]


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


#: The keywords of ``Client.send_request`` (the ones that shape the job).
JOB_KEYWORDS = frozenset(
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


# PySOA 1.4.9's options of each kind of call method, in its order (they came right after ``body`` or ``actions``).
# (Every order starts with the first three and ends with the last two.)
_FIRST = ("expansions", "raise_job_errors", "raise_action_errors")
_LAST = ("context", "control_extra")
_ACTION_ORDER = (*_FIRST, "timeout", "switches", "correlation_id", *_LAST)
_ACTIONS_ORDER = (*_FIRST, "timeout", "switches", "correlation_id", "continue_on_error", *_LAST)
_PARALLEL_ACTIONS_ORDER = (*_FIRST, "catch_transport_errors", "timeout", "switches", "correlation_id", *_LAST)
_JOBS_ORDER = (*_FIRST, "catch_transport_errors", "timeout", "switches", "correlation_id", "continue_on_error", *_LAST)

#: Per call method: how many positional parameters it declares (``self`` and ``body`` included), how many of them have
#: no default, and the names of the options PySOA 1.4.9 took by position after them, in order. A future has the order
#: of its blocking twin (``send_request`` declares all of PySOA's parameters itself).
PYSOA_POSITIONAL_OPTIONS: Final[dict[str, tuple[int, int, tuple[str, ...]]]] = {
    "call_action": (4, 3, _ACTION_ORDER),
    "call_action_future": (4, 3, _ACTION_ORDER),
    "call_actions": (3, 3, _ACTIONS_ORDER),
    "call_actions_future": (3, 3, _ACTIONS_ORDER),
    "call_actions_parallel": (3, 3, _PARALLEL_ACTIONS_ORDER),
    "call_actions_parallel_future": (3, 3, _PARALLEL_ACTIONS_ORDER),
    "call_jobs_parallel": (2, 2, _JOBS_ORDER),
    "call_jobs_parallel_future": (2, 2, _JOBS_ORDER),
}


def options_by_position(qualified_name: str, positional: tuple[Any, ...], options: Mapping[str, Any]) -> CallKeywords:
    """The options of a call given some of them by position, named in PySOA 1.4.9's order for its method.

    Called only when ``positional`` is not empty.

    Args:
        qualified_name: The method, as Python names it in its errors (``"Client.call_action"``).
        positional: The arguments given by position past the method's own (``body`` or ``actions``).
        options: The options given by keyword.

    Returns:
        A new dict of every option (``options`` is not changed).

    Raises:
        TypeError: More arguments by position than PySOA's method had, or an option given both by position and by
            keyword (with the message Python gave for PySOA's signature).
    """
    declared, required, names = PYSOA_POSITIONAL_OPTIONS[qualified_name.rpartition(".")[2]]
    if len(positional) > len(names):
        raise TypeError(
            f"{qualified_name}() takes from {required} to {declared + len(names)} positional arguments but "
            f"{declared + len(positional)} were given"
        )
    merged = dict(options)
    for name, value in zip(names, positional, strict=False):
        if name in merged:
            raise TypeError(f"{qualified_name}() got multiple values for argument '{name}'")
        merged[name] = value
    return cast(CallKeywords, merged)


def check_mapping(value: Any, name: str) -> None:
    """Check a mapping argument (None allowed).

    Raises:
        TypeError: ``value`` is not a mapping.
    """
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping (a dict) or None, got {short_repr(value)}")


def check_expansions(expansions: Any) -> None:
    """Check an ``expansions`` argument given to a call: ``{type name: [expansion name, ...]}``.

    Raises:
        TypeError: ``expansions`` is not a mapping, or one of its values is not a list, tuple or set of strings (a
            string was read one letter per expansion name).
    """
    check_mapping(expansions, "expansions")
    for type_name, names in expansions.items():
        if type(names) is not list and (isinstance(names, str | bytes | Mapping) or not isinstance(names, Iterable)):
            raise TypeError(f"expansions[{type_name!r}] must be a list of expansion names, got {short_repr(names)}")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"expansions[{type_name!r}]: {short_repr(name)} is not an expansion name (a string)")


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


def check_job_arguments(switches: Any, correlation_id: Any, context: Any, control_extra: Any) -> None:
    """Check the arguments that shape a job's headers (those of ``Client.send_request`` but the actions, the flags
    and the expiry, which its callers check with ``check_seconds`` right after).

    Raises:
        TypeError: An argument has the wrong type (the message names it).
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
