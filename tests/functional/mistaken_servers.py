"""Server classes with one mistake each, for the tests of what ``serve`` says before it starts anything."""

from __future__ import annotations

from typing import Any, ClassVar

from pysoa_like.common import fields
from pysoa_like.server.action import Action
from pysoa_like.server.action.switched import SwitchedAction
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest
from tests.functional.service import FunctionalServer


class NamelessServer(Server):
    """Forgot ``service_name``."""

    action_class_map: ClassVar[dict[str, Any]] = dict(FunctionalServer.action_class_map)


class MismappedServer(Server):
    """Maps an action to something that cannot make an action (a module path string instead of the class)."""

    service_name = "mismapped"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": "tests.functional.service.EchoAction"}


class InstanceMappedServer(Server):
    """Maps an action to an instance of the action class instead of the class (``EchoAction()``)."""

    service_name = "instance_mapped"
    action_class_map: ClassVar[dict[str, Any]] = {"echo": FunctionalServer.action_class_map["echo"]()}


class _AddAction(Action):
    """Adds one to ``number``."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"number": request.body["number"] + 1}


class FieldClassSchemaServer(Server):
    """A request schema with a field class where its instance belongs (``fields.Integer``, not ``fields.Integer()``)."""

    service_name = "field_class_schema"
    action_class_map: ClassVar[dict[str, Any]] = {
        "add": type("AddAction", (_AddAction,), {"request_schema": fields.Dictionary({"number": fields.Integer})})
    }


class PlainTypeSchemaServer(Server):
    """A response schema with a plain type inside a list (``fields.List(int)``), in a switched action's entry."""

    service_name = "plain_type_schema"
    action_class_map: ClassVar[dict[str, Any]] = {
        "add": type(
            "SwitchedAdd",
            (SwitchedAction,),
            {
                "switch_to_action_map": (
                    (5, _AddAction),
                    (
                        SwitchedAction.DEFAULT_ACTION,
                        type(
                            "AddAction",
                            (_AddAction,),
                            {"response_schema": fields.Dictionary({"numbers": fields.List(int)})},
                        ),
                    ),
                )
            },
        )
    }


class DictSchemaServer(Server):
    """A plain dict as the whole request schema (``{"number": fields.Integer()}``, not wrapped in a Dictionary)."""

    service_name = "dict_schema"
    action_class_map: ClassVar[dict[str, Any]] = {
        "add": type("AddAction", (_AddAction,), {"request_schema": {"number": fields.Integer()}})
    }
