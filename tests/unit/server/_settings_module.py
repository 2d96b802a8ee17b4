"""A settings module for Server.main tests."""

from __future__ import annotations

SOA_SERVER_SETTINGS = {"transport": {"path": "tests.unit.server._helpers:QueueServerTransport"}}
