"""The built-in ``introspect`` action: documentation and schemas of every action of a server."""

from __future__ import annotations

import functools
import re
from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.constants import ERROR_CODE_INVALID
from pysoa_like.common.errors import Error
from pysoa_like.common.schema import introspect_schema
from pysoa_like.common.types import Body
from pysoa_like.server._fleet_server import deprecation_message
from pysoa_like.server.action.base import Action
from pysoa_like.server.action.status import BaseStatusAction
from pysoa_like.server.action.switched import SwitchedAction
from pysoa_like.server.errors import ActionError
from pysoa_like.server.internal.types import get_switch
from pysoa_like.server.types import EnrichedActionRequest

__all__ = ["IntrospectionAction"]

_BUILTIN_NAMES = ("introspect", "status")
_SWITCHED_NAME = re.compile(r"^(?P<action>.+)\[(?:switch:(?P<switch>-?\d+)|(?P<default>DEFAULT))\]$")


def _documentation(obj: Any) -> str | None:
    return getattr(obj, "description", None) or obj.__doc__ or None


def _is_switched(action_class: Any) -> bool:
    return isinstance(action_class, type) and issubclass(action_class, SwitchedAction)


def _switched_entry(action_class: Any, switch: int | None, entries: list[tuple[str, Any]], requested: str) -> Any:
    """The entry class for ``name[DEFAULT]`` (by name) or ``name[switch:N]`` (by switch value, the last entry too)."""
    if switch is None:
        return next((entry_class for entry_name, entry_class in entries if entry_name == requested), None)
    for entry_switch, entry_class in action_class.switch_to_action_map:
        if entry_switch is not SwitchedAction.DEFAULT_ACTION and get_switch(entry_switch) == switch:
            return entry_class
    return None


@functools.cache
def _response_schema(deprecations: bool, private: bool = False) -> fields.Dictionary:
    """The response schema; an action's description may also say it is deprecated, or private.

    Services without deprecated or private actions keep PySOA's exact schema (the interop tests compare it).
    """
    deprecated: dict[str, Any] = (
        {"deprecated": fields.UnicodeString(description="Why the action is deprecated and what to use instead.")}
        if deprecations
        else {}
    )
    if private:
        deprecated["private"] = fields.Boolean(
            description="Whether callers need an API token (in the request context, api_token) to call it."
        )
        deprecated["required_scopes"] = fields.List(
            fields.UnicodeString(), description="The scopes the caller's API token must grant."
        )
    return fields.Dictionary(
        {
            "documentation": fields.Nullable(
                fields.UnicodeString(description="The service documentation (left out when `action_name` is given).")
            ),
            "action_names": fields.List(
                fields.UnicodeString(description="An action name."),
                description="The names of the actions in `actions`, sorted.",
            ),
            "actions": fields.SchemalessDictionary(
                key_type=fields.UnicodeString(description="The action name."),
                value_type=fields.Dictionary(
                    {
                        **deprecated,
                        "documentation": fields.Nullable(fields.UnicodeString(description="The action documentation.")),
                        "request_schema": fields.Nullable(
                            fields.Anything(description="The request schema, in Conformity's introspection format.")
                        ),
                        "response_schema": fields.Nullable(
                            fields.Anything(description="The response schema, in Conformity's introspection format.")
                        ),
                    },
                    optional_keys=tuple(deprecated),
                    description="The description of one action.",
                ),
                description="Each action's description (only the one named by `action_name`, when given).",
            ),
        },
        optional_keys=("documentation",),
    )


