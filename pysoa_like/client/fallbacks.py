"""Fallbacks: what a call returns instead of failing when its service is down, refusing calls or broken.

A fallback is given per call (``fallback=``) or per service and action in the client settings
(``"fallbacks": {"action": ..., "*": ...}``). It is a value, or a callable receiving the error and
returning one: a dict (the body of each action's response), an
:class:`~pysoa_like.common.types.ActionResponse` or a :class:`~pysoa_like.common.types.JobResponse`.
It is used when the call times out, is refused by an open circuit breaker or a full bulkhead, fails in
the transport, or gets an error that is not the caller's; for caller errors (validation) too only when
wrapped as ``Fallback(value, caller_errors=True)``.

The call then returns a :class:`FallbackJobResponse` (``call_actions``) or a :class:`FallbackActionResponse`
(``call_action``): their ``from_fallback`` is true (it is false on every response from a service) and
``fallback_error`` holds the error the fallback replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr

from pysoa_like.common.types import ActionResponse, JobResponse

__all__ = [
    "Fallback",
    "FallbackActionResponse",
    "FallbackJobResponse",
    "fallback_response",
    "has_fallback",
    "takes_caller_errors",
]


@attr.s(frozen=True, slots=True)
class Fallback:
    """A fallback with options: ``Fallback(value, caller_errors=True)`` also replaces caller errors.

    Args:
        value: The fallback itself (a value or a callable receiving the error, as a plain fallback).
        caller_errors: Also use it when the service refuses the call as the caller's mistake (validation
            errors, ``is_caller_error`` true); plain fallbacks never are.
    """

    value: Any = attr.ib()
    caller_errors: bool = attr.ib(default=False)


@attr.s(slots=True)
class FallbackActionResponse(ActionResponse):
    """An action response made by a fallback, not by the service.

    Args:
        action: The action called.
        errors: Errors the fallback gave (usually none).
        body: The fallback's body.
        fallback_error: The error the fallback replaced.
    """

    fallback_error: BaseException | None = attr.ib(default=None, eq=False, repr=False)
    from_fallback = True


@attr.s(slots=True)
class FallbackJobResponse(JobResponse):
    """A job response made by a fallback, not by the service (its actions are :class:`FallbackActionResponse`).

    Args:
        errors: Job errors the fallback gave (usually none).
        context: The response context (empty unless the fallback gave one).
        actions: The action responses.
        fallback_error: The error the fallback replaced.
    """

    fallback_error: BaseException | None = attr.ib(default=None, eq=False, repr=False)
    from_fallback = True


def has_fallback(fallbacks: Mapping[str, Any], action_names: list[str]) -> bool:
    """Whether the ``fallbacks`` setting covers every one of a job's actions (by name, else ``"*"``)."""
    return bool(fallbacks) and all(name in fallbacks or "*" in fallbacks for name in action_names)


def takes_caller_errors(fallback: Any, fallbacks: Mapping[str, Any], action_names: list[str]) -> bool:
    """Whether a call's fallback (else the ``fallbacks`` setting, for every action) also replaces caller errors."""
    if fallback is not None:
        return isinstance(fallback, Fallback) and fallback.caller_errors
    if not has_fallback(fallbacks, action_names):
        return False
    chosen = [fallbacks[name] if name in fallbacks else fallbacks["*"] for name in action_names]
    return all(isinstance(item, Fallback) and item.caller_errors for item in chosen)


def fallback_response(
    fallback: Any, fallbacks: Mapping[str, Any], action_names: list[str], error: BaseException
) -> FallbackJobResponse:
    """The job response a fallback gives for a call of ``action_names`` that failed with ``error``.

    Args:
        fallback: The call's ``fallback`` (``None``: use ``fallbacks``).
        fallbacks: The ``fallbacks`` setting of the service: action name (or ``"*"``) -> fallback.
        action_names: The job's actions.
        error: The error the fallback replaces (a callable fallback receives it).

    Raises:
        TypeError: A fallback gave something else than a dict, an ActionResponse or a JobResponse.
    """
    if fallback is not None:
        return _as_job(_value(fallback, error), action_names, error)
    actions = []
    for name in action_names:
        value = _value(fallbacks[name] if name in fallbacks else fallbacks["*"], error)
        actions.extend(_as_job(value, [name], error).actions)
    return FallbackJobResponse(actions=actions, fallback_error=error)


def _value(fallback: Any, error: BaseException) -> Any:
    if isinstance(fallback, Fallback):
        fallback = fallback.value
    return fallback(error) if callable(fallback) else fallback


def _as_action(response: ActionResponse, error: BaseException) -> FallbackActionResponse:
    return FallbackActionResponse(
        action=response.action, errors=list(response.errors), body=response.body, fallback_error=error
    )


def _as_job(value: Any, action_names: list[str], error: BaseException) -> FallbackJobResponse:
    if isinstance(value, JobResponse):
        actions = [_as_action(action, error) for action in value.actions]
        return FallbackJobResponse(
            errors=list(value.errors), context=dict(value.context), actions=actions, fallback_error=error
        )
    if isinstance(value, ActionResponse):
        return FallbackJobResponse(actions=[_as_action(value, error)], fallback_error=error)
    if isinstance(value, Mapping):
        actions = [FallbackActionResponse(action=name, body=dict(value), fallback_error=error) for name in action_names]
        return FallbackJobResponse(actions=actions, fallback_error=error)
    raise TypeError(
        f"A fallback must be (or return) a dict body, an ActionResponse or a JobResponse, got {type(value).__name__}"
    )
