"""The message model: jobs, actions and their responses.

A *job* is one request message holding one or more *actions*. These attrs classes are what clients
build and servers return; on the wire they travel as plain dicts (see :func:`job_request_to_dict`
and :func:`job_response_to_dict`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import attr

from pysoa_like.common._short_text import short_repr
from pysoa_like.common.errors import Error
from pysoa_like.common.serializer.errors import InvalidField

__all__ = [
    "ActionRequest",
    "ActionResponse",
    "Body",
    "Context",
    "Control",
    "JobRequest",
    "JobResponse",
    "UnicodeKeysDict",
    "error_from_dict",
    "job_message",
    "job_request_to_dict",
    "job_response_from_dict",
    "job_response_to_dict",
]

Body = dict[str, Any]
Context = dict[str, Any]
Control = dict[str, Any]

_ERROR_FIELD_NAMES = frozenset(a.name for a in attr.fields(Error))

# Builds an attrs object without running its __init__, for wire dicts this module has fully converted
# itself (the converters would only walk the lists a second time).
_new_instance = object.__new__


class UnicodeKeysDict(dict):  # type: ignore[type-arg]
    """A dict that turns its keys into text (PySOA's; kept for compatibility with code written against its
    ``attr.asdict`` calls, unused by pysoa_like itself)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, bytes):
            key = key.decode("utf-8")
        super().__setitem__(key, value)


def error_from_dict(value: Error | Mapping[str, Any]) -> Error:
    """Build an :class:`Error` from a wire dict, ignoring keys this version does not know.

    PySOA clients raise ``TypeError`` on unknown keys; tolerating them keeps newer servers readable.
    """
    if isinstance(value, Error):
        return value
    return Error(**{k: v for k, v in value.items() if k in _ERROR_FIELD_NAMES})


def _convert_errors(values: Iterable[Error | Mapping[str, Any]]) -> list[Error]:
    if type(values) is list and not values:
        return []  # the usual case; skips the comprehension
    return [error_from_dict(v) for v in values]


def _convert_action_requests(values: Iterable[ActionRequest | Mapping[str, Any]]) -> list[ActionRequest]:
    # A loop rather than a comprehension: a job holds one or a few actions, and the comprehension's own frame
    # cost more than the loop.
    if type(values) is not list and isinstance(values, _NOT_ACTION_LISTS):
        raise _not_a_list(values)
    requests = []
    for index, value in enumerate(values):
        if isinstance(value, ActionRequest):
            requests.append(value)
            continue
        try:
            requests.append(ActionRequest(**value))
        except TypeError:
            raise _action_problem(value, index) from None
    return requests


_ACTION_KEYS = ("action", "body")
# What a job's actions must not be given as (its keys or letters would be taken for actions).
_NOT_ACTION_LISTS = (Mapping, str)


def _not_a_list(actions: Any) -> TypeError:
    """The error for actions given as a mapping or a string, whose keys or letters would be taken for actions."""
    return TypeError(
        f"actions must be a list of actions (ActionRequest objects or dicts with 'action' and 'body'), got "
        f"{type(actions).__name__} {short_repr(actions)}; a single action goes in a list: [{{...}}]"
    )


