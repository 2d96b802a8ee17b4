"""Fixtures of the toolkit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pysoa_like.client.client import Client
from pysoa_like.test.server import close_client, local_client_settings
from tests.unit.testing_toolkit._services import RAN, EchoServer


@pytest.fixture
def echo_client() -> Iterator[Client]:
    """A client of the echo service on the local transport; RAN is cleared first."""
    RAN.clear()
    client = Client(local_client_settings(EchoServer, {}))
    yield client
    close_client(client)
