"""Importable plug-in classes for the settings tests."""

from __future__ import annotations

from typing import Any

from pysoa_like.common import fields
from pysoa_like.common.transport.base import ClientTransport, ReceivedMessage, ServerTransport


@fields.ClassConfigurationSchema.provider(
    fields.Dictionary(
        {
            "backend_type": fields.Constant("redis.standard", "redis.sentinel"),
            "hosts": fields.List(fields.UnicodeString()),
        },
        optional_keys=("hosts",),
    )
)
class FakeServerTransport(ServerTransport):
    """A server transport declaring a kwargs schema."""

    def receive_request_message(self) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)

    def send_response_message(self, request_id: Any, meta: dict[str, Any], body: dict[str, Any]) -> None:
        pass


class FakeClientTransport(ClientTransport):
    """A client transport without a kwargs schema."""

    def send_request_message(
        self,
        request_id: int,
        meta: dict[str, Any],
        body: dict[str, Any],
        message_expiry_in_seconds: float | None = None,
    ) -> None:
        pass

    def receive_response_message(self, receive_timeout_in_seconds: float | None = None) -> ReceivedMessage:
        return ReceivedMessage(None, None, None)
