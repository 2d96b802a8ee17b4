"""Server classes with one mistake each, for the tests of what ``serve`` says before it starts anything."""

from __future__ import annotations

from typing import Any, ClassVar

from pysoa_like.server.server import Server
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