def _action_problem(value: Any, index: int) -> TypeError:
    """The error for a job's action ``value`` that ``ActionRequest(**value)`` refused: which one, and why."""
    if not isinstance(value, Mapping):
        problem = f"expected an ActionRequest or a dict with 'action' and 'body', got {short_repr(value)}"
    else:
        unknown = [str(key) for key in value if key not in _ACTION_KEYS]
        if unknown:
            close = difflib.get_close_matches(unknown[0], _ACTION_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problem = f"unknown key(s) {', '.join(map(repr, unknown))} (an action takes 'action' and 'body'){hint}"
        else:
            problem = "missing the key 'action' (the action's name)"
    return TypeError(f"actions[{index}]: {problem}")


def _action_response_from(value: ActionResponse | Mapping[str, Any]) -> ActionResponse:
    if type(value) is not dict and isinstance(value, ActionResponse):
        return value
    # Every field is converted here, so the attrs __init__ (and its converters) is skipped.
    response: ActionResponse = _new_instance(ActionResponse)
    response.action = value["action"]
    errors = value.get("errors")
    response.errors = [error_from_dict(e) for e in errors] if errors else []
    body = value.get("body")
    response.body = {} if body is None else body
    return response


def _convert_action_responses(values: Iterable[ActionResponse | Mapping[str, Any]]) -> list[ActionResponse]:
    if type(values) is list and not values:
        return []  # the usual case (a response being built); skips the comprehension
    return [v if type(v) is ActionResponse else _action_response_from(v) for v in values]


@attr.s(slots=True)
class ActionRequest:
    """One action of a job: its name and its input body.

    Args:
        action: The name of the action to call.
        body: The action's input.
    """

    action: str = attr.ib()
    body: Body = attr.ib(factory=dict)


@attr.s(slots=True)
class JobRequest:
    """A job: control and context headers plus an ordered list of actions.

    Args:
        control: Control header (``continue_on_error``, ``suppress_response``, ``timeout``, extras).
        context: Context header (``correlation_id``, ``switches``, ``caller`` and free-form keys).
        actions: The actions to run, as :class:`ActionRequest` objects or dicts.
    """

    control: Control = attr.ib(factory=dict)
    context: Context = attr.ib(factory=dict)
    actions: list[ActionRequest] = attr.ib(factory=list, converter=_convert_action_requests)


@attr.s(slots=True)
class ActionResponse:
    """The result of one action.

    Args:
        action: The name of the action that ran.
        errors: The errors it produced (dicts are converted to :class:`Error`).
        body: Its output.
    """

    action: str = attr.ib()
    errors: list[Error] = attr.ib(factory=list, converter=_convert_errors)
    body: Body = attr.ib(factory=dict)
    #: Whether a client-side fallback made this response instead of the service (see ``client.fallbacks``).
    from_fallback = False


@attr.s(slots=True)
class JobResponse:
    """The result of a job: job-level errors, the response context and one response per action run.

    Args:
        errors: Job-level errors (dicts are converted to :class:`Error`).
        context: The response context (the server copies ``correlation_id`` into it).
        actions: The action responses, in order (dicts are converted to :class:`ActionResponse`).
    """

    errors: list[Error] = attr.ib(factory=list, converter=_convert_errors)
    context: Context = attr.ib(factory=dict)
    actions: list[ActionResponse] = attr.ib(factory=list, converter=_convert_action_responses)
    #: Whether a client-side fallback made this response instead of the service (see ``client.fallbacks``).
    from_fallback = False


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), bytes})


