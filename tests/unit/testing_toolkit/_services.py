"""A small service the toolkit tests run against."""

from __future__ import annotations

import asyncio
from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.errors import Error
from pysoa_like.server.action import Action
from pysoa_like.server.errors import ActionError
from pysoa_like.server.server import Server
from pysoa_like.server.types import EnrichedActionRequest

#: Names of the actions that really ran, in order (cleared by the tests that read it).
RAN: list[str] = []


class EchoAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        RAN.append(request.action)
        return dict(request.body)


class FailAction(Action):
    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        RAN.append(request.action)
        raise ActionError([Error(code="BROKEN", message="It broke"), Error(code="BAD", message="Bad", field="name")])


class ValidatedAction(Action):
    request_schema = fields.Dictionary({"name": fields.UnicodeString(), "age": fields.Integer(gte=0)})

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"ok": True}


class AsyncDoubleAction(Action):
    async def _double(self, value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        assert request.run_coroutine is not None
        return {"value": request.run_coroutine(self._double(request.body["value"])).result(timeout=5)}


class CallOtherAction(Action):
    """Calls other.thing through request.client and returns its body."""

    def run(self, request: EnrichedActionRequest) -> dict[str, Any]:
        return {"other": request.client.call_action("other", "thing", {"from": "echo"}).body}


class EchoServer(Server):
    service_name = "echo"
    action_class_map = {
        "echo": EchoAction,
        "echo2": EchoAction,
        "fail": FailAction,
        "validated": ValidatedAction,
        "async_double": AsyncDoubleAction,
        "call_other": CallOtherAction,
    }


SETTINGS: dict[str, Any] = {}
SOA_SERVER_SETTINGS: dict[str, Any] = {}
