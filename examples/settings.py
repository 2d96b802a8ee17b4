"""Settings for running the example services over Redis (used by ``make demo``).

The Redis URL comes from the environment variable ``PYSOA_LIKE_DEMO_REDIS_URL`` (the demo sets
it). Each service has its own settings module for the runner (``settings_calculator`` and
``settings_report``); the client settings are built here.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["GATEWAY_SETTINGS", "REDIS_URL", "SOA_CLIENT_SETTINGS", "client_settings", "server_settings"]

REDIS_URL = os.environ.get("PYSOA_LIKE_DEMO_REDIS_URL", "redis://127.0.0.1:6379/0")


def _transport(side: str, **extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"backend_type": "redis.standard", "backend_layer_kwargs": {"hosts": [REDIS_URL]}}
    kwargs.update(extra)
    module = "client:RedisClientTransport" if side == "client" else "server:RedisServerTransport"
    return {"path": f"pysoa_like.common.transport.redis_gateway.{module}", "kwargs": kwargs}


def client_settings() -> dict[str, Any]:
    """Client settings for both example services over Redis."""
    return {"calculator": {"transport": _transport("client")}, "report": {"transport": _transport("client")}}


def server_settings(service: str) -> dict[str, Any]:
    """Server settings for one example service over Redis (quiet request logs for the demo)."""
    settings: dict[str, Any] = {
        # A short receive timeout lets idle workers notice a shutdown signal quickly.
        "transport": _transport("server", receive_timeout_in_seconds=1),
        "request_log_success_level": "DEBUG",
        # Fresh figures every second for the dashboard's charts (the default is every 5 seconds).
        "registry": {"refresh_interval_seconds": 1, "ttl_seconds": 5},
        "logging": {
            "version": 1,
            "disable_existing_loggers": False,
            "root": {"level": "WARNING", "handlers": ["console"]},
            "handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING"}},
        },
    }
    if service == "report":
        settings["client_routing"] = {"calculator": client_settings()["calculator"]}
    return settings


#: For the command line: ``pysoa-like services --settings examples.settings`` lists both services.
SOA_CLIENT_SETTINGS = client_settings()

#: For ``pysoa-like gateway --settings examples.settings`` (``make demo GATEWAY=yes``): what goes on HTTP.
GATEWAY_SETTINGS = {
    "expose": {"calculator": ["square", "add"], "report": ["sum_of_squares"]},
    "timeout": 5,
    "title": "pysoa_like demo gateway",
}
