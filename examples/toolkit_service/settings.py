"""The settings of the orders service (point ``PYSOA_SETTINGS_MODULE`` here).

The inventory service is reached through the stub transport, so the service runs without its
dependencies in tests and demos; a deployment would route it over Redis instead.
"""

from __future__ import annotations

from typing import Any

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "client_routing": {
        "inventory": {
            "transport": {
                "path": "pysoa_like.test.stub_service:StubClientTransport",
                "kwargs": {
                    "action_map": {
                        "get_stock": {"body": {"count": 3}},
                        "reserve": {"body": {"reservation_id": "R-1"}},
                    },
                },
            },
        },
    },
}
