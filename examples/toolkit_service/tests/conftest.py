"""The two fixtures the pysoa_like pytest plugin asks a service author for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from examples.toolkit_service.service import OrdersServer
from examples.toolkit_service.settings import SOA_SERVER_SETTINGS


@pytest.fixture(scope="module")
def server_class() -> type[OrdersServer]:
    """The service under test."""
    return OrdersServer


@pytest.fixture(scope="module")
def server_settings() -> Mapping[str, Any]:
    """Its settings (without this fixture, the plugin reads $PYSOA_SETTINGS_MODULE)."""
    return SOA_SERVER_SETTINGS
