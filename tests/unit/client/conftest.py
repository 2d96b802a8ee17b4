"""Fixtures for client tests: clients wired to the in-test fake transports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pysoa_like.client.client import Client
from tests.unit.client.fakes import FakeClientTransport, transport_config

MakeClient = Callable[..., Client]


@pytest.fixture
def make_client() -> MakeClient:
    """Build a Client whose services use FakeClientTransport; keyword ``services`` maps names to transport kwargs."""

    def make(
        services: dict[str, dict[str, Any]] | None = None,
        middleware: list[dict[str, Any]] | None = None,
        transport_class: type = FakeClientTransport,
        **client_kwargs: Any,
    ) -> Client:
        services = services if services is not None else {"echo": {}}
        config = {
            name: {"transport": transport_config(transport_class, **kwargs), "middleware": middleware or []}
            for name, kwargs in services.items()
        }
        return Client(config, **client_kwargs)

    return make


def transport_of(client: Client, service_name: str = "echo") -> Any:
    """The fake transport behind a client's service handler (creating the handler if needed)."""
    return client._get_handler(service_name).transport
