"""A settings module for the command-line tests: client settings of the functional service and a server setting.

``FUNCTIONAL_REDIS_URL`` names the Redis (as for the functional service itself).
"""

from __future__ import annotations

import os
from typing import Any

# Without FUNCTIONAL_REDIS_URL (set by the tests that start this), a port nothing listens on: never a real Redis.
_NOWHERE = "redis://127.0.0.1:1/0"

_URL = os.environ.get("FUNCTIONAL_REDIS_URL", _NOWHERE)
_CLIENT = "pysoa_like.common.transport.redis_gateway.client:RedisClientTransport"


def _client(url: str, **connection_kwargs: Any) -> dict[str, Any]:
    backend: dict[str, Any] = {"hosts": [url]}
    if connection_kwargs:
        backend["connection_kwargs"] = connection_kwargs
    return {
        "transport": {"path": _CLIENT, "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": backend}}
    }


SOA_CLIENT_SETTINGS: dict[str, Any] = {
    "functional": _client(_URL),
    # A service nobody serves, and a secret that show-config must mask.
    "quiet": _client(_URL, password=os.environ.get("CLI_TEST_PASSWORD", "")),
}

SOA_SERVER_SETTINGS: dict[str, Any] = {
    "transport": {
        "path": "pysoa_like.common.transport.redis_gateway.server:RedisServerTransport",
        "kwargs": {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [_URL]}},
    },
    # Never connected to: only show-config reads it (the password must not be shown).
    "client_routing": {"billing": _client("redis://reader:topsecret@127.0.0.1:1/0")},
}