class IntrospectionAction(Action):
    """Describes the server's actions: documentation plus request and response schemas.

    Documentation is the ``description`` attribute, else the docstring, of the server class and of
    each action class. Schemas are given in Conformity's introspection format. Switched actions are
    listed once per entry, as ``name[switch:N]`` and ``name[DEFAULT]``.

    Args:
        server: The server to describe (unlike other actions, not its settings).
    """

    #: Describing actions has no effect: safe to run again for a redelivered request.
    idempotent = True
    description = (
        "Returns the documentation of this service and the documentation and request and response schemas of "
        "its actions, or of the single action named by `action_name`. A switched action (a `SwitchedAction`, "
        "whose code is chosen by the request's switches) is described once per entry, under its name followed "
        "by `[switch:N]` (N being the switch) or `[DEFAULT]`."
    )

    request_schema = fields.Dictionary(
        {
            "action_name": fields.UnicodeString(
                min_length=1,
                allow_blank=False,
                description="Describe only this action (an error is returned if it does not exist).",
            )
        },
        optional_keys=("action_name",),
    )

    response_schema = _response_schema(False)

    def __init__(self, server: Any) -> None:
        if not hasattr(server, "action_class_map") or not hasattr(server, "settings"):
            raise TypeError("IntrospectionAction needs a Server instance as its first argument")
        super().__init__(server.settings)
        self.server = server
        self._auth = [m for m in getattr(server, "middleware", None) or () if hasattr(m, "requirement")]
        deprecations = any(deprecation_message(action_class) for action_class in server.action_class_map.values())
        private = any(self._requirement(name) is not None for name in (*server.action_class_map, *_BUILTIN_NAMES))
        if deprecations or private:
            self.response_schema = _response_schema(deprecations, private)  # type: ignore[misc]  # this server's

    def _requirement(self, name: str) -> tuple[str, ...] | None:
        """The scopes a token needs to call ``name`` (``None``: public, or no API token middleware checks it)."""
        for middleware in self._auth:
            requirement: tuple[str, ...] | None = middleware.requirement(self.server, name)
            if requirement is not None:
                return requirement
        return None

    def run(self, request: EnrichedActionRequest) -> Body:
        """Describe one action (``action_name``) or all of them."""
        action_name = request.body.get("action_name")
        if action_name:
            return self._describe_one(action_name)
        return self._describe_all()

    def _builtin_class(self, name: str) -> Any:
        return type(self) if name == "introspect" else BaseStatusAction

    def _describe_one(self, requested: str) -> Body:
        action_map = self.server.action_class_map
        name, switch, wants_default = requested, None, False
        match = _SWITCHED_NAME.match(requested)
        if match and requested not in action_map:
            name = match.group("action")
            wants_default = match.group("default") is not None
            switch = None if wants_default else int(match.group("switch"))
        if name not in action_map and name not in ("status", "introspect"):
            raise ActionError(
                [Error(code=ERROR_CODE_INVALID, message="Action not defined in service", field="action_name")]
            )
        action_class = action_map[name] if name in action_map else self._builtin_class(name)
        if _is_switched(action_class):
            entries = list(action_class.iterate_switched_actions(name))
            if switch is None and not wants_default:
                return {
                    "action_names": sorted(n for n, _ in entries),
                    "actions": {n: self._describe_class(c, name) for n, c in entries},
                }
            chosen = _switched_entry(action_class, switch, entries, requested)
            if chosen is None:
                raise ActionError(
                    [Error(code=ERROR_CODE_INVALID, message="Action not defined in service", field="action_name")]
                )
            action_class = chosen
        return {"action_names": [requested], "actions": {requested: self._describe_class(action_class, name)}}

    def _describe_all(self) -> Body:
        action_map = self.server.action_class_map
        actions: dict[str, Any] = {}
        for builtin in _BUILTIN_NAMES:
            if builtin not in action_map:
                actions[builtin] = self._describe_class(self._builtin_class(builtin), builtin)
        for name, action_class in action_map.items():
            if _is_switched(action_class):
                for entry_name, entry_class in action_class.iterate_switched_actions(name):
                    actions[entry_name] = self._describe_class(entry_class, name)
            else:
                actions[name] = self._describe_class(action_class, name)
        return {
            "actions": actions,
            "action_names": sorted(actions),
            "documentation": _documentation(type(self.server)),
        }

    def _describe_class(self, action_class: Any, served_as: str) -> dict[str, Any]:
        response_schema: Any
        if action_class is type(self):
            # Describe the schema this instance answers with (PySOA's, unless actions are deprecated).
            response_schema = self.response_schema
        else:
            response_schema = getattr(action_class, "response_schema", None)
        description: dict[str, Any] = {
            "documentation": _documentation(action_class),
            "request_schema": introspect_schema(getattr(action_class, "request_schema", None)),
            "response_schema": introspect_schema(response_schema),
        }
        deprecated = deprecation_message(action_class)
        if deprecated is not None:
            description["deprecated"] = deprecated
            description["documentation"] = f"DEPRECATED: {deprecated}" + (
                f"\n\n{description['documentation']}" if description["documentation"] else ""
            )
        requirement = self._requirement(served_as)
        if requirement is not None:
            description["private"] = True
            description["required_scopes"] = list(requirement)
        return description