def _plain(value: Any) -> Any:
    """A copy of ``value`` in wire form: tuples and sets become lists, attrs objects become dicts.

    This is what ``attr.asdict`` does to nested values, without its generic per-field machinery
    (it runs on every message, so it matters).
    """
    value_type = type(value)
    if value_type in _SCALAR_TYPES:
        return value
    # Scalars are tested inline: most values are leaves, and a call per leaf was most of the cost.
    # Loops rather than comprehensions: most containers are small, and a comprehension's own frame cost more.
    if value_type is dict:
        wire_dict = {}
        for k, v in value.items():
            wire_dict[k] = v if type(v) in _SCALAR_TYPES else _plain(v)
        return wire_dict
    if value_type is list or value_type is tuple or value_type is set or value_type is frozenset:
        wire_list = []
        for v in value:
            wire_list.append(v if type(v) in _SCALAR_TYPES else _plain(v))
        return wire_list
    if attr.has(value_type):
        return {a.name: _plain(getattr(value, a.name)) for a in attr.fields(value_type)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def job_request_to_dict(job: JobRequest) -> dict[str, Any]:
    """The wire form of a job request.

    Like PySOA (which uses ``attr.asdict``), tuples and sets anywhere in bodies become lists and
    attrs objects inside bodies become dicts. The result shares nothing mutable with ``job``.

    Raises:
        InvalidField: A value contains itself (a cycle) or nests too deeply to be sent; the message names
            the path (it was a bare ``RecursionError``).
    """
    return job_message(job.control, job.context, job.actions)


def job_message(
    control: Control,
    context: Context,
    actions: Iterable[ActionRequest | Mapping[str, Any]],
    copy_headers: bool = True,
) -> dict[str, Any]:
    """The wire form of a job given by its parts: what :func:`job_request_to_dict` makes of
    ``JobRequest(control, context, actions)``, without building the objects.

    Args:
        control: The control header.
        context: The context header.
        actions: The actions, :class:`ActionRequest` objects or dicts (as ``JobRequest`` takes them).
        copy_headers: ``False`` when both headers are dicts made for this job holding wire values only (the
            client's own flags, correlation id and switches): they are then sent as they are.

    Raises:
        TypeError: A dict action has keys ``ActionRequest`` does not take.
        InvalidField: A value contains itself (a cycle) or nests too deeply to be sent; the message names
            the path.
    """
    if copy_headers:
        try:
            control, context = _plain(control), _plain(context)
        except RecursionError:
            raise InvalidField(_nesting_problem([("control", control), ("context", context)])) from None
    return {"control": control, "context": context, "actions": _action_dicts(actions)}


def _action_dicts(actions: Iterable[ActionRequest | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The wire form of a job's actions (a dict action is read as ``ActionRequest(**action)``)."""
    if type(actions) is not list and isinstance(actions, _NOT_ACTION_LISTS):
        raise _not_a_list(actions)
    wire = []
    for index, action in enumerate(actions):
        if not isinstance(action, ActionRequest):
            try:
                action = ActionRequest(**action)
            except TypeError:
                raise _action_problem(action, index) from None
        body = action.body
        try:
            wire_body = _plain(body)
        except RecursionError:
            raise InvalidField(_nesting_problem([(f"actions.{index}.body", body)])) from None
        if type(wire_body) is not dict and not isinstance(wire_body, Mapping):
            # Every server refuses it ("Not a dict", without saying which action): said here, before the send. (An
            # attrs object is a dict once in wire form, as PySOA's attr.asdict made it.)
            raise TypeError(f"actions[{index}].body must be a dict, got {type(body).__name__} {short_repr(body)}")
        wire.append({"action": action.action, "body": wire_body})
    return wire


# Past this depth a value is reported as nesting too deeply (a receiver refuses more than 100 levels anyway).
_REPORTED_DEPTH = 200


def _nesting_problem(roots: Iterable[tuple[str, Any]]) -> str:
    """Where a value contains itself or nests too deeply: ``path: what``, found without recursion."""
    for root_path, root in roots:
        # (value, path, ids of the containers on the way to it)
        stack: list[tuple[Any, str, frozenset[int]]] = [(root, root_path, frozenset())]
        while stack:
            value, path, above = stack.pop()
            if id(value) in above:
                return f"{path}: the value contains itself (a cycle), so it cannot be sent"
            if len(above) >= _REPORTED_DEPTH:
                segments = path.split(".")
                shown = ".".join(segments[:6]) + " ... " + ".".join(segments[-6:])
                return f"{shown}: the value nests more than {_REPORTED_DEPTH} levels deep, so it cannot be sent"
            if isinstance(value, Mapping):
                children: Iterable[tuple[Any, Any]] = value.items()
            elif isinstance(value, list | tuple | set | frozenset):
                children = enumerate(value)
            elif attr.has(type(value)):
                children = ((a.name, getattr(value, a.name)) for a in attr.fields(type(value)))
            else:
                continue
            inner = above | {id(value)}
            for key, child in children:
                stack.append((child, f"{path}.{key}", inner))
    return "a value nests too deeply to be sent"


def job_response_from_dict(value: JobResponse | Mapping[str, Any]) -> JobResponse:
    """Build a :class:`JobResponse` from a wire dict, ignoring keys this version does not know."""
    if type(value) is not dict and isinstance(value, JobResponse):
        return value
    response: JobResponse = _new_instance(JobResponse)
    errors = value.get("errors")
    response.errors = [error_from_dict(e) for e in errors] if errors else []
    response.context = value.get("context") or {}
    actions = value.get("actions")
    response.actions = list(map(_action_response_from, actions)) if actions else []
    return response


def _error_to_dict(error: Error, with_caller_flag: bool) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "field": error.field,
        "traceback": error.traceback,
        "variables": _plain(error.variables),
        "denied_permissions": _plain(error.denied_permissions),
    }
    if with_caller_flag:
        wire["is_caller_error"] = error.is_caller_error
    return wire


# The client version from which Error.is_caller_error is sent (PROTOCOL.md section 8).
_CALLER_ERROR_SINCE: tuple[int, ...] = attr.fields(Error).is_caller_error.metadata["added_in_version"]


def job_response_to_dict(response: JobResponse, client_version: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The wire form of a job response, with PySOA's key order.

    Args:
        response: The response to convert.
        client_version: The requesting client's version. Fields added after it (today only
            ``Error.is_caller_error``, added in 0.70.0) are left out. ``None`` keeps every field.
    """
    flag = client_version is None or client_version >= _CALLER_ERROR_SINCE
    # Built field by field, with a loop over the actions and no comprehension for an empty error list (the
    # usual case): one _plain call per header or body is then all the conversion a plain response costs.
    actions = []
    for a in response.actions:
        actions.append(
            {
                "action": a.action,
                "errors": [_error_to_dict(e, flag) for e in a.errors] if a.errors else [],
                "body": _plain(a.body),
            }
        )
    return {
        "errors": [_error_to_dict(e, flag) for e in response.errors] if response.errors else [],
        "context": _plain(response.context),
        "actions": actions,
    }
